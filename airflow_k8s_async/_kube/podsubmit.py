"""Creating a task's pod once: ownership labels, adopting an earlier try's pod, and a name derived
from the task instance where the same submission may run twice (a trigger that starts the task).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from typing import Any

from ..errors import KubeConflictError, KubeNotFoundError
from .client import KubeClient
from .mapping import as_list, as_map
from .ownership import CHECKED_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE, MANAGED_SELECTOR
from .podcheck import sanitize_label_value
from .podnames import add_unique_suffix
from .watch import PODS

__all__ = ["create_or_adopt", "identity_labels", "ownership_labels", "stable_name"]

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
    digest = int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")
    token = "".join(_ALPHABET[(digest >> (5 * i)) % len(_ALPHABET)] for i in range(8))
    return add_unique_suffix(name, token=token)


async def create_or_adopt(
    client: KubeClient,
    pod: dict[str, Any],
    *,
    identity: Mapping[str, str],
    reattach: bool,
    log: Any,
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
        live = [
            p for p in as_list(found.get("items")) if not as_map(p.get("metadata")).get("deletionTimestamp")
        ]
        if live:
            adopted = max(live, key=lambda p: str(p["metadata"].get("creationTimestamp")))
            meta = adopted["metadata"]
            log.info(
                "Adopting pod %s/%s created by try %s of this task (reattach_on_restart)",
                namespace,
                meta["name"],
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
            labels = as_map(as_map(existing.get("metadata")).get("labels"))
            wanted = {**identity, "try_number": as_map(pod["metadata"].get("labels")).get("try_number")}
            if any(labels.get(k) != v for k, v in wanted.items()):
                raise
            log.info("Pod %s/%s of this try exists already: adopting it", namespace, name)
            return existing
    raise AssertionError("unreachable")  # pragma: no cover
