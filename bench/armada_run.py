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

from bench.armada_figures import compute
from bench.contenders import ROOT, Contender
from bench.run import _spawn, _wait_for  # the same process handling as the Kubernetes runs
from bench.schedule import Timing, make_schedule

KIND = "armada"
CONTENDERS = {
    "ours": Contender(
        name="ours",
        python=ROOT / ".venv" / "bin" / "python",
        module="bench.contenders.armada_ours",
        kinds=(KIND,),
        label="airflow-k8s-async",
        family="ours",
    ),
    "armada": Contender(
        name="armada",
        python=ROOT / "bench" / ".venv-armada" / "bin" / "python",
        module="bench.contenders.armada_anchor",
        kinds=(KIND,),
        label="armada-airflow 1.1.3",
        family="armada",
    ),
}


@dataclasses.dataclass(frozen=True)
class Plan:
    sizes: list[int]
    contenders: list[str]
    timing: Timing
    seed: int
    workdir: Path
    grace: float  # seconds a contender may take past the schedule's last end
    workers: int  # worker slots (threads) for the operators' resumes


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


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
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    print(f"[bench] {KIND} N={count} {contender.name}: {workdir}", flush=True)
    server = contender_proc = None
    try:
        server = _spawn(
            ROOT / ".venv/bin/python",
            "bench.armada_server",
            spec_path,
            workdir / "server.log",
            {**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _wait_for(workdir / "objects.json", server, "bench Armada server", 120 + count / 10)
        with tempfile.TemporaryDirectory(prefix="bench-airflow-") as home:
            contender_proc = _spawn(
                contender.python,
                "bench.armada_contender",
                spec_path,
                workdir / "contender.log",
                _env(Path(home)),
            )
            _wait_for(workdir / "ready", contender_proc, contender.name, 600 + count / 5)
            (workdir / "go").write_text(str(time.time()))
            code = contender_proc.wait()
            if code != 0:
                raise RuntimeError(f"{contender.name} exited with {code}; see {workdir / 'contender.log'}")
        (workdir / "stop").write_text(str(time.time()))
        code = server.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"bench Armada server exited with {code}; see {workdir / 'server.log'}")
    finally:
        for proc in (contender_proc, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
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
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="1,10", help="seconds after go until RUNNING: min,max")
    parser.add_argument("--run", default="30,300", help="seconds RUNNING: min,max")
    parser.add_argument("--failure-rate", type=float, default=0.10)
    parser.add_argument("--grace", type=float, default=300, help="seconds a contender may lag behind")
    parser.add_argument("--workers", type=int, default=32, help="worker slots for the resumes")
    parser.add_argument("--name", default="armada", help="suffix of the result file")
    args = parser.parse_args(argv)
    unknown = set(args.contenders.split(",")) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> Path:
    args = parse_args(argv)
    start_min, start_max = (float(v) for v in args.start.split(","))
    run_min, run_max = (float(v) for v in args.run.split(","))
    stamp = time.strftime("%Y-%m-%d-%H%M%S")
    timing = Timing(
        start_min=start_min,
        start_max=start_max,
        run_min=run_min,
        run_max=run_max,
        failure_rate=args.failure_rate,
    )
    plan = Plan(
        sizes=[int(n) for n in args.sizes.split(",")],
        contenders=args.contenders.split(","),
        timing=timing,
        seed=args.seed,
        workdir=ROOT / "bench" / "work" / f"{stamp}-armada",
        grace=args.grace,
        workers=args.workers,
    )
    results = run_all(plan)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "stamp": f"{stamp}-armada",
        "timing": dataclasses.asdict(timing),
        "seed": plan.seed,
        "argv": argv,
        "cpus": os.cpu_count(),
        "workers": plan.workers,
        "load": os.getloadavg(),
    }
    out = plan.workdir / "results.json"
    out.write_text(json.dumps({"meta": meta, "runs": results}, indent=1))
    print(f"[bench] results: {out}", flush=True)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
