"""Our Armada path: ``ArmadaJobTrigger`` as ``ArmadaOperator`` defers to it (its defaults:
poll_interval 30 s for the stream's fallback, acknowledgement timeout 300 s, no container logs),
all N in this loop on the shared job-set stream; its one TriggerEvent goes to the operator's
``execute_complete`` on a worker, which decides the task's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import grpc.aio

from airflow_k8s_async._armada.channel import close_channels
from airflow_k8s_async._armada.client import calls_on_this_loop
from airflow_k8s_async._armada.hub import close_job_set_hub
from airflow_k8s_async.armada.model import GrpcChannelArgs
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.triggers.armada import ArmadaJobTrigger
from bench.armada_contender import Job, TaskInstance, Workers

LABEL = "airflow-k8s-async"
_channels = 0
_calls: dict[str, int] = {}


def install() -> None:
    """Count the gRPC channels this process opens (calls are counted by our client)."""
    original = grpc.aio.insecure_channel

    def counted(*args: Any, **kwargs: Any) -> grpc.aio.Channel:
        global _channels
        _channels += 1
        return original(*args, **kwargs)

    grpc.aio.insecure_channel = counted


def client_calls() -> dict[str, int]:
    global _calls
    try:
        _calls = dict(calls_on_this_loop())
    except RuntimeError:  # no running loop: the last figures read
        pass
    return _calls


def channels_opened() -> int:
    return _channels


def _operator(job: Job) -> ArmadaOperator:
    return ArmadaOperator(channel_args=GrpcChannelArgs(target=job.target), **job.operator_kwargs())


def _resume(job: Job, payload: Mapping[str, Any]) -> None:
    """A worker: the task deserialized anew, then ``execute_complete`` with the event."""
    ti = TaskInstance(task_id=job.name, run_id=job.job_set)
    try:
        context: Any = {"ti": ti, "run_id": job.job_set}  # what the resume reads of the context
        _operator(job).execute_complete(context, payload)
        job.outcome = "success"
    except Exception as exc:
        job.outcome, job.message = "failed", str(exc)
    job.decided = time.time()


async def follow(job: Job, worker: Workers) -> None:
    operator = _operator(job)
    trigger = ArmadaJobTrigger(
        job_id=job.job_id,
        job_set_id=job.job_set,
        armada_queue=job.queue,
        channel_args=operator.channel_args.serialize(),
        submit_time=time.time(),
        job_acknowledgement_timeout=float(operator.job_acknowledgement_timeout),
        poll_interval=float(operator.poll_interval),
        job_namespace="default",
    )
    job.waiting.set()
    payload = await job.first_event(trigger)
    await worker(lambda: _resume(job, payload))


async def close() -> None:
    """What the triggerer's loop ends with: the shared streams, then the channels."""
    client_calls()
    await close_job_set_hub()
    await close_channels()
