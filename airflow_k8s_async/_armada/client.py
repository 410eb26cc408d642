"""ArmadaClient: the Armada calls this package makes, over one shared channel, counted.

Calls that change nothing (or cancel, which is idempotent) are retried over a backoff sequence
when the server is unavailable; SubmitJobs is not, since a lost answer may hide a created job.
gRPC errors become :class:`ArmadaError` with the status name and the server's details.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio
from armada_client.armada import event_pb2, event_pb2_grpc, job_pb2, job_pb2_grpc, submit_pb2, submit_pb2_grpc

from airflow_k8s_async._armada.channel import ChannelSpec, get_channel
from airflow_k8s_async._armada.states import state_name
from airflow_k8s_async._kube.perloop import PerLoop
from airflow_k8s_async._kube.retry import backoff_delays
from airflow_k8s_async.errors import ArmadaError

log = logging.getLogger(__name__)

T = TypeVar("T")
_RETRIED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_ATTEMPTS = 5
CALL_TIMEOUT = 60.0


def armada_error(exc: grpc.aio.AioRpcError, method: str) -> ArmadaError:
    code = exc.code().name if exc.code() is not None else "UNKNOWN"
    return ArmadaError(
        f"Armada {method} failed: {code}: {exc.details() or ''}".rstrip(), code=code, method=method
    )


@dataclass(frozen=True)
class JobRun:
    """What GetJobDetails says about a job (its latest run's cluster)."""

    job_id: str
    state: str
    submitted: float
    cluster: str
    namespace: str
    client_id: str = ""  # with_spec only: the submission's client_id


class ArmadaClient:
    """Submit, Jobs and Event services on one channel. ``calls`` counts calls by method."""

    def __init__(self, *, spec: ChannelSpec, channel: grpc.aio.Channel) -> None:
        self.spec = spec
        self.submit_stub = submit_pb2_grpc.SubmitStub(channel)  # type: ignore[no-untyped-call]
        self.jobs_stub = job_pb2_grpc.JobsStub(channel)  # type: ignore[no-untyped-call]
        self.event_stub = event_pb2_grpc.EventStub(channel)  # type: ignore[no-untyped-call]
        self.calls: Counter[str] = Counter()

    async def _call(self, method: str, make: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        delays = backoff_delays(attempts=_ATTEMPTS if retry else 0)
        while True:
            self.calls[method] += 1
            try:
                return await make()
            except grpc.aio.AioRpcError as exc:
                delay = next(delays, None) if exc.code() in _RETRIED else None
                if delay is None:
                    raise armada_error(exc, method) from exc
                log.debug("retrying Armada %s in %.1fs after %s", method, delay, exc.code())
                await asyncio.sleep(delay)

    async def submit(
        self, *, queue: str, job_set_id: str, items: Sequence[submit_pb2.JobSubmitRequestItem]
    ) -> list[tuple[str, str]]:
        """Submit; ``(job_id, error)`` per item."""
        request = submit_pb2.JobSubmitRequest(queue=queue, job_set_id=job_set_id, job_request_items=items)
        answer = await self._call(
            "SubmitJobs", lambda: self.submit_stub.SubmitJobs(request, timeout=CALL_TIMEOUT), retry=False
        )
        return [(item.job_id, item.error) for item in answer.job_response_items]

    async def cancel(self, *, queue: str, job_set_id: str, job_id: str, reason: str = "") -> list[str]:
        """Cancel one job; the ids the server cancelled."""
        request = submit_pb2.JobCancelRequest(
            queue=queue, job_set_id=job_set_id, job_id=job_id, reason=reason
        )
        answer = await self._call(
            "CancelJobs", lambda: self.submit_stub.CancelJobs(request, timeout=CALL_TIMEOUT)
        )
        return list(answer.cancelled_ids)

    async def job_status(self, job_ids: Sequence[str]) -> dict[str, str]:
        request = job_pb2.JobStatusRequest(job_ids=list(job_ids))
        answer = await self._call(
            "GetJobStatus", lambda: self.jobs_stub.GetJobStatus(request, timeout=CALL_TIMEOUT)
        )
        return {job_id: state_name(value) for job_id, value in answer.job_states.items()}

    async def job_status_by_external_uri(self, *, queue: str, job_set_id: str, uri: str) -> dict[str, str]:
        request = job_pb2.JobStatusUsingExternalJobUriRequest(
            queue=queue, jobset=job_set_id, external_job_uri=uri
        )
        answer = await self._call(
            "GetJobStatusUsingExternalJobUri",
            lambda: self.jobs_stub.GetJobStatusUsingExternalJobUri(request, timeout=CALL_TIMEOUT),
        )
        return {job_id: state_name(value) for job_id, value in answer.job_states.items()}

    async def job_details(self, job_ids: Sequence[str], *, with_spec: bool = False) -> dict[str, JobRun]:
        request = job_pb2.JobDetailsRequest(
            job_ids=list(job_ids), expand_job_run=True, expand_job_spec=with_spec
        )
        answer = await self._call(
            "GetJobDetails", lambda: self.jobs_stub.GetJobDetails(request, timeout=CALL_TIMEOUT)
        )
        runs: dict[str, JobRun] = {}
        for job_id, details in answer.job_details.items():
            latest = next((run for run in details.job_runs if run.run_id == details.latest_run_id), None)
            runs[job_id] = JobRun(
                job_id=job_id,
                state=state_name(details.state),
                submitted=details.submitted_ts.seconds + details.submitted_ts.nanos / 1e9,
                cluster=latest.cluster if latest is not None else "",
                namespace=details.namespace,
                client_id=details.job_spec.client_id,
            )
        return runs

    async def job_errors(self, job_ids: Sequence[str]) -> dict[str, str]:
        request = job_pb2.JobErrorsRequest(job_ids=list(job_ids))
        answer = await self._call(
            "GetJobErrors", lambda: self.jobs_stub.GetJobErrors(request, timeout=CALL_TIMEOUT)
        )
        return dict(answer.job_errors)

    def job_set_events(
        self, *, queue: str, job_set_id: str, from_message_id: str = "", watch: bool = True
    ) -> AsyncIterator[event_pb2.EventStreamMessage]:
        """Open a GetJobSetEvents stream (one call; the caller resumes it after a break)."""
        self.calls["GetJobSetEvents"] += 1
        request = event_pb2.JobSetRequest(
            id=job_set_id, queue=queue, from_message_id=from_message_id, watch=watch, errorIfMissing=False
        )
        call: AsyncIterator[event_pb2.EventStreamMessage] = self.event_stub.GetJobSetEvents(request)
        return call


# One client per channel spec per loop (the channel under it is shared the same way).
CLIENTS: PerLoop[ChannelSpec, ArmadaClient] = PerLoop("Armada clients", order=2)


def get_armada_client(spec: ChannelSpec) -> ArmadaClient:
    """The shared client for ``spec`` on the running loop."""
    return CLIENTS.get_now(spec, lambda: ArmadaClient(spec=spec, channel=get_channel(spec)))


def calls_on_this_loop() -> Mapping[str, int]:
    """Calls made by every client of the running loop, by method (for tests and benchmarks)."""
    total: Counter[str] = Counter()
    for client in CLIENTS.values():
        total.update(client.calls)
    return dict(total)


def forget_clients() -> None:
    CLIENTS.forget()
