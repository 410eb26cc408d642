"""What both orchestrators (``bench.run``, ``bench.armada_run``) share: the schedule's options, the
processes of one run and their environment, and the results file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.contenders import ROOT, Contender
from bench.schedule import Timing

PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"


def add_schedule_args(parser: argparse.ArgumentParser, *, running: str, grace: float) -> None:
    """``--seed``, ``--start``, ``--run``, ``--failure-rate``, ``--grace``; ``running`` names the
    workload's Running state."""
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="1,10", help=f"seconds after go until {running}: min,max")
    parser.add_argument("--run", default="30,300", help=f"seconds {running}: min,max")
    parser.add_argument("--failure-rate", type=float, default=0.10)
    parser.add_argument(
        "--grace", type=float, default=grace, help="seconds a contender may lag behind the schedule"
    )


def check_contenders(
    parser: argparse.ArgumentParser, names: str, contenders: Mapping[str, Contender]
) -> None:
    unknown = set(names.split(",")) - set(contenders)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")


def timing(args: argparse.Namespace) -> Timing:
    start_min, start_max = (float(v) for v in args.start.split(","))
    run_min, run_max = (float(v) for v in args.run.split(","))
    return Timing(
        start_min=start_min,
        start_max=start_max,
        run_min=run_min,
        run_max=run_max,
        failure_rate=args.failure_rate,
    )


def stamp() -> str:
    return time.strftime("%Y-%m-%d-%H%M%S")


def write_spec(workdir: Path, spec: dict[str, Any]) -> Path:
    """``<workdir>/spec.json``: what every process of the run reads."""
    path = workdir / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def wait_for(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Until ``path`` exists; fails at once if ``proc`` exits first."""
    until = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {proc.returncode} before writing {path.name}; see {path.parent}"
            )
        if time.monotonic() > until:
            raise TimeoutError(f"{what}: no {path.name} within {timeout:.0f}s; see {path.parent}")
        time.sleep(0.05)


def spawn(python: Path, module: str, spec: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(python), "-m", module, "--spec", str(spec)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def spawn_workload(module: str, spec: Path, log: Path) -> subprocess.Popen[bytes]:
    """The bench's side of a run (the bench kubelet, the Armada server), in the project's .venv."""
    return spawn(PROJECT_PYTHON, module, spec, log, {**os.environ, "PYTHONPATH": str(ROOT)})


def check_exit(code: int, what: str, log: Path) -> None:
    if code != 0:
        raise RuntimeError(f"{what} exited with {code}; see {log}")


def kill(procs: Iterable[subprocess.Popen[bytes] | None]) -> None:
    """What is left of a run's processes (after an error): nothing outlives its run."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def contender_env(home: Path) -> dict[str, str]:
    """A contender's environment: no AIRFLOW_* of the caller, a throwaway AIRFLOW_HOME, logs at WARNING."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def write_results(
    workdir: Path,
    runs: list[dict[str, Any]],
    *,
    stamp: str,
    timing: Timing,
    seed: int,
    argv: list[str],
    **more: Any,
) -> Path:
    """``<workdir>/results.json`` (what the reports read); says where on stdout (the scripts read it)."""
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "stamp": stamp,
        "timing": dataclasses.asdict(timing),
        "seed": seed,
        "argv": argv,
        "cpus": os.cpu_count(),
        **more,
    }
    out = workdir / "results.json"
    out.write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    print(f"[bench] results: {out}", flush=True)
    return out
