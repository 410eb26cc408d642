"""An in-process Armada server for tests and benchmarks: the real gRPC services from armada-client's
stubs (Submit: SubmitJobs, CancelJobs; Jobs: GetJobStatus, GetJobDetails, GetJobErrors,
GetJobStatusUsingExternalJobUri; Event: GetJobSetEvents with watch and resumable message ids).

Each job follows a script (:class:`JobScript`): a sequence of states with delays, an error text,
or a real pod on the local cluster (``armada-<jobId>-0``, the tests' image: ``busybox:local`` or
``$E2E_IMAGE``) whose phase decides the outcome and whose log is real. The script is picked by
the job's ``scenario`` label.
The server runs on its own thread and event loop, so a test (or an Airflow process) reaches it
on a loopback port while its own loop does other work.

    server = ArmadaTestServer(scenarios={"fail": JobScript(steps=[("QUEUED", 0.1), ("FAILED", 1)])})
    server.start()            # server.target == "127.0.0.1:<port>"
    server.counts()           # ServerCounts: calls per method, open / peak / opened streams
    server.cut_streams()      # break every open event stream (clients resume)
    server.fail_streams(10)   # the next 10 GetJobSetEvents calls fail at once
    server.release(job_id)    # let that job (or, without an id, every job) past its WAIT step
    server.stop()
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import grpc.aio
from armada_client.armada import event_pb2, event_pb2_grpc, job_pb2, job_pb2_grpc, submit_pb2, submit_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from kubernetes.client.rest import ApiException

from tests.support.kube import IMAGE, PULL_POLICY

T = TypeVar("T")
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "PREEMPTED", "REJECTED"}
DEFAULT_STEPS = (("QUEUED", 0.1), ("LEASED", 0.1), ("PENDING", 0.1), ("RUNNING", 0.3), ("SUCCEEDED", 1.0))
TEST_LABEL = "armada-test-server"


@dataclass(frozen=True)
class JobScript:
    """What a job does: ``steps`` of (state, seconds after the previous step); a ``WAIT`` step
    waits for :meth:`ArmadaTestServer.release`, then its seconds; ``error`` is what
    GetJobErrors says for FAILED / PREEMPTED / REJECTED, while the failed / preempted event's
    ``reason`` carries only its first line (as Armada's short reason beside the full error), so a
    test can tell which of the two a client shows. With ``pod_command`` the job runs a real
    pod from the RUNNING step on, and ends as the pod does (steps after RUNNING are ignored).
    ``cluster`` is the cluster id the events name; ``pod_name_in_events=False`` leaves the pod's
    name out of them (clients then fall back to ``armada-<jobId>-0``); ``lease_returned_after``
    runs the job twice."""

    steps: tuple[tuple[str, float], ...] = DEFAULT_STEPS
    error: str = ""
    pod_command: str | None = None
    cluster: str = "k8s-local"
    pod_name_in_events: bool = True
    # The first run's lease is returned this many seconds after it started running: its pod is
    # deleted and the job runs again, in a new pod of the same name (env ARMADA_RUN says which).
    lease_returned_after: float | None = None


@dataclass(frozen=True)
class ServerCounts:
    calls: dict[str, int]
    streams_open: int
    streams_peak: int
    streams_opened: int

    def total_calls(self, *, exclude: Iterable[str] = ()) -> int:
        return sum(n for method, n in self.calls.items() if method not in set(exclude))


@dataclass
class Job:
    job_id: str
    queue: str
    job_set_id: str
    item: submit_pb2.JobSubmitRequestItem
    script: JobScript
    submitted: float
    state: str = "SUBMITTED"
    errors: str = ""
    cluster: str = ""
    cancel_reasons: list[str] = field(default_factory=list)
    pod: str | None = None
    task: asyncio.Task[None] | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def namespace(self) -> str:
        return self.item.namespace or "default"

    @property
    def external_job_uri(self) -> str:
        for key, value in self.item.annotations.items():
            if key.endswith("externalJobUri"):
                return str(value)
        return str(self.item.external_job_uri)


class _JobSetLog:
    def __init__(self) -> None:
        self.messages: list[event_pb2.EventStreamMessage] = []
        self.changed = asyncio.Condition()


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


class ArmadaTestServer:
    def __init__(
        self,
        *,
        scenarios: dict[str, JobScript] | None = None,
        default: JobScript | None = None,
        kube_core: Any = None,
        scenario_factory: Callable[[str], JobScript | None] | None = None,
    ) -> None:
        """``kube_core``: a ``kubernetes.client.CoreV1Api`` for jobs whose script has a pod;
        ``scenario_factory(label)``: a script for scenario labels not in ``scenarios``."""
        self.scenarios = dict(scenarios or {})
        self.scenario_factory = scenario_factory
        self.default = default or JobScript()
        self.kube_core = kube_core
        self.jobs: dict[str, Job] = {}
        self._sets: dict[tuple[str, str], _JobSetLog] = {}
        self._calls: Counter[str] = Counter()
        self._open = 0
        self._peak = 0
        self._opened = 0
        self._fail_next = 0
        self._denied: tuple[grpc.StatusCode, str] | None = None
        self.open_by_job_set: Counter[str] = Counter()
        self.stream_requests: list[tuple[str, str]] = []  # (job set, from_message_id) per stream call
        self.delivered: Counter[str] = Counter()  # by job set: messages sent on its furthest stream
        self._cut: set[object] = set()
        self._streams: set[object] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self.port = 0

    # -- lifecycle (called from the test's thread) ----------------------------------------------
    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ArmadaTestServer:
        ready = threading.Event()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="armada-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the Armada test server did not start")
        return self

    async def _serve(self) -> None:
        # Pings as often as tests ask (the keepalive tests ping every second).
        server = grpc.aio.server(
            options=[
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 500),
                ("grpc.http2.max_ping_strikes", 0),
            ]
        )
        submit_pb2_grpc.add_SubmitServicer_to_server(_Submit(self), server)
        job_pb2_grpc.add_JobsServicer_to_server(_Jobs(self), server)
        event_pb2_grpc.add_EventServicer_to_server(_Event(self), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    def call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop from another thread; its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            for job in self.jobs.values():
                if job.task is not None:
                    job.task.cancel()
            if self._server is not None:
                await self._server.stop(grace=0.5)

        self.call(shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self.delete_pods()
        self._loop = None

    def delete_pods(self) -> None:
        if self.kube_core is None:
            return
        for job in self.jobs.values():
            if job.pod:
                try:
                    self.kube_core.delete_namespaced_pod(job.pod, job.namespace, grace_period_seconds=0)
                except Exception:  # already gone
                    pass

    # -- what tests read and script --------------------------------------------------------------
    def counts(self) -> ServerCounts:
        return ServerCounts(
            calls=dict(self._calls),
            streams_open=self._open,
            streams_peak=self._peak,
            streams_opened=self._opened,
        )

    def reset_counts(self) -> None:
        self._calls.clear()
        self._peak = self._open
        self._opened = 0

    def deny(self, code: grpc.StatusCode, details: str) -> None:
        """Refuse every call from now on with ``code`` (as Armada does a revoked token or a queue
        the caller may not read), until ``allow()``."""
        self._denied = (code, details)

    def allow(self) -> None:
        self._denied = None

    async def refuse_if_denied(self, context: grpc.aio.ServicerContext) -> None:
        if self._denied is not None:
            await context.abort(*self._denied)

    def fail_streams(self, count: int) -> None:
        """The next ``count`` GetJobSetEvents calls fail at once with UNAVAILABLE."""
        self._fail_next = count

    def cut_streams(self) -> int:
        """Break every open event stream with UNAVAILABLE; how many were cut."""

        async def cut() -> int:
            self._cut |= self._streams
            for log in self._sets.values():
                async with log.changed:
                    log.changed.notify_all()
            return len(self._streams)

        return self.call(cut)

    def cancel_from_outside(self, job_id: str, reason: str = "cancelled by an operator of Armada") -> None:
        """Cancel as someone else would (not counted as a call of the client under test)."""
        self.call(lambda: self._cancel(self.jobs[job_id], reason))

    def submit(
        self,
        *,
        queue: str,
        job_set_id: str,
        count: int,
        script: JobScript | None = None,
        namespace: str = "default",
    ) -> list[str]:
        """Submit jobs directly (benchmarks: N scripted jobs of one job set); their ids."""

        async def submit() -> list[str]:
            item = submit_pb2.JobSubmitRequestItem(namespace=namespace, priority=1)
            return [self._add_job(queue, job_set_id, item, script).job_id for _ in range(count)]

        return self.call(submit)

    def release(self, job_id: str | None = None) -> None:
        """Let the job ``job_id`` (without an id: every job submitted so far) past its ``WAIT`` step.

        Per job, so releasing one test's job never lets another test's jobs through."""

        async def release() -> None:
            for job in self.jobs.values():
                if job_id in (None, job.job_id):
                    job.released.set()

        self.call(release)

    def job_ids(self, *, job_set_id: str | None = None) -> list[str]:
        return [job.job_id for job in self.jobs.values() if job_set_id in (None, job.job_set_id)]

    # -- the job model (server loop) -------------------------------------------------------------
    def count(self, method: str) -> None:
        self._calls[method] += 1

    def job_set(self, queue: str, job_set_id: str) -> _JobSetLog:
        return self._sets.setdefault((queue, job_set_id), _JobSetLog())

    def _add_job(
        self,
        queue: str,
        job_set_id: str,
        item: submit_pb2.JobSubmitRequestItem,
        script: JobScript | None = None,
    ) -> Job:
        job_id = "01" + uuid.uuid4().hex[:24]
        label = item.labels.get("scenario", "")
        made = self.scenario_factory(label) if self.scenario_factory and label not in self.scenarios else None
        chosen = script or made or self.scenarios.get(label, self.default)
        job = Job(
            job_id=job_id, queue=queue, job_set_id=job_set_id, item=item, script=chosen, submitted=time.time()
        )
        self.jobs[job_id] = job
        self._emit(job, "submitted", event_pb2.JobSubmittedEvent)
        job.task = asyncio.get_running_loop().create_task(self._drive(job))
        return job

    def _emit(self, job: Job, kind: str, event_type: Any, **fields: Any) -> None:
        log = self.job_set(job.queue, job.job_set_id)
        event = event_type(
            job_id=job.job_id, job_set_id=job.job_set_id, queue=job.queue, created=_now(), **fields
        )
        message = event_pb2.EventStreamMessage(id=str(len(log.messages) + 1))
        getattr(message.message, kind).CopyFrom(event)
        log.messages.append(message)

        async def notify() -> None:
            async with log.changed:
                log.changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def _transition(self, job: Job, state: str, *, reason: str = "") -> None:
        job.state = state
        pod = dict(pod_namespace=job.namespace, cluster_id=job.script.cluster)
        if job.script.pod_name_in_events:
            pod["pod_name"] = f"armada-{job.job_id}-0"
        if state in ("LEASED", "PENDING", "RUNNING"):
            job.cluster = job.script.cluster
        if state in ("FAILED", "PREEMPTED", "REJECTED"):
            job.errors = reason or job.script.error
        short = job.errors.strip().split("\n", 1)[0]  # the event's reason; GetJobErrors has it all
        if state == "QUEUED":
            self._emit(job, "queued", event_pb2.JobQueuedEvent)
        elif state == "LEASED":
            self._emit(job, "leased", event_pb2.JobLeasedEvent, cluster_id=job.script.cluster)
        elif state == "PENDING":
            self._emit(job, "pending", event_pb2.JobPendingEvent, **pod)
        elif state == "RUNNING":
            self._emit(job, "running", event_pb2.JobRunningEvent, node_name="localhost", **pod)
        elif state == "SUCCEEDED":
            self._emit(job, "succeeded", event_pb2.JobSucceededEvent, **pod)
        elif state in ("FAILED", "REJECTED"):
            cause = event_pb2.Cause.Value("Rejected" if state == "REJECTED" else "Error")
            self._emit(job, "failed", event_pb2.JobFailedEvent, reason=short, cause=cause, **pod)
        elif state == "PREEMPTED":
            self._emit(
                job,
                "preempted",
                event_pb2.JobPreemptedEvent,
                cluster_id=job.script.cluster,
                reason=short,
            )
        elif state == "CANCELLED":
            self._emit(job, "cancelled", event_pb2.JobCancelledEvent, reason=reason, requestor="test")

    async def _drive(self, job: Job) -> None:
        for state, delay in job.script.steps:
            if state == "WAIT":
                await job.released.wait()
                await asyncio.sleep(delay)
                continue
            await asyncio.sleep(delay)
            if state == "RUNNING" and job.script.pod_command is not None:
                if job.script.lease_returned_after is not None:
                    await self._run_pod(job, run=1, returned_after=job.script.lease_returned_after)
                    self._transition(job, "LEASED")
                await self._run_pod(job, run=2 if job.script.lease_returned_after is not None else 1)
                return
            self._transition(job, state)
            if state in TERMINAL:
                return

    async def _run_pod(self, job: Job, *, run: int = 1, returned_after: float | None = None) -> None:
        core = self.kube_core
        assert core is not None, "a script with pod_command needs ArmadaTestServer(kube_core=...)"
        container = job.item.pod_spec.containers[0].name if job.item.pod_spec.containers else "main"
        name = f"armada-{job.job_id}-0"
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": TEST_LABEL}},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": container,
                        "image": IMAGE,
                        "imagePullPolicy": PULL_POLICY,
                        "command": ["sh", "-c", job.script.pod_command],
                        "env": [{"name": "ARMADA_RUN", "value": str(run)}],
                    }
                ],
            },
        }
        await asyncio.to_thread(core.create_namespaced_pod, job.namespace, body)
        job.pod = name
        running = False
        while True:
            pod = await asyncio.to_thread(core.read_namespaced_pod, name, job.namespace)
            phase = pod.status.phase
            if phase in ("Running", "Succeeded", "Failed") and not running:
                running = True
                self._transition(job, "RUNNING")
                if returned_after is not None:  # the lease is returned: the pod goes, the job waits
                    await asyncio.sleep(returned_after)
                    await asyncio.to_thread(
                        core.delete_namespaced_pod, name, job.namespace, grace_period_seconds=0
                    )
                    await self._gone(name, job.namespace)
                    job.state = "QUEUED"
                    self._emit(
                        job, "lease_returned", event_pb2.JobLeaseReturnedEvent, cluster_id=job.script.cluster
                    )
                    return
            if phase == "Succeeded":
                self._transition(job, "SUCCEEDED")
                return
            if phase == "Failed":
                codes = [
                    s.state.terminated.exit_code
                    for s in pod.status.container_statuses or []
                    if s.state and s.state.terminated
                ]
                self._transition(
                    job, "FAILED", reason=job.script.error or f"container exited with code {codes}"
                )
                return
            await asyncio.sleep(0.5)

    async def _gone(self, name: str, namespace: str) -> None:
        core = self.kube_core
        while True:
            try:
                await asyncio.to_thread(core.read_namespaced_pod, name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            await asyncio.sleep(0.2)

    async def _cancel(self, job: Job, reason: str) -> bool:
        job.cancel_reasons.append(reason)
        if job.state in TERMINAL:
            return False
        if job.task is not None:
            job.task.cancel()
        self._transition(job, "CANCELLED", reason=reason)
        if job.pod and self.kube_core is not None:
            try:
                await asyncio.to_thread(self.kube_core.delete_namespaced_pod, job.pod, job.namespace)
            except Exception:  # the test server's cleanup is best effort; the job is cancelled either way
                pass
        return True

    # -- event streams ---------------------------------------------------------------------------
    async def stream(
        self, request: event_pb2.JobSetRequest, context: grpc.aio.ServicerContext
    ) -> Any:  # async generator of EventStreamMessage
        self.count("GetJobSetEvents")
        self.stream_requests.append((request.id, request.from_message_id))
        await self.refuse_if_denied(context)
        if self._fail_next > 0:
            self._fail_next -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "scripted stream failure")
        if request.errorIfMissing and (request.queue, request.id) not in self._sets:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job set {request.id} not found")
        log = self.job_set(request.queue, request.id)
        position = int(request.from_message_id or 0)
        token = object()
        self._streams.add(token)
        self._open += 1
        self.open_by_job_set[request.id] += 1
        self._opened += 1
        self._peak = max(self._peak, self._open)
        try:
            while True:
                while position < len(log.messages):
                    yield log.messages[position]
                    position += 1
                    self.delivered[request.id] = max(self.delivered[request.id], position)
                if not request.watch:
                    return
                async with log.changed:
                    await log.changed.wait_for(
                        lambda at=position: len(log.messages) > at or token in self._cut
                    )
                if token in self._cut:
                    self._cut.discard(token)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "stream cut by the test")
        finally:
            self._streams.discard(token)
            self._open -= 1
            self.open_by_job_set[request.id] -= 1


class _Submit(submit_pb2_grpc.SubmitServicer):  # type: ignore[misc]
    def __init__(self, server: ArmadaTestServer) -> None:
        self.server = server

    async def SubmitJobs(self, request: Any, context: Any) -> submit_pb2.JobSubmitResponse:
        self.server.count("SubmitJobs")
        await self.server.refuse_if_denied(context)
        items = []
        for item in request.job_request_items:
            if not request.queue:
                items.append(submit_pb2.JobSubmitResponseItem(error="queue is required"))
                continue
            # Armada deduplicates on client_id within a queue: the first job's id is answered again.
            same = next(
                (
                    j
                    for j in self.server.jobs.values()
                    if item.client_id and j.queue == request.queue and j.item.client_id == item.client_id
                ),
                None,
            )
            job = same or self.server._add_job(request.queue, request.job_set_id, item)
            items.append(submit_pb2.JobSubmitResponseItem(job_id=job.job_id))
        return submit_pb2.JobSubmitResponse(job_response_items=items)

    async def CancelJobs(self, request: Any, context: Any) -> submit_pb2.CancellationResult:
        self.server.count("CancelJobs")
        await self.server.refuse_if_denied(context)
        ids = [request.job_id] if request.job_id else list(request.job_ids)
        cancelled = []
        for job_id in ids:
            job = self.server.jobs.get(job_id)
            if job is not None and await self.server._cancel(job, request.reason or "cancelled"):
                cancelled.append(job_id)
        return submit_pb2.CancellationResult(cancelled_ids=cancelled)


class _Jobs(job_pb2_grpc.JobsServicer):  # type: ignore[misc]
    def __init__(self, server: ArmadaTestServer) -> None:
        self.server = server

    def _state(self, job_id: str) -> int:
        job = self.server.jobs.get(job_id)
        return int(submit_pb2.JobState.Value(job.state if job else "UNKNOWN"))

    async def GetJobStatus(self, request: Any, context: Any) -> job_pb2.JobStatusResponse:
        self.server.count("GetJobStatus")
        await self.server.refuse_if_denied(context)
        return job_pb2.JobStatusResponse(
            job_states={job_id: self._state(job_id) for job_id in request.job_ids}
        )

    async def GetJobStatusUsingExternalJobUri(self, request: Any, context: Any) -> job_pb2.JobStatusResponse:
        self.server.count("GetJobStatusUsingExternalJobUri")
        await self.server.refuse_if_denied(context)
        states = {
            job.job_id: self._state(job.job_id)
            for job in self.server.jobs.values()
            if job.queue == request.queue
            and job.job_set_id == request.jobset
            and job.external_job_uri == request.external_job_uri
        }
        return job_pb2.JobStatusResponse(job_states=states)

    async def GetJobDetails(self, request: Any, context: Any) -> job_pb2.JobDetailsResponse:
        self.server.count("GetJobDetails")
        await self.server.refuse_if_denied(context)
        details = {}
        for job_id in request.job_ids:
            job = self.server.jobs.get(job_id)
            if job is None:
                continue
            submitted = Timestamp()
            submitted.FromNanoseconds(int(job.submitted * 1e9))
            runs = []
            if job.cluster:
                run_id = f"{job.job_id}-run"
                runs.append(job_pb2.JobRunDetails(run_id=run_id, job_id=job.job_id, cluster=job.cluster))
            details[job_id] = job_pb2.JobDetails(
                job_id=job.job_id,
                queue=job.queue,
                jobset=job.job_set_id,
                namespace=job.namespace,
                state=self._state(job_id),
                submitted_ts=submitted,
                latest_run_id=runs[0].run_id if runs else "",
                job_runs=runs,
            )
            if request.expand_job_spec:
                details[job_id].job_spec.CopyFrom(
                    submit_pb2.Job(
                        id=job.job_id,
                        client_id=job.item.client_id,
                        job_set_id=job.job_set_id,
                        queue=job.queue,
                        namespace=job.namespace,
                        annotations=dict(job.item.annotations),
                    )
                )
        return job_pb2.JobDetailsResponse(job_details=details)

    async def GetJobErrors(self, request: Any, context: Any) -> job_pb2.JobErrorsResponse:
        self.server.count("GetJobErrors")
        await self.server.refuse_if_denied(context)
        errors = {
            job_id: self.server.jobs[job_id].errors
            for job_id in request.job_ids
            if job_id in self.server.jobs
        }
        return job_pb2.JobErrorsResponse(job_errors=errors)


class _Event(event_pb2_grpc.EventServicer):  # type: ignore[misc]
    def __init__(self, server: ArmadaTestServer) -> None:
        self.server = server

    async def GetJobSetEvents(self, request: Any, context: Any) -> Any:
        async for message in self.server.stream(request, context):
            yield message
