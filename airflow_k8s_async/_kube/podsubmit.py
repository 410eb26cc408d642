"""Creating a task's pod once: ownership labels, adopting an earlier try's pod, and a name derived
from the task instance where the same submission may run twice (a trigger that starts the task).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from ..errors import KubeConflictError, KubeInvalidError, KubeNotFoundError
from .client import MERGE_PATCH, KubeClient
from .mapping import as_list, as_map, metadata_of
from .ownership import ADOPTED_KEY, CHECKED_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE, MANAGED_SELECTOR
from .podcheck import sanitize_label_value
from .podnames import add_unique_suffix, seed_of
from .subscription import PODS
from .tasklog import TaskLog

__all__ = ["create_or_adopt", "delete_unless_adopted", "identity_labels", "ownership_labels", "stable_name"]

_ALPHABET = string.ascii_lowercase + string.digits


def identity_labels(*, dag_id: str, task_id: str, run_id: str, map_index: int | None) -> dict[str, str]:
    """What identifies a task instance's pod across tries (the provider's label keys)."""
    labels = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id}
    if map_index is not None and map_index >= 0:
        labels["map_index"] = str(map_index)
    return {key: sanitize_label_value(str(value)) for key, value in labels.items()}


def ownership_labels(
    *, dag_id: str, task_id: str, run_id: str, map_index: int | None, try_number: int, airflow_version: str
) -> dict[str, str]:
    """The labels of a pod the pod operator creates: identity, try, versions, and ours."""
    return {
        **identity_labels(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index),
        "kubernetes_pod_operator": "True",
        "try_number": str(try_number),
        "airflow_version": airflow_version.replace("+", "-"),
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
    }


def stable_name(name: str, *parts: object) -> str:
    """``name`` with an 8-character suffix derived from ``parts`` instead of a random one: the same
    task instance and try always get the same name, so a second create meets the first pod."""
    digest = seed_of(*parts)
    token = "".join(_ALPHABET[(digest >> (5 * i)) % len(_ALPHABET)] for i in range(8))
    return add_unique_suffix(name, token=token)


async def create_or_adopt(
    client: KubeClient,
    pod: dict[str, Any],
    *,
    identity: Mapping[str, str],
    reattach: bool,
    log: TaskLog,
) -> dict[str, Any]:
    """The pod of this task instance: an earlier try's live pod when ``reattach`` (the newest), else
    a new one. A pod of the same name that carries this identity and try (the same submission run
    again, e.g. after a triggerer restart) is adopted rather than refused."""
    namespace = str(pod["metadata"]["namespace"])
    if reattach:
        selector = ",".join(f"{k}={v}" for k, v in identity.items())
        found = await client.request(
            "GET",
            PODS.path(namespace=namespace),
            query={"labelSelector": f"{selector},{MANAGED_SELECTOR},{CHECKED_KEY}!=True"},
        )
        live = [p for p in as_list(found.get("items")) if not metadata_of(p).get("deletionTimestamp")]
        if live:
            newest = max(live, key=lambda p: str(p["metadata"].get("creationTimestamp")))
            adopted = await _claim(
                client, newest, try_number=as_map(pod["metadata"].get("labels")).get("try_number")
            )
            meta = metadata_of(newest)
            if adopted is None:
                log.info(
                    "Pod %s/%s of try %s is being deleted (that try was killed): creating a new pod",
                    namespace,
                    meta.get("name"),
                    as_map(meta.get("labels")).get("try_number", "?"),
                )
            else:
                log.info(
                    "Adopting pod %s/%s created by try %s of this task (reattach_on_restart)",
                    namespace,
                    meta.get("name"),
                    as_map(meta.get("labels")).get("try_number", "?"),
                )
                return {"kind": "Pod", "apiVersion": "v1", **adopted}
    name = str(pod["metadata"]["name"])
    log.info("Creating pod %s/%s", namespace, name)
    for attempt in (1, 2):
        try:
            created: dict[str, Any] = await client.request("POST", PODS.path(namespace=namespace), body=pod)
            return created
        except KubeConflictError:
            try:
                existing: dict[str, Any] = await client.request(
                    "GET", PODS.path(namespace=namespace, name=name)
                )
            except KubeNotFoundError:
                if attempt == 1:
                    continue  # gone in between: create it after all
                raise
            labels = as_map(metadata_of(existing).get("labels"))
            wanted = {**identity, "try_number": as_map(pod["metadata"].get("labels")).get("try_number")}
            if any(labels.get(k) != v for k, v in wanted.items()):
                raise
            log.info("Pod %s/%s of this try exists already: adopting it", namespace, name)
            return existing
    raise AssertionError("unreachable")  # pragma: no cover


async def _claim(client: KubeClient, pod: Mapping[str, Any], *, try_number: Any) -> dict[str, Any] | None:
    """Label an earlier try's pod as adopted by ``try_number``; the pod, or None if it is being
    deleted (or gone): the earlier try's kill came first. See :func:`delete_unless_adopted`."""
    meta = metadata_of(pod)
    path = PODS.path(namespace=str(meta.get("namespace")), name=str(meta.get("name")))
    patch = {"metadata": {"uid": meta.get("uid"), "labels": {ADOPTED_KEY: str(try_number)}}}
    try:
        claimed: dict[str, Any] = await client.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
    except (KubeNotFoundError, KubeInvalidError):  # gone, or a namesake (its uid is immutable: 422)
        return None
    return None if metadata_of(claimed).get("deletionTimestamp") else claimed


async def delete_unless_adopted(
    client: KubeClient, *, path: str, uid: str | None, grace_period: int | None, own_try: int | None
) -> str:
    """Delete a try's pod unless another try adopted it: ``"deleted"``, ``"gone"`` or ``"adopted"``.

    ``own_try``: the killed try (None when unknown: then the pod's own try label). A pod that
    try 2 adopted from try 1 is try 2's to delete, and only try 1's to keep.

    A clear kills the old try and starts a new one, which may adopt the pod (reattach_on_restart)
    while the old try's trigger deletes it. The delete is conditional on the pod's resourceVersion
    as read without a claim: a claim landing in between makes it fail, and the next look keeps the
    pod. Whichever comes first wins; the adopter sees a delete that came first (``_claim``).
    """
    for _ in range(5):
        try:
            pod = await client.request("GET", path)
        except KubeNotFoundError:
            return "gone"
        meta = metadata_of(pod)
        if (uid and meta.get("uid") != uid) or meta.get("deletionTimestamp"):
            return "gone"
        labels = as_map(meta.get("labels"))
        adopted_by, mine = (
            labels.get(ADOPTED_KEY),
            labels.get("try_number") if own_try is None else str(own_try),
        )
        if adopted_by is not None and adopted_by != mine:
            return "adopted"
        try:
            deleted = await client.delete(
                path, uid=uid, resource_version=meta.get("resourceVersion"), grace_period=grace_period
            )
        except KubeConflictError:
            continue  # changed since the look (a claim, or a status update): look again
        return "deleted" if deleted else "gone"
    # Changed on every look (status updates under load): the uid alone decides, as before claims.
    return "deleted" if await client.delete(path, uid=uid, grace_period=grace_period) else "gone"
