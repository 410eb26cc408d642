"""One try's resources, as an object the Job operators hold: created in order (after clearing what
an earlier try left running), waited for through the first one's trigger, finished by
``delete_policy``, deleted on a kill. It takes its settings explicitly (:class:`RunSettings`), so it
runs the same on a worker and in the triggerer (``operators/jobstart.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_async._kube.client import KubeClient, get_client
from airflow_k8s_async._kube.discovery import resolve_all
from airflow_k8s_async._kube.kinds import rule_for, rule_to_dict
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.hooks.kubernetes import KubeTarget
from airflow_k8s_async.operators.jobcreate import clear_earlier_tries, create_all
from airflow_k8s_async.triggers.common import KubeTrigger, delete_resources
from airflow_k8s_async.triggers.events import CreatedResource
from airflow_k8s_async.triggers.finish import apply_finish_action
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.logstream import LogChoice
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger
from airflow_k8s_async.triggers.resource import KubernetesResourceTrigger

__all__ = [
    "ResourceRun",
    "RunSettings",
]


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How a Job operator's try waits for its first resource and finishes: the operator's keywords,
    rendered, as the triggers take them."""

    delete_policy: str  # Never, Always, IfFailed, IfSucceeded: at the end
    delete_on_kill: bool  # delete what the try created when it is killed
    wait_until_job_complete: bool  # False: create and return (nothing is waited for or deleted)
    on_kill_propagation_policy: str  # how a kill deletes a Job's pods
    get_logs: bool
    container_logs: LogChoice
    init_container_logs: LogChoice
    log_events_on_failure: bool
    max_log_bytes: int | None
    startup_timeout_seconds: float
    base_container_name: str | None  # None: the main-container annotation, "base", the first
    status_rule: dict[str, Any] | None  # a custom kind's rule; None: a registered one, else the default


@dataclass(kw_only=True)
class ResourceRun:
    """One try's resources (``created``: what was created, in order)."""

    settings: RunSettings
    target: KubeTarget
    log: TaskLog
    created: list[CreatedResource] = field(default_factory=list)
    first_object: dict[str, Any] | None = None  # the first resource as the API server returned it
    first_created_at: float | None = None  # its creationTimestamp

    async def _client(self) -> KubeClient:
        return await get_client(self.target.cluster)

    async def create(
        self,
        resources: list[dict[str, Any]],
        *,
        namespace: str,
        identity: Mapping[str, str],
        labels: Mapping[str, str],
        try_number: int,
        adopt: bool = False,
    ) -> None:
        """Create ``resources`` in order (``jobcreate.create_all``), after clearing what an earlier
        try of the task instance (``identity``) left running; unknown kinds fail before anything is
        created. ``adopt``: an object of the same name with these ``labels`` is taken, not created."""
        client = await self._client()
        kinds = await resolve_all(client, resources=resources)
        settings = self.settings
        # wait_until_job_complete=False: an earlier try's Job runs on by design
        if try_number > 1 and settings.delete_policy != "Never" and settings.wait_until_job_complete:
            await clear_earlier_tries(
                client,
                kinds,
                resources,
                namespace=namespace,
                identity=identity,
                try_number=try_number,
                main_container=settings.base_container_name,
                log=self.log,
            )
        creation = await create_all(
            client, kinds, resources, namespace=namespace, labels=labels, adopt=adopt, log=self.log
        )
        self.created = creation.created
        self.first_object, self.first_created_at = creation.first_object, creation.first_created_at

    def trigger(
        self, *, connection: Mapping[str, Any], deadline: float | None, finish: dict[str, Any] | None
    ) -> KubeTrigger:
        """The trigger that waits for the first resource: a Job's, a Pod's, or a custom kind's."""
        first, settings = self.created[0], self.settings
        common = {**connection, "finish": finish, "deadline": deadline, "resources": self.created}
        logs: dict[str, Any] = {
            "base_container_name": settings.base_container_name,
            "get_logs": settings.get_logs,
            "container_logs": settings.container_logs,
            "init_container_logs": settings.init_container_logs,
            "max_log_bytes": settings.max_log_bytes,
            "log_events_on_failure": settings.log_events_on_failure,
            "startup_timeout": settings.startup_timeout_seconds,
        }
        namespace = first.get("namespace") or ""  # set for Jobs and Pods: they are namespaced
        if first["kind"] == "Job" and str(first["apiVersion"]).startswith("batch/"):
            return KubernetesJobTrigger(
                job_name=first["name"],
                job_namespace=namespace,
                job_uid=first["uid"],
                delete_on_kill=settings.delete_on_kill,
                on_kill_propagation_policy=settings.on_kill_propagation_policy,
                **logs,
                **common,
            )
        if first["kind"] == "Pod" and first["apiVersion"] == "v1":
            return KubernetesPodTrigger(
                pod_name=first["name"],
                pod_namespace=namespace,
                pod_uid=first["uid"],
                on_kill_action="delete_pod" if settings.delete_on_kill else "keep_pod",
                **logs,
                **common,
            )
        rule = settings.status_rule
        if rule is None and (registered := rule_for(first["apiVersion"], first["kind"])) is not None:
            rule = rule_to_dict(registered)
        return KubernetesResourceTrigger(
            api_version=first["apiVersion"],
            kind=first["kind"],
            name=first["name"],
            namespace=first["namespace"],
            uid=first["uid"],
            rule=rule,
            delete_on_kill=settings.delete_on_kill,
            **common,
        )

    async def finish(self, event: Mapping[str, Any]) -> None:
        """``delete_policy`` on what was created (after a deferral, the event carries it)."""
        created = self.created or list(event.get("resources") or [])
        if created:
            await apply_finish_action(
                await self._client(),
                {**event, "resources": created},
                action=self.settings.delete_policy,
                log=self.log,
            )

    async def kill(self) -> None:
        """Killed on the worker (``deferrable=False``, or before deferring): delete what was created,
        as the trigger does when deferred."""
        settings = self.settings
        if self.created and settings.delete_on_kill and settings.wait_until_job_complete:
            await delete_resources(
                await self._client(),
                self.created,
                log=self.log,
                propagation=settings.on_kill_propagation_policy,
            )
