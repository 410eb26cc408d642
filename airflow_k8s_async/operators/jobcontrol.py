"""KubernetesPatchJobOperator / KubernetesDeleteJobOperator: the cncf provider's operators for a Job
made elsewhere (by name), importable from ``airflow_k8s_async.operators.job`` as from the provider.

``KubernetesDeleteJobOperator(wait_for_completion=True)`` defers until the Job ends, on the shared
Job watch of the triggerer (the provider polls on a worker), then deletes it with its pods on a
worker (the provider's delete leaves the pods behind).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from airflow_k8s_async._kube.client import KubeClient, get_client
from airflow_k8s_async._kube.k8s_objects import to_api_dict
from airflow_k8s_async._kube.states import Phase, job_state
from airflow_k8s_async._kube.subscription import JOBS
from airflow_k8s_async.errors import ConfigurationError, KubeNotFoundError
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID
from airflow_k8s_async.operators.shared import KubeOperatorMixin, checked_seconds
from airflow_k8s_async.operators.shared import wait_before_defer_seconds as wait_before_defer_seconds_default
from airflow_k8s_async.operators.sync import run_sync
from airflow_k8s_async.triggers.finish import ENDS, FinishPlan
from airflow_k8s_async.triggers.resource import KubernetesResourceTrigger

__all__ = ["KubernetesDeleteJobOperator", "KubernetesPatchJobOperator"]

DELETE_ON_STATUS = {None: None, "Complete": Phase.SUCCEEDED, "Failed": Phase.FAILED}
"""``delete_on_status`` -> the Job's final phase it deletes on (None: whatever the state)."""

_TEMPLATE_FIELDS = ("config_file", "name", "namespace", "cluster_context", "kubernetes_conn_id")


def _names(namespace: Any, name: Any) -> tuple[str, str]:
    """The rendered ``namespace`` and ``name``, refused when empty."""
    for keyword, value in (("namespace", namespace), ("name", name)):
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"{keyword}={value!r}: give the Job's {keyword}")
    return namespace, name


class _JobByName(KubeOperatorMixin, BaseOperator):
    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        config_file: str | None = None,
        in_cluster: bool | None = None,
        cluster_context: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.in_cluster = in_cluster
        self.cluster_context = cluster_context

    async def _client(self) -> KubeClient:
        return await get_client(self._target().cluster)


class KubernetesPatchJobOperator(_JobByName):
    """Patch the Job ``namespace/name`` with ``body``: a mapping is a strategic merge patch (as the
    provider's client sends it, e.g. ``{"spec": {"suspend": False}}``), a list a JSON patch. Returns
    the patched Job as the API server gives it (camelCase keys)."""

    template_fields: Sequence[str] = (*_TEMPLATE_FIELDS, "body")

    def __init__(self, *, name: str, namespace: str, body: object, **kwargs: Any) -> None:
        super().__init__(name=name, namespace=namespace, **kwargs)
        self.body = body

    def execute(self, context: Context) -> dict[str, Any]:
        namespace, name = _names(self.namespace, self.name)
        given = self.body
        if not isinstance(given, (Mapping, list)):  # a k8s.V1Job, as the provider takes (a dict as
            given = to_api_dict(given, where="body")  # given: its None values delete fields)
        if isinstance(given, Mapping):
            body: Any = dict(given)
            content_type = "application/strategic-merge-patch+json"
        elif isinstance(given, list):
            body, content_type = given, "application/json-patch+json"
        else:
            raise ConfigurationError(
                f"body: a mapping (strategic merge patch) or a list (JSON patch), not {type(given).__name__}"
            )

        async def patch() -> dict[str, Any]:
            client = await self._client()
            path = JOBS.path(namespace=namespace, name=name)
            answer: dict[str, Any] = await client.request("PATCH", path, body=body, content_type=content_type)
            return answer

        self.log.info("Patching Job %s/%s", namespace, name)
        job = run_sync(patch)
        self.log.info("Job %s/%s patched", namespace, name)
        return job


