"""Creating several objects in order, all or none (the Job operators' bodies, the resource operator's
YAML), and clearing what an earlier try of a Job-operator task left.

Plain functions of a client and their inputs: the operators (on a worker) and the start trigger
(in the triggerer) call them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_async._kube import bodies
from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.jobspec import job_summary
from airflow_k8s_async._kube.mapping import as_list, as_map, as_time, metadata_of
from airflow_k8s_async._kube.ownership import MANAGED_SELECTOR
from airflow_k8s_async._kube.states import object_state
from airflow_k8s_async._kube.subscription import Resource
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import (
    AirflowK8sAsyncError,
    ConfigurationError,
    KubeConflictError,
    KubeForbiddenError,
)
from airflow_k8s_async.triggers.asynctasks import run_shielded
from airflow_k8s_async.triggers.common import delete_resources
from airflow_k8s_async.triggers.events import CreatedResource

__all__ = [
    "LOOKUP_SECONDS",
    "Creation",
    "clear_earlier_tries",
    "create_all",
    "created_entry",
    "same_start",
    "undone_on_failure",
]


@dataclass
class Creation:
    """What was created (``{"apiVersion", "kind", "name", "namespace", "uid", "path"}``, in order),
    the first object as the API server answered (its summary), and when it was made."""

    created: list[CreatedResource] = field(default_factory=list)
    first_object: dict[str, Any] | None = None
    first_created_at: float | None = None


LOOKUP_SECONDS = 10.0  # a cancelled creation's look for the object its last POST may have made


@contextlib.asynccontextmanager
async def undone_on_failure(
    client: KubeClient, created: Sequence[CreatedResource], *, log: TaskLog, on_cancel: bool = True
) -> AsyncIterator[None]:
    """Delete what ``created`` holds when the block fails, or is cancelled midway (a timeout or a
    kill on a worker: ``asyncio.run`` cancels it), then re-raise the block's own exception: a task
    creating several objects leaves all of them or none. ``on_cancel=False``: a cancel keeps them
    (a start in the triggerer: the next triggerer takes them over)."""
    try:
        yield
    except BaseException as exc:
        if on_cancel or not isinstance(exc, asyncio.CancelledError):
            try:  # to its end even if cancelled again; never in place of the block's exception
                await run_shielded(delete_resources(client, created, log=log))
            except Exception as undo:
                log.warning("Could not delete what was created before the failure: %s", undo)
        raise


async def same_start(client: KubeClient, path: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The object at ``path`` when it carries ``labels`` (this try's): else the name is taken."""
    found = as_map(await client.request("GET", path))
    meta = metadata_of(found)
    theirs = as_map(meta.get("labels"))
    if meta.get("deletionTimestamp") or any(theirs.get(key) != value for key, value in labels.items()):
        raise KubeConflictError(
            f"{path} exists and is not this try's (labels {dict(theirs)})", status=409, path=path
        )
    return found


async def create_all(
    client: KubeClient,
    kinds: Mapping[tuple[str, str], Resource],
    resources: list[dict[str, Any]],
    *,
    namespace: str,
    labels: Mapping[str, str],
    adopt: bool,
    log: TaskLog,
) -> Creation:
    """Create ``resources`` in order, labelled ``labels``; on a failure (or a cancel) delete those
    created before it. ``adopt`` (a start in the triggerer, names derived from the try): an object of
    the same name with this try's labels is the same start run again, and is taken, not refused."""
    owned = bodies.own_resources(
        resources,
        labels=labels,
        namespace=namespace,
        namespaced=lambda version, kind: kinds[version, kind].namespaced,
    )
    creation = Creation()
    created = creation.created
    async with undone_on_failure(client, created, log=log, on_cancel=not adopt):
        for index, resource in enumerate(owned, start=1):
            kind: Resource = kinds[str(resource["apiVersion"]), str(resource["kind"])]
            meta = resource["metadata"]
            ns = meta.get("namespace") if kind.namespaced else None
            path = kind.path(namespace=ns, name=meta["name"])
            try:
                try:
                    answer = await client.request("POST", kind.path(namespace=ns), body=resource)
                except asyncio.CancelledError:
                    if not adopt:  # the server may have made it before the cancel landed: undone too
                        with contextlib.suppress(Exception):  # (not there, or unknown: the cancel goes on)
                            made = await asyncio.wait_for(same_start(client, path, labels), LOOKUP_SECONDS)
                            created.append(created_entry(resource, kind, ns, made))
                    raise
                except KubeConflictError:
                    if not adopt:
                        raise
                    answer = await same_start(client, path, labels)
                    log.info(
                        "Found %s %s of this try (created before a restart)", resource["kind"], meta["name"]
                    )
            except AirflowK8sAsyncError as exc:
                raise ConfigurationError(
                    f"creating resource {index} of {len(owned)} ({resource['kind']} {meta.get('name')}) "
                    f"failed: {exc}; the {len(created)} created before it were deleted"
                ) from exc
            if index == 1:
                creation.first_object = job_summary(answer)
                creation.first_created_at = as_time(answer["metadata"].get("creationTimestamp"))
            if resource["kind"] == "Job" and (resource.get("spec") or {}).get("suspend"):
                if not (answer.get("spec") or {}).get("suspend"):
                    log.warning(
                        "The API server dropped spec.suspend of Job %s (Kubernetes < 1.21 has no "
                        "suspend): the Job runs at once",
                        meta["name"],
                    )
            created.append(created_entry(resource, kind, ns, answer))
            log.info("Created %s %s", resource["kind"], meta["name"])
    return creation


