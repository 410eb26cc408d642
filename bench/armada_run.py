"""The Armada benchmark: our ArmadaJobTrigger beside armada-airflow's deferrable path, no cluster.

    python -m bench.armada_run [--sizes 100,1000] [--contenders ours,armada] ...

(``bash bench/run-armada.sh`` makes the anchor's virtualenv, runs this and the report.)

For each (N, contender): the bench server process (``bench.armada_server``) submits N jobs in
one job set, held until go; the contender process (``bench.armada_contender``) waits on all of
them; on its ``ready`` the orchestrator writes ``go`` and the server plays the schedule; when the
contender has exited, ``stop`` makes the server write its counters and terminal event times.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.armada_figures import compute
from bench.contenders import ARMADA_CONTENDERS as CONTENDERS
from bench.contenders import ROOT, Contender
from bench.harness import spawn, wait_for
from bench.schedule import Timing, make_schedule

KIND = "armada"


@dataclasses.dataclass(frozen=True)
class Plan:
    sizes: list[int]
    contenders: list[str]
    timing: Timing
    seed: int
    workdir: Path
    grace: float  # seconds a contender may take past the schedule's last end
    workers: int  # worker slots (threads) for the operators' resumes


def run_one(plan: Plan, count: int, contender: Contender) -> dict[str, Any]:
    steps = make_schedule(count=count, timing=plan.timing, seed=plan.seed)
    workdir = plan.workdir / f"{KIND}-{count}-{contender.name}"
    workdir.mkdir(parents=True)
    spec = {
        "kind": KIND,
        "count": count,
        "timing": dataclasses.asdict(plan.timing),
        "seed": plan.seed,
        "module": contender.module,
        "workers": plan.workers,
        "timeout": max(s.end for s in steps) + plan.grace,
    }
    spec_path = harness.write_spec(workdir, spec)
    print(f"[bench] {KIND} N={count} {contender.name}: {workdir}", flush=True)
    server = contender_proc = None
    try:
        server = harness.spawn_workload("bench.armada_server", spec_path, workdir / "server.log")
        wait_for(workdir / "objects.json", server, "bench Armada server", 120 + count / 10)
        with tempfile.TemporaryDirectory(prefix="bench-airflow-") as home:
            contender_proc = spawn(
                contender.python,
                "bench.armada_contender",
                spec_path,
                workdir / "contender.log",
                harness.contender_env(Path(home)),
            )
            wait_for(workdir / "ready", contender_proc, contender.name, 600 + count / 5)
            (workdir / "go").write_text(str(time.time()))
            harness.check_exit(contender_proc.wait(), contender.name, workdir / "contender.log")
        (workdir / "stop").write_text(str(time.time()))
        harness.check_exit(server.wait(timeout=120), "bench Armada server", workdir / "server.log")
    finally:
        harness.kill((contender_proc, server))
    figures = compute(
        steps=steps,
        contender=json.loads((workdir / "contender.json").read_text()),
        server=json.loads((workdir / "armada.json").read_text()),
    )
    figures.update(kind=KIND, n=count, contender=contender.name, label=contender.label)
    (workdir / "figures.json").write_text(json.dumps(figures, indent=1))
    per = figures["calls_per_job_minute"]["server_steady"]
    print(
        f"[bench] {KIND} N={count} {contender.name}: {figures['correct']}/{count} right, "
        f"p99 {figures['latency']['p99']}, calls/job-min {per}, streams {figures['streams']}, "
        f"re-entries while active {figures['worker']['reentries_while_active']}",
        flush=True,
    )
    return figures


def run_all(plan: Plan) -> list[dict[str, Any]]:
    results = []
    for count in plan.sizes:
        for name in plan.contenders:
            results.append(run_one(plan, count, CONTENDERS[name]))
    return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=KIND, choices=[KIND], help="only armada (bench/run.sh passes it)")
    parser.add_argument("--sizes", default="100,1000", help="jobs in the one job set, comma-separated")
    parser.add_argument("--contenders", default="ours,armada", help=f"of {', '.join(CONTENDERS)}")
    harness.add_schedule_args(parser, running="RUNNING", grace=300)
    parser.add_argument("--workers", type=int, default=32, help="worker slots for the resumes")
    parser.add_argument("--name", default="armada", help="suffix of the result file")
    args = parser.parse_args(argv)
    harness.check_contenders(parser, args.contenders, CONTENDERS)
    return args


def main(argv: list[str]) -> Path:
    args = parse_args(argv)
    stamp = f"{harness.stamp()}-armada"
    plan = Plan(
        sizes=[int(n) for n in args.sizes.split(",")],
        contenders=args.contenders.split(","),
        timing=harness.timing(args),
        seed=args.seed,
        workdir=ROOT / "bench" / "work" / stamp,
        grace=args.grace,
        workers=args.workers,
    )
    results = run_all(plan)
    return harness.write_results(
        plan.workdir,
        results,
        stamp=stamp,
        timing=plan.timing,
        seed=plan.seed,
        argv=argv,
        workers=plan.workers,
        load=os.getloadavg(),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
