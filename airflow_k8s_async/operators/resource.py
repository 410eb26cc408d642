"""KubernetesCreateResourceOperator / KubernetesDeleteResourceOperator: the cncf provider's resource
operators, for objects meant to outlive the task (a PVC, a ConfigMap, a pod another task execs in).

Nothing is waited for, so nothing is deferred. Kinds (custom ones included) are resolved by the
cluster's discovery before anything is created or deleted, so an unknown kind or apiVersion fails
with nothing done; if creating object k of n fails, objects 1..k-1 are deleted again. Each object
created carries an annotation naming the task run, so a retry takes over what an earlier try of
the same run created instead of failing on "already exists" (objects with only ``generateName``
cannot be found again: a retry makes new ones).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from airflow_k8s_async._kube import bodies, bodycheck
from airflow_k8s_async._kube.client import KubeClient, get_client
from airflow_k8s_async._kube.discovery import resolve_all
from airflow_k8s_async._kube.mapping import as_map, metadata_of
from airflow_k8s_async._kube.subscription import Resource
from airflow_k8s_async.errors import AirflowK8sAsyncError, ConfigurationError, KubeConflictError
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID
from airflow_k8s_async.operators.jobcreate import LOOKUP_SECONDS, created_entry, undone_on_failure
from airflow_k8s_async.operators.shared import KubeOperatorMixin, templated
from airflow_k8s_async.operators.sync import run_sync
from airflow_k8s_async.triggers.events import CreatedResource

__all__ = ["KubernetesCreateResourceOperator", "KubernetesDeleteResourceOperator"]

CREATED_BY = "airflow-k8s-async/created-by"
"""Annotation on created objects: ``dag_id/task_id/run_id/map_index`` of the task that made them."""

_DEFAULT_NAMESPACE = "default"
DELETE_GRACE_SECONDS = 5  # the provider's: pods the YAML names stop within 5 s


class _ResourceOperator(KubeOperatorMixin, BaseOperator):
    """The objects of ``yaml_conf`` (YAML text) or ``yaml_conf_file`` (a path, absolute or relative
    to the DAG's folder): one of the two. Objects without a namespace go to ``namespace``, else the
    connection's, else ``default``. ``custom_resource_definition`` and ``namespaced`` are accepted for
    the provider's DAGs and have no effect: the cluster's discovery gives each kind's plural and scope."""

    template_fields: Sequence[str] = (
        "yaml_conf",
        "yaml_conf_file",
        "namespace",
        "kubernetes_conn_id",
        "config_file",
        "cluster_context",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"yaml_conf": "yaml"}

    def __init__(
        self,
        *,
        yaml_conf: str | None = None,
        yaml_conf_file: str | None = None,
        namespace: str | None = None,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        custom_resource_definition: bool = False,
        namespaced: bool = True,
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if bool(yaml_conf) == bool(yaml_conf_file):
            raise ConfigurationError(
                f"{type(self).__name__}: give one of yaml_conf (YAML text) or yaml_conf_file (a path)"
            )
        self.yaml_conf = yaml_conf
        self.yaml_conf_file = yaml_conf_file
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.custom_resource_definition = custom_resource_definition
        self.namespaced = namespaced
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.in_cluster = in_cluster
        if isinstance(yaml_conf, str) and not templated(yaml_conf):  # (else: rendered in execute)
            self._resources()  # refuse a malformed body where the DAG is parsed

    def _resources(self) -> list[dict[str, Any]]:
        if self.yaml_conf:
            resources = bodies.parse_body(self.yaml_conf, source="yaml_conf")
        else:
            text = bodies.load_body_file(
                str(self.yaml_conf_file), base_dir=self._dag_folder(), keyword="yaml_conf_file"
            )
            resources = bodies.parse_body(text, source="yaml_conf_file")
        bodycheck.validate_resources(resources)
        return resources

    def execute(self, context: Context) -> None:
        resources = self._resources()
        target = self._target()
        namespace = self.namespace or target.namespace or _DEFAULT_NAMESPACE

        async def act() -> None:
            client = await get_client(target.cluster)
            kinds = await resolve_all(client, resources=resources)  # unknown kinds: nothing done
            placed: list[tuple[dict[str, Any], Resource, str | None]] = []
            for resource in resources:
                kind = kinds[str(resource["apiVersion"]), str(resource["kind"])]
                own = as_map(resource["metadata"]).get("namespace") or namespace
                placed.append((resource, kind, own if kind.namespaced else None))
            await self._act(client, placed, context)

        run_sync(act)

    async def _act(
        self, client: KubeClient, placed: list[tuple[dict[str, Any], Resource, str | None]], context: Context
    ) -> None:
        raise NotImplementedError


def _run_of(context: Context) -> str:
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{getattr(ti, 'map_index', -1)}"


def _describe(resource: dict[str, Any], namespace: str | None) -> str:
    name = resource["metadata"].get("name") or f"{resource['metadata'].get('generateName')}*"
    return f"{resource['kind']} {namespace}/{name}" if namespace else f"{resource['kind']} {name}"


class KubernetesCreateResourceOperator(_ResourceOperator):
    """Create every object of the YAML, in order; they stay when the task ends."""

    async def _act(
        self, client: KubeClient, placed: list[tuple[dict[str, Any], Resource, str | None]], context: Context
    ) -> None:
        run = _run_of(context)
        created: list[CreatedResource] = []
        async with undone_on_failure(client, created, log=self.log):
            for index, (resource, kind, namespace) in enumerate(placed, start=1):
                meta = resource["metadata"]
                body = {
                    **resource,
                    "metadata": {**meta, "annotations": {**as_map(meta.get("annotations")), CREATED_BY: run}},
                }
                what = _describe(resource, namespace)
                try:
                    answer = await self._create_one(client, kind, namespace, body, run=run, what=what)
                except asyncio.CancelledError:
                    # The server may have made it before the cancel landed: undone with the others.
                    with contextlib.suppress(Exception):  # (not there, or unknown: the cancel goes on)
                        look = _of_run(client, kind, namespace, meta.get("name"), run)
                        if (made := await asyncio.wait_for(look, LOOKUP_SECONDS)) is not None:
                            created.append(created_entry(resource, kind, namespace, made))
                    raise
                except AirflowK8sAsyncError as exc:
                    raise AirflowException(
                        f"creating object {index} of {len(placed)} ({what}) failed: {exc}; "
                        f"the {len(created)} created before it were deleted"
                    ) from exc
                created.append(created_entry(resource, kind, namespace, answer))
        self.log.info("Created %d object(s); they stay when the task ends", len(created))

    async def _create_one(
        self,
        client: KubeClient,
        kind: Resource,
        namespace: str | None,
        body: dict[str, Any],
        *,
        run: str,
        what: str,
    ) -> dict[str, Any]:
        """The object created, or the one of its name an earlier try of ``run`` created."""
        name = body["metadata"].get("name")
        try:
            answer: dict[str, Any] = await client.request("POST", kind.path(namespace=namespace), body=body)
            self.log.info("Created %s", what)
            return answer
        except KubeConflictError:
            if (earlier := await _of_run(client, kind, namespace, name, run)) is None:
                raise
            self.log.info("Found %s, created by an earlier try of this task run", what)
            return earlier


async def _of_run(
    client: KubeClient, kind: Resource, namespace: str | None, name: str | None, run: str
) -> dict[str, Any] | None:
    """The object of that name if task run ``run`` created it (None with only ``generateName``)."""
    if not name:
        return None
    found: dict[str, Any] = await client.request("GET", kind.path(namespace=namespace, name=name))
    return found if as_map(metadata_of(found).get("annotations")).get(CREATED_BY) == run else None


class KubernetesDeleteResourceOperator(_ResourceOperator):
    """Delete every object of the YAML, last first, with a 5 s grace period; dependents (a Job's
    pods) go too. An object that is gone already counts as deleted."""

    async def _act(
        self, client: KubeClient, placed: list[tuple[dict[str, Any], Resource, str | None]], context: Context
    ) -> None:
        unnamed = [_describe(r, ns) for r, _, ns in placed if not r["metadata"].get("name")]
        if unnamed:
            raise ConfigurationError(
                f"cannot delete {', '.join(unnamed)}: only metadata.generateName is given; name the objects"
            )
        failures = []
        for resource, kind, namespace in reversed(placed):
            what = _describe(resource, namespace)
            try:
                path = kind.path(namespace=namespace, name=resource["metadata"]["name"])
                if await client.delete(path, grace_period=DELETE_GRACE_SECONDS):
                    self.log.info("Deleted %s", what)
                else:
                    self.log.info("%s does not exist (deleted already)", what)
            except AirflowK8sAsyncError as exc:
                failures.append(f"{what}: {exc}")
        if failures:
            raise AirflowException(f"could not delete {len(failures)} object(s): " + "; ".join(failures))
