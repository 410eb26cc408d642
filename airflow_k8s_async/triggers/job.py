"""KubernetesJobTrigger: wait for a Job through the shared watches, streaming its pods' logs.

The Job's changes arrive on the namespace's shared Job watch, its pods' on the shared pod watch
(Job pods carry the ownership label through the pod template). Every pod of the Job is followed,
including pods that replace failed ones, each line tagged with its pod. ``::kube_api:`` lines are
collected here, so XCom from logs needs no worker to read them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import Unpack

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.jobspec import job_summary
from airflow_k8s_async._kube.logevents import parse_kube_api_line
from airflow_k8s_async._kube.mapping import as_time
from airflow_k8s_async._kube.ownership import MANAGED_SELECTOR
from airflow_k8s_async._kube.states import (
    FATAL_WAITING_REASONS,
    ObjectState,
    Phase,
    job_state,
    main_container_name,
    pod_state,
)
from airflow_k8s_async._kube.subscription import ADDED, DELETED, JOBS, PODS, Subscription, WatchEvent
from airflow_k8s_async.triggers.common import KubeTrigger, delete_resources, shared_hub
from airflow_k8s_async.triggers.events import Event, JobEvent, JobExtra, Status
from airflow_k8s_async.triggers.logbudget import log_budget
from airflow_k8s_async.triggers.logstream import LogChoice, LogStreams, container_states, wanted_containers
from airflow_k8s_async.triggers.podevents import log_pod_events

__all__ = [
    "PROPAGATION_POLICIES",
    "KubernetesJobTrigger",
]

MAX_KUBE_API_EVENTS = 1000  # they travel in the trigger event (a database row)
PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


# How long to wait for the last pod events after the Job's end: a pod that started and ended within
# a second may not be known yet...
LATE_POD_SECONDS = 10.0
# ... and when none of its pods was seen: watch events lag by milliseconds on a healthy API server.
NO_POD_SEEN_SECONDS = 1.0
# How long a startup timeout waits for the pods' first LIST (the Job's may come first).
POD_LIST_WAIT_SECONDS = 30.0


async def _pump(sub: Subscription, tag: str, queue: asyncio.Queue[tuple[str, WatchEvent]]) -> None:
    async for event in sub:
        await queue.put((tag, event))


@dataclass(kw_only=True, eq=False, repr=False)
class KubernetesJobTrigger(KubeTrigger):
    """Wait for one Job to complete or fail; stream every pod's logs into the task log.

    ``resources`` lists what the task created (``{"path", "uid", "kind", "name"}``), deleted on a
    user's kill unless ``delete_on_kill`` is false, with ``on_kill_propagation_policy`` (the Job's
    pods are deleted at once too, except with ``Orphan``). Kwargs hold no credentials.
    ``base_container_name`` names the container whose exit code decides and is reported (default:
    the main-container annotation, else "base", else the first); ``container_logs`` /
    ``init_container_logs`` choose whose logs stream, as in the pod trigger; with
    ``log_events_on_failure`` the events of the pods that did not succeed go into the task log.
    """

    job_name: str
    job_namespace: str
    job_uid: str | None = None
    base_container_name: str | None = None
    get_logs: bool = True
    container_logs: LogChoice = True
    init_container_logs: LogChoice = None
    max_log_bytes: int | None = None
    log_events_on_failure: bool = False
    parse_kube_api_events: bool = True
    startup_timeout: float = 120
    deadline: float | None = None
    resources: list[dict[str, Any]] = field(default_factory=list)
    delete_on_kill: bool = True
    watch_selector: str | None = MANAGED_SELECTOR
    on_kill_propagation_policy: str = "Foreground"

    def __post_init__(self) -> None:
        if self.on_kill_propagation_policy not in PROPAGATION_POLICIES:
            raise ValueError(
                f"on_kill_propagation_policy={self.on_kill_propagation_policy!r}: "
                f"use one of {PROPAGATION_POLICIES}"
            )
        super().__post_init__()
        self.resources = list(self.resources or [])
        self._pods: dict[str, Mapping[str, Any]] = {}
        self._events: list[dict[str, str]] = []
        self._streams: LogStreams | None = None
        self._job: Mapping[str, Any] = {}

    async def wait(self) -> JobEvent | Event:
        """Watch the Job to its end; returns the event payload. Also used inline on a worker."""
        client = await self._client()
        self.log.info("Waiting for Job %s/%s (shared watches, no polling)", self.job_namespace, self.job_name)
        self._streams = LogStreams(
            client=client,
            namespace=self.job_namespace,
            log=self.log,
            tag=self._tag,
            on_line=self._on_line if self.parse_kube_api_events else None,
            max_bytes=log_budget(self.max_log_bytes),
            owner=self._try_id(),
        )
        hub = shared_hub()
        pod_labels = {"controller-uid": self.job_uid} if self.job_uid else {"job-name": self.job_name}
        queue: asyncio.Queue[tuple[str, WatchEvent]] = asyncio.Queue()
        async with (
            hub.subscribe(
                cluster=client.cluster,
                resource=JOBS,
                namespace=self.job_namespace,
                label_selector=self.watch_selector,
                name=self.job_name,
                uid=self.job_uid,
                log=self.log,
            ) as job_sub,
            hub.subscribe(
                cluster=client.cluster,
                resource=PODS,
                namespace=self.job_namespace,
                label_selector=self.watch_selector,
                labels=pod_labels,
                log=self.log,
            ) as pod_sub,
        ):
            pumps = [
                asyncio.create_task(_pump(job_sub, "job", queue)),
                asyncio.create_task(_pump(pod_sub, "pod", queue)),
                asyncio.create_task(self._streams.denied()),
            ]
            try:
                event = await self._follow(queue, pumps, pods=pod_sub)
                if event["status"] != "success" and self.log_events_on_failure:
                    await self._log_unsucceeded_pods_events(client)
                return event
            finally:
                for task in pumps:
                    task.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                await self._streams.close()

    async def _follow(
        self,
        queue: asyncio.Queue[tuple[str, WatchEvent]],
        pumps: list[asyncio.Task[None]],
        *,
        pods: Subscription,
    ) -> JobEvent | Event:
        while True:
            checks = [t for t in (self.deadline, self._startup_deadline()) if t is not None]
            timeout = max(0.05, min(checks) - time.time()) if checks else None
            getter = asyncio.ensure_future(queue.get())
            try:
                done, _ = await asyncio.wait(
                    [getter, *pumps], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            except asyncio.CancelledError:
                getter.cancel()  # else it stays pending, and is destroyed so ("Task was destroyed")
                raise
            for task in pumps:
                if task in done and task.exception() is not None:  # a watch or log failed for good (RBAC)
                    getter.cancel()
                    raise task.exception()  # type: ignore[misc]
            if getter not in done:
                getter.cancel()
                if self.deadline is not None and time.time() >= self.deadline:
                    return self._timeout_event()
                startup = self._startup_deadline()
                if startup is not None and time.time() >= startup:
                    failure = await self._take_in_known_pods(pods)
                    if failure is not None:
                        return failure
                    startup = self._startup_deadline()
                if startup is not None and time.time() >= startup:
                    return self._event("failed", reason="StartupTimeout", message=self._startup_message())
                continue
            tag, event = getter.result()
            if tag == "pod":
                failure = self._on_pod(event)
                if failure is not None:
                    return failure
                continue
            if event.type == DELETED:
                return self._event("failed", reason="JobDeleted", message=f"Job {self.job_name} was deleted")
            self._job = event.object
            state = job_state(event.object)
            self._show_progress(f"Job {self.job_name}", state)
            if state.terminal:
                assert self._streams is not None
                await self._catch_up_pods(queue)
                await self._streams.drain()
                return self._finish(state)

    async def _take_in_known_pods(self, pods: Subscription) -> JobEvent | None:
        """Before a startup timeout, the Job's pods as the watch knows them (a failure, or None).

        A trigger (re)started long after the Job was created gets the Job's LIST and the pods'
        LIST in no set order: with only the Job known, its running pod must not look missing.
        """
        wait = POD_LIST_WAIT_SECONDS
        if self.deadline is not None:  # the task's own timeout is not put off by this wait
            wait = min(wait, max(0.05, self.deadline - time.time()))
        try:
            await asyncio.wait_for(pods.synced(), wait)
        except asyncio.TimeoutError:
            return None  # the pods' LIST is not back: the timeout stands on what is known
        for pod in pods.current():
            failure = self._on_pod(WatchEvent(ADDED, pod))
            if failure is not None:
                return failure
        return None

    async def _catch_up_pods(self, queue: asyncio.Queue[tuple[str, WatchEvent]]) -> None:
        """Take in the pod events still on their way (bounded).

        The Job and its pods arrive on two watches, in no set order: a pod that started and ended
        within a second may not be known yet when the Job's end arrives, and its log would be lost.
        The Job's own counts say how many pods ended. When no pod of the Job was seen at all, they
        are more likely gone already (deleted before this trigger started) than late, so the wait
        is short.
        """
        status = self._job.get("status") or {}
        ended = int(status.get("succeeded") or 0) + int(status.get("failed") or 0)
        loop = asyncio.get_running_loop()
        until = loop.time() + (LATE_POD_SECONDS if self._pods else NO_POD_SEEN_SECONDS)
        while (
            sum(pod_state(p, main_container=self.base_container_name).terminal for p in self._pods.values())
            < ended
        ):
            try:
                tag, event = await asyncio.wait_for(queue.get(), max(0.0, until - loop.time()))
            except asyncio.TimeoutError:
                self.log.warning("Job %s: %d pods ended, but not all were seen in time", self.job_name, ended)
                return
            if tag == "pod":
                self._on_pod(event)

    def _startup_deadline(self) -> float | None:
        """Until a pod of the Job has started: the Job's creation + startup_timeout.

        A suspended Job (Kubernetes >= 1.21) starts no pod until it is resumed: no deadline while
        suspended, and after a resume it counts from ``status.startTime`` (set again on resume).
        """
        if not self._job or any(self._started(pod) for pod in self._pods.values()):
            return None
        spec = self._job.get("spec") or {}
        if spec.get("suspend"):
            return None
        created = str((self._job.get("metadata") or {}).get("creationTimestamp", ""))
        if "suspend" in spec:
            created = str((self._job.get("status") or {}).get("startTime") or created)
        started = as_time(created)
        return None if started is None else started + self.startup_timeout

    @staticmethod
    def _started(pod: Mapping[str, Any]) -> bool:
        states = container_states(pod).values()
        return any({"running", "terminated"} & state.keys() for state in states)

    def _startup_message(self) -> str:
        why = [
            f"pod {(pod.get('metadata') or {}).get('name')}: {s.reason or s.phase.value} {s.message}".strip()
            for pod in self._pods.values()
            if (s := pod_state(pod, main_container=self.base_container_name))
        ]
        detail = "; ".join(why) if why else "no pod was created"
        return f"no pod of the Job started within {self.startup_timeout:g}s ({detail})"

    def _main_container(self, pod: Mapping[str, Any]) -> str:
        return main_container_name(pod, main_container=self.base_container_name)

    def _tag(self, pod: str, container: str) -> str:
        """Lines carry their pod; those of other containers than the main one also the container."""
        main = self._main_container(self._pods.get(pod) or {})
        return pod if container == main else f"{pod}/{container}"

    async def _log_unsucceeded_pods_events(self, client: KubeClient) -> None:
        """``log_events_on_failure``: the events of every pod of the Job that did not succeed."""
        for pod in self._pods.values():
            if pod_state(pod, main_container=self.base_container_name).phase != Phase.SUCCEEDED:
                meta = pod.get("metadata") or {}
                self.log.info("Events of pod %s:", meta.get("name"))
                await log_pod_events(client, namespace=self.job_namespace, uid=meta.get("uid"), log=self.log)

    def _on_pod(self, event: WatchEvent) -> JobEvent | None:
        pod = event.object
        name = str((pod.get("metadata") or {}).get("name"))
        if event.type == DELETED:
            if self._streams is not None:  # a log cut short says so
                self._streams.pod_deleted(name)
            return None  # replaced or cleaned up by the Job controller; the Job decides
        first_seen = name not in self._pods
        self._pods[name] = pod
        if first_seen:
            self.log.info("Job %s started pod %s", self.job_name, name)
        if self.get_logs and self._streams is not None:
            wanted = wanted_containers(
                pod,
                container_logs=self.container_logs,
                init_container_logs=self.init_container_logs,
                main=self._main_container(pod),
            )
            self._streams.update(pod, wanted)
        state = pod_state(pod, main_container=self.base_container_name)
        if state.phase == Phase.FAILED and state.reason in FATAL_WAITING_REASONS:
            # The Job controller would wait forever on an image or configuration error.
            return self._event(
                "failed", reason=state.reason, message=f"pod {name}: {state.message}", pod=name
            )
        return None

    def _on_line(self, pod: str, container: str, line: str) -> None:
        parsed = parse_kube_api_line(line)
        if parsed is None:
            return
        if len(self._events) >= MAX_KUBE_API_EVENTS:
            if len(self._events) == MAX_KUBE_API_EVENTS:
                self.log.warning("More than %d ::kube_api: lines; ignoring the rest", MAX_KUBE_API_EVENTS)
            return
        name, value = parsed
        self._events.append({"name": name, "value": value, "pod": pod, "container": container})

    def _finish(self, state: ObjectState) -> JobEvent:
        if state.phase == Phase.SUCCEEDED:
            return self._event("success", reason=state.reason, message=state.message)
        # Name the pod that failed last, with its exit code: what a user needs first.
        failed = [
            (pod, pod_state(pod, main_container=self.base_container_name)) for pod in self._pods.values()
        ]
        failed = [(pod, s) for pod, s in failed if s.phase == Phase.FAILED]
        extra: dict[str, Any] = {}
        message = state.message
        if failed:
            pod, pod_result = max(
                failed, key=lambda item: str((item[0].get("status") or {}).get("startTime", ""))
            )
            pod_name = (pod.get("metadata") or {}).get("name")
            extra = {"exit_code": pod_result.exit_code, "pod": pod_name, "container": pod_result.container}
            message = f"{state.message}; pod {pod_name}: {pod_result.message}"
        return self._event("failed", reason=state.reason, message=message, **extra)

    def _event(
        self, status: Status, *, reason: str = "", message: str = "", **extra: Unpack[JobExtra]
    ) -> JobEvent:
        event: JobEvent = {
            "status": status,
            "kind": "Job",
            "name": self.job_name,
            "namespace": self.job_namespace,
            "uid": self.job_uid,
            "reason": reason,
            "message": message,
            "resources": self.resources,
            "kube_api_events": self._events,
        }
        event.update(extra)  # type: ignore[typeddict-item]  # (its keys are the event's; mypy fears others)
        if self._job:  # the Job as last seen (its metadata and status), as the provider's event has it
            event["job"] = job_summary(self._job)
        if status != "success" and self._streams is not None:
            event["last_log_lines"] = self._streams.last_lines()
        return event

    # -- the user killed the task --------------------------------------------------------------
    def _keeps_on_kill(self) -> bool:
        return not self.delete_on_kill

    async def _kill(self) -> None:
        """Delete everything the task created, the Job's pods at once included (Airflow >= 3.3)."""
        if not await self._claim_kill():  # ended with this trigger's event, or handled already
            return
        if not self.delete_on_kill:
            self.log.info("Task killed; keeping Job %s (delete_policy)", self.job_name)
            return
        client = await self._client()
        policy = self.on_kill_propagation_policy
        await delete_resources(client, self.resources, log=self.log, propagation=policy)
        if self.job_uid and policy != "Orphan":
            # The garbage collector would remove them too, but later: ask now, for this Job's pods
            # that carry our label only (a collection delete can have no uid precondition).
            await client.request(
                "DELETE",
                PODS.path(namespace=self.job_namespace),
                query={"labelSelector": f"controller-uid={self.job_uid},{MANAGED_SELECTOR}"},
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        self.log.info(
            "Task killed; deleted Job %s/%s and what the task created (propagation %s)",
            self.job_namespace,
            self.job_name,
            policy,
        )
