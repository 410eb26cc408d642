"""One Armada contender: N job waits in ONE asyncio loop (the triggerer), resumes in a thread pool
(the workers).

    python -m bench.armada_contender --spec SPEC.json

The contender module (``spec["module"]``) has ``install()`` (count channels and calls, before
anything connects), ``async follow(job, worker)`` (wait for one job as its operator and trigger
do: run the trigger in this loop, hand each TriggerEvent to ``worker``, return when the task's
outcome is decided), ``client_calls()`` and ``channels_opened()``; optionally ``async close()``.
``worker(fn)`` runs ``fn`` in the pool and counts one worker run; ``ready`` is written once every
job is waited on (after the anchor's first worker run per job), and the steady window starts.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from bench import probe

T = TypeVar("T")
SETTLE_SECONDS = 1.0


@dataclass
class Job:
    """One job's wait, and what happened to it (filled by the contender module)."""

    name: str
    job_id: str
    target: str
    queue: str
    job_set: str
    waiting: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # set once waited on
    trigger_events: int = 0
    worker_runs: int = 0  # resumes on a worker (the first run after submission not counted)
    last_event: float | None = None  # time of the last TriggerEvent
    decided: float | None = None  # time the task's outcome was known (end of the last worker run)
    outcome: str = ""
    message: str = ""

    async def first_event(self, trigger: Any) -> dict[str, Any]:
        """Run ``trigger`` to its first event as the triggerer does (then close it); its payload.
        The task then resumes on a worker: counted here."""
        runner = trigger.run()
        try:
            event = await runner.__anext__()
        finally:
            await runner.aclose()
        self.trigger_events += 1
        self.last_event = time.time()
        self.worker_runs += 1
        return dict(event.payload)

    def operator_kwargs(self) -> dict[str, Any]:
        """The same ArmadaOperator arguments for both contenders (ours takes armada-airflow's);
        ``channel_args`` is each package's own ``GrpcChannelArgs(target=job.target)``."""
        return {
            "task_id": self.name,
            "name": self.name,
            "armada_queue": self.queue,
            "job_request": {"namespace": "default", "priority": 1},
            "deferrable": True,
        }

    def record(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "waiting"}


class TaskInstance:
    """What a worker's task instance gives the operators' resume code: ids and XCom (in memory,
    standing in for Airflow's database)."""

    def __init__(self, *, task_id: str, run_id: str) -> None:
        self.dag_id = "bench"
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = -1
        self.try_number = 1
        self.max_tries = 0
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, key: str, task_ids: Any = None, map_indexes: Any = None) -> Any:
        return self.xcom.get(key)


class Workers:
    """The worker slots: a thread pool; each call is one task (re-)entry on a worker."""

    def __init__(self, size: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="worker")
        self.runs = 0

    async def __call__(self, fn: Callable[[], T]) -> T:
        self.runs += 1
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)


async def _follow(module: Any, job: Job, workers: Workers) -> None:
    try:
        await module.follow(job, workers)
    except Exception as exc:  # a crashed wait is a wrong outcome, not a crashed benchmark
        job.outcome, job.message, job.decided = "crashed", repr(exc), time.time()
    finally:
        job.waiting.set()


async def main(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    module = importlib.import_module(spec["module"])
    server = json.loads((workdir / "server.json").read_text())
    ids: dict[str, str] = json.loads((workdir / "objects.json").read_text())
    measurement = probe.Measurement(port=server["port"])  # connections to the Armada server
    workers = Workers(spec["workers"])
    jobs = [
        Job(
            name=name,
            job_id=job_id,
            target=server["target"],
            queue=server["queue"],
            job_set=server["job_set"],
        )
        for name, job_id in ids.items()
    ]
    tasks = [asyncio.create_task(_follow(module, job, workers)) for job in jobs]
    await asyncio.gather(*(job.waiting.wait() for job in jobs))
    await asyncio.sleep(SETTLE_SECONDS)
    calls_startup, channels_startup, runs_startup = (
        module.client_calls(),
        module.channels_opened(),
        workers.runs,
    )
    measurement.ready(workdir)
    await measurement.finish(tasks, timeout=spec["timeout"])
    if hasattr(module, "close"):
        await module.close()
    workers.pool.shutdown(wait=True)
    return {
        **measurement.figures(),
        "jobs": [job.record() for job in jobs],
        "calls": {"startup": calls_startup, "all": module.client_calls()},
        "channels": {"startup": channels_startup, "all": module.channels_opened()},
        "worker_runs": {"startup": runs_startup, "all": workers.runs},
    }


if __name__ == "__main__":
    probe.contender_main(
        description=__doc__.splitlines()[0],
        install=lambda spec: importlib.import_module(spec["module"]).install(),  # before any channel
        main=main,
    )
