"""The Armada workload: the test gRPC server in its own process, playing the seeded schedule.

    python -m bench.armada_server --spec SPEC.json

It starts ``tests/support/armada_server.py``'s server (the real Submit/Jobs/Event services of
armada-client's stubs), submits N jobs in ONE job set, each with its own script from the seeded
schedule, all held at a ``WAIT`` step, and writes ``server.json`` (target) and ``objects.json``
(name -> job id). On the ``go`` file it snapshots its call counters and releases the jobs; on the
``stop`` file (the contender has exited) it writes ``armada.json``: the call counters at go and
at stop, the streams opened / peak open, and each job's terminal event time and state as the
event log holds them (the start of detection latency).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

from bench.armada_figures import error_text
from bench.schedule import Step, Timing, make_schedule
from tests.support.armada_server import ArmadaTestServer, JobScript

QUEUE = "bench"
JOB_SET = "bench-job-set"
ACK_SECONDS = (1.0, 2.0)  # after go, the job is QUEUED (acknowledged) within this window


def job_script(step: Step, *, ack: float) -> JobScript:
    """Held until go; QUEUED at ``ack``, LEASED / PENDING on the way, RUNNING at ``start``,
    SUCCEEDED or FAILED (with an error text) at ``end`` (seconds after go)."""
    queued = min(ack, step.start / 2)
    leased = (queued + step.start) / 2
    steps = (
        ("WAIT", 0.0),
        ("QUEUED", queued),
        ("LEASED", leased - queued),
        ("PENDING", 0.0),
        ("RUNNING", step.start - leased),
        ("FAILED" if step.fails else "SUCCEEDED", step.end - step.start),
    )
    return JobScript(steps=steps, error=error_text(step.name) if step.fails else "")


def ack_times(*, count: int, seed: int) -> list[float]:
    rng = random.Random(seed + 1)  # its own stream: the start/end schedule equals the pods'
    return [rng.uniform(*ACK_SECONDS) for _ in range(count)]


def _wait_file(path: Path) -> float:
    while not path.exists():
        time.sleep(0.05)
    return float(path.read_text() or time.time())


def _terminal_events(server: ArmadaTestServer) -> dict[str, dict[str, Any]]:
    async def read() -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for message in server.job_set(QUEUE, JOB_SET).messages:
            kind = message.message.WhichOneof("events")
            if kind not in ("succeeded", "failed", "cancelled", "preempted"):
                continue
            event = getattr(message.message, kind)
            found.setdefault(
                event.job_id, {"state": kind, "time": event.created.seconds + event.created.nanos / 1e9}
            )
        return found

    return server.call(read)


def main(spec: dict[str, Any], workdir: Path) -> None:
    steps = make_schedule(count=spec["count"], timing=Timing(**spec["timing"]), seed=spec["seed"])
    acks = ack_times(count=len(steps), seed=spec["seed"])
    server = ArmadaTestServer().start()
    try:
        ids = {}
        for step, ack in zip(steps, acks, strict=True):
            script = job_script(step, ack=ack)
            ids[step.name] = server.submit(queue=QUEUE, job_set_id=JOB_SET, count=1, script=script)[0]
        (workdir / "server.json").write_text(
            json.dumps({"target": server.target, "port": server.port, "queue": QUEUE, "job_set": JOB_SET})
        )
        (workdir / "objects.json").write_text(json.dumps(ids))
        _wait_file(workdir / "go")
        at_go = dataclasses.asdict(server.counts())
        server.reset_counts()  # streams peak/opened from here are the steady window's
        server.release()
        _wait_file(workdir / "stop")
        after = dataclasses.asdict(server.counts())
        ends = _terminal_events(server)
        result = {
            "at_go": at_go,
            "steady": after,
            "ends": {name: ends.get(job_id) for name, job_id in ids.items()},
            "job_ids": ids,
        }
        (workdir / "armada.json").write_text(json.dumps(result))
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    main(json.loads(args.spec.read_text()), args.spec.parent)