class KubernetesDeleteJobOperator(_JobByName):
    """Delete the Job ``namespace/name`` with its pods; a Job that does not exist is logged and the
    task succeeds (as the provider does).

    ``delete_on_status``: None deletes whatever the Job's state, ``Complete`` / ``Failed`` only a Job
    that ended so (others are kept, logged). ``wait_for_completion``: first wait until the Job ends,
    deferred (``deferrable``, default True) or on the worker; bounded by ``execution_timeout``.
    ``poll_interval`` has no effect (the Job is watched, not polled).
    """

    template_fields: Sequence[str] = _TEMPLATE_FIELDS

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        delete_on_status: str | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 10.0,
        deferrable: bool = True,
        wait_before_defer_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, namespace=namespace, **kwargs)
        if delete_on_status not in DELETE_ON_STATUS:
            raise ConfigurationError(
                f"delete_on_status={delete_on_status!r}: use one of {tuple(DELETE_ON_STATUS)}"
            )
        self.delete_on_status = delete_on_status
        self.wait_for_completion = wait_for_completion
        self.poll_interval = checked_seconds("poll_interval", poll_interval)
        self.deferrable = deferrable
        self.wait_before_defer_seconds = wait_before_defer_seconds_default(wait_before_defer_seconds)

    def execute(self, context: Context) -> None:
        namespace, name = _names(self.namespace, self.name)
        job = run_sync(lambda: self._settle(namespace, name, wait=self.wait_for_completion))
        if job is None:  # deleted, kept by delete_on_status, or not there
            return
        trigger = self._trigger(context, namespace=namespace, name=name, uid=job["metadata"]["uid"])
        event = run_sync(lambda: self._wait_briefly(trigger))
        if event is None and self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        if event is None:
            event = run_sync(trigger.wait)
        self.execute_complete(context, event)

    def _trigger(self, context: Context, *, namespace: str, name: str, uid: str) -> KubernetesResourceTrigger:
        why = "KubernetesDeleteJobOperator decides and deletes on a worker"
        return KubernetesResourceTrigger(
            api_version="batch/v1",
            kind="Job",
            name=name,
            namespace=namespace,
            uid=uid,
            **self._connection_kwargs(),
            finish=FinishPlan(why=dict.fromkeys(ENDS, why)).to_dict(),
            deadline=self._deadline(context),
            delete_on_kill=False,  # not ours: a kill leaves the Job alone
            watch_selector=None,  # made elsewhere: not labelled as ours
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> None:
        """After the wait: the Job ended (or went away, or the wait failed)."""
        namespace, name = _names(self.namespace, self.name)
        status = event.get("status")
        if status == "failed" and event.get("reason") == "Deleted":
            self.log.info("The Kubernetes Job %s/%s was deleted while waited for", namespace, name)
            return
        if status not in ("success", "failed"):
            raise AirflowException(
                f"Waiting for Job {namespace}/{name} ended with {status}: "
                f"{event.get('message') or event.get('reason')}"
            )

        run_sync(lambda: self._settle(namespace, name, waited_for=event.get("uid")))

    async def _settle(
        self, namespace: str, name: str, *, wait: bool = False, waited_for: str | None = None
    ) -> dict[str, Any] | None:
        """Read the Job and delete it as ``delete_on_status`` says, in one go; the Job when it is
        still to be waited for (``wait``). ``waited_for``: the uid the wait watched (a Job of the
        same name made since is not that one)."""
        client = await self._client()
        path = JOBS.path(namespace=namespace, name=name)
        try:
            job: dict[str, Any] = await client.request("GET", path)
        except KubeNotFoundError:
            self.log.info("The Kubernetes Job %s/%s does not exist", namespace, name)
            return None
        uid = job["metadata"]["uid"]
        if waited_for and uid != waited_for:
            self.log.info(
                "The Kubernetes Job %s/%s waited for is gone; one of its name made since is not deleted",
                namespace,
                name,
            )
            return None
        state = job_state(job)
        if wait and not state.terminal:
            return job
        wanted = DELETE_ON_STATUS[self.delete_on_status]
        if wanted is not None and state.phase != wanted:
            self.log.info(
                "Job %s/%s is %s: not deleted (delete_on_status=%s)",
                namespace,
                name,
                state.phase.value,
                self.delete_on_status,
            )
            return None
        self.log.info("Deleting Kubernetes Job %s/%s (%s) and its pods", namespace, name, state.phase.value)
        # uid: never a namesake made since; Background: its pods go too (the API's default for
        # batch/v1 Jobs orphans them).
        if await client.delete(path, uid=uid):
            self.log.info("Kubernetes Job %s/%s was deleted", namespace, name)
        else:
            self.log.info("The Kubernetes Job %s/%s does not exist", namespace, name)
        return None
