"""armada-airflow 1.1.3's deferrable path (bench/requirements-armada.txt), at its defaults.

Per job, exactly what its ``ArmadaOperator`` does after submitting: on a worker,
``_poll_for_termination`` (GetJobStatus; GetJobDetails once the job runs or ended and the
context knows no cluster; XCom push); while the job is active it defers to
``ArmadaPollJobTrigger(now + poll_interval)`` (30 s), whose ``run()`` sleeps in this loop; on its
event a worker runs ``_trigger_reentry`` (a new operator, so a new hook and channel, as a new task
process has), which polls again and defers again, or decides the end (GetJobErrors for a failed
job, then the failure). Each worker run's channels are closed when it ends, as its process would.
The trigger's ``cleanup()`` (one Execution API request for the task's state) is not run: it needs
an Airflow API server and makes no gRPC call.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import grpc
from airflow.sdk.exceptions import TaskDeferred
from armada.model import GrpcChannelArgs, RunningJobContext
from armada.operators.armada import ArmadaOperator
from pendulum import DateTime

from bench.armada_contender import Job, TaskInstance, Workers

LABEL = "armada-airflow 1.1.3"
_lock = threading.Lock()
_calls: Counter[str] = Counter()
_channels = 0
_local = threading.local()  # the channels of the worker run on this thread


class _Count(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def _count(self, details: Any) -> None:
        with _lock:
            _calls[details.method.rsplit("/", 1)[-1]] += 1

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self._count(details)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        self._count(details)
        return continuation(details, request)


def install() -> None:
    """Count channels and calls (by method) at the gRPC layer, where the hook makes them."""
    original = grpc.insecure_channel

    def counted(*args: Any, **kwargs: Any) -> grpc.Channel:
        global _channels
        with _lock:
            _channels += 1
        channel = original(*args, **kwargs)
        getattr(_local, "channels", []).append(channel)
        return grpc.intercept_channel(channel, _Count())

    grpc.insecure_channel = counted


def client_calls() -> dict[str, int]:
    with _lock:
        return dict(_calls)


def channels_opened() -> int:
    return _channels


def _operator(job: Job) -> ArmadaOperator:
    return ArmadaOperator(channel_args=GrpcChannelArgs(target=job.target), **job.operator_kwargs())


def _worker_run(job: Job, ti: TaskInstance, step: Any) -> Any:
    """One task process on a worker: its operator, its channels; the trigger it defers to, or None."""
    _local.channels = []
    context = {"ti": ti, "run_id": job.job_set, "dag": None}
    try:
        step(_operator(job), context)
        job.outcome = "success"
    except TaskDeferred as deferred:
        return deferred.trigger
    except Exception as exc:
        job.outcome, job.message = "failed", str(exc)
    finally:
        for channel in _local.channels:
            channel.close()
        _local.channels = []
    job.decided = time.time()
    return None


async def follow(job: Job, worker: Workers) -> None:
    ti = TaskInstance(task_id=job.name, run_id=job.job_set)

    def first(operator: ArmadaOperator, context: dict[str, Any]) -> None:
        # execute() right after hook.submit_job: the context to XCom, then the first poll
        submitted = RunningJobContext(job.queue, job.job_id, job.job_set, DateTime.utcnow())
        operator.hook.context_to_xcom(ti, submitted)
        operator._poll_for_termination(context, submitted)

    def reentry(payload: dict[str, Any]) -> Any:
        return lambda operator, context: operator._trigger_reentry(context, payload)

    trigger = await worker(lambda: _worker_run(job, ti, first))
    job.waiting.set()
    while trigger is not None:
        step = reentry(await job.first_event(trigger))
        trigger = await worker(lambda step=step: _worker_run(job, ti, step))