def created_entry(
    resource: Mapping[str, Any], kind: Resource, namespace: str | None, answer: Mapping[str, Any]
) -> CreatedResource:
    """What a task created, as it is deleted later: ``resource`` as the API server's ``answer``
    names it (the server's name, for an object with only ``generateName``)."""
    name = metadata_of(answer).get("name") or str(resource["metadata"].get("name", ""))
    return {
        "apiVersion": str(resource["apiVersion"]),
        "kind": str(resource["kind"]),
        "name": name,
        "namespace": namespace,
        "uid": metadata_of(answer).get("uid"),
        "path": kind.path(namespace=namespace, name=name),
    }


async def clear_earlier_tries(
    client: KubeClient,
    kinds: Mapping[tuple[str, str], Resource],
    resources: list[dict[str, Any]],
    *,
    namespace: str,
    identity: Mapping[str, str],
    try_number: int,
    main_container: str | None,
    log: TaskLog,
) -> None:
    """Delete what an earlier try left running: its worker died after creating and before the
    wait was handed over (nothing waits for those objects any more, and this try makes them
    again). A try whose first object ended is kept, as delete_policy decided at its end.
    Only Job- or Pod-led bodies: another kind's end is told by a rule this may not know."""
    first = (str(resources[0]["apiVersion"]), str(resources[0]["kind"]))
    if first not in (("batch/v1", "Job"), ("v1", "Pod")):
        return
    wanted = dict.fromkeys((str(r["apiVersion"]), str(r["kind"])) for r in resources)
    selector = ",".join(
        [
            *(f"{k}={v}" for k, v in identity.items()),
            MANAGED_SELECTOR,
            f"try_number!={try_number}",
        ]
    )
    by_try: dict[str, list[tuple[Resource, dict[str, Any]]]] = {}
    for version, kind_name in wanted:
        kind = kinds[version, kind_name]
        path = kind.path(namespace=namespace if kind.namespaced else None)
        try:
            found = await client.request("GET", path, query={"labelSelector": selector})
        except KubeForbiddenError:
            if (version, kind_name) == first:
                raise
            # The shipped RBAC lets the worker create and delete a body's other kinds, not list
            # them: those of a try left running are then not found (the GC has no owner to go by).
            log.info("Not looking for %s left by earlier tries: no permission to list them", kind.plural)
            continue
        for item in as_list(found.get("items")):
            meta = metadata_of(item)
            if not meta.get("deletionTimestamp"):
                by_try.setdefault(str(as_map(meta.get("labels")).get("try_number")), []).append((kind, item))
    for earlier, objects in sorted(by_try.items()):
        tracked = [
            {**item, "apiVersion": kind.api_version, "kind": kind.kind}  # a list's items have neither
            for kind, item in objects
            if (kind.api_version, kind.kind) == first
        ]
        if not tracked or all(object_state(item, main_container=main_container).terminal for item in tracked):
            continue
        left = [
            {
                "kind": kind.kind,
                "name": item["metadata"]["name"],
                "uid": item["metadata"]["uid"],
                "path": kind.path(
                    namespace=item["metadata"].get("namespace") if kind.namespaced else None,
                    name=item["metadata"]["name"],
                ),
            }
            for kind, item in objects
        ]
        deleted = await delete_resources(client, left, log=log)
        if deleted:
            log.warning(
                "Deleted %s of try %s, still running with that try over (e.g. its worker was "
                "lost before deferring): this try runs it anew",
                ", ".join(deleted),
                earlier,
            )
