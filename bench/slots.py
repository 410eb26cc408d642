"""Worker-slot seconds per task in a real Airflow: ours by default (defer at once, end in the
triggerer), ours with ``start_from_trigger``, and the provider's deferrable KubernetesPodOperator
(cncf.kubernetes 10.25.0), in the same Airflow 3.3 run, on the same cluster.

    bash bench/run-slots.sh [--tasks 20] [--seconds 10] [--parallelism 4] [--name NAME]

One DAG per contender, ``--tasks`` pod tasks each, every pod ``sleep --seconds`` then writing an
XCom (logs on, XCom on: the defaults users get). The DAGs run one after the other with
``AIRFLOW__CORE__PARALLELISM=--parallelism``. Every 0.25 s the task instances of the run are read
from the API; a task instance in state ``running`` holds a worker slot, so slot-seconds are the
integral of that count (a task that resumes on a worker is counted again then). Also counted: how
often the scheduler handed a task to the executor (one worker start each), the run's wall time,
and that every task succeeded with its XCom. Writes ``bench/results/<date>-slots[-NAME].md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

from tests.e2e.airflow_env import RACE_71580, AirflowEnv

RESULTS = Path(__file__).parent / "results"
CONTENDERS = ("cncf", "ours", "ours_start")
IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")


@dataclass
class Figures:
    contender: str
    tasks: int
    wall_seconds: float
    slot_seconds: float
    max_running: int
    max_deferred: int
    worker_starts: int
    right: int
    race: bool

    @property
    def slot_seconds_per_task(self) -> float:
        return self.slot_seconds / self.tasks


def measure(airflow: AirflowEnv, core: client.CoreV1Api, contender: str, tasks: int) -> Figures:
    dag_id = f"slots_{contender}"
    namespace = f"slots-{contender.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        airflow.wait_for_dag(dag_id, timeout=180)
        started = time.monotonic()
        run_id = airflow.trigger(dag_id, conf={"namespace": namespace})
        slot_seconds, max_running, max_deferred, last = 0.0, 0, 0, time.monotonic()
        while True:
            tis = airflow.api(
                "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
            )["task_instances"]
            now = time.monotonic()
            running = sum(1 for ti in tis if ti["state"] == "running")
            deferred = sum(1 for ti in tis if ti["state"] == "deferred")
            slot_seconds += running * (now - last)
            last = now
            max_running, max_deferred = max(max_running, running), max(max_deferred, deferred)
            if airflow.run_state(dag_id, run_id) in ("success", "failed"):
                break
            if now - started > 900:
                raise RuntimeError(f"{dag_id} did not finish within 900 s")
            time.sleep(0.25)
        wall = time.monotonic() - started
        right = 0
        for i in range(tasks):
            try:
                ok = airflow.task_state(dag_id, run_id, f"t{i}") == "success"
                right += ok and airflow.xcom(dag_id, run_id, f"t{i}") == {"task": i}
            except Exception:  # a missing XCom counts as wrong
                pass
        starts = sum(airflow.executor_enqueues(dag_id, run_id, f"t{i}") for i in range(tasks))
        return Figures(
            contender=contender,
            tasks=tasks,
            wall_seconds=wall,
            slot_seconds=slot_seconds,
            max_running=max_running,
            max_deferred=max_deferred,
            worker_starts=starts,
            right=right,
            race=airflow.scheduler_race_seen(),
        )
    finally:
        core.delete_namespace(namespace)


def report(figures: list[Figures], *, args: argparse.Namespace) -> str:
    cncf = next((f for f in figures if f.contender == "cncf"), None)
    lines = [
        f"# Worker-slot seconds per task, {datetime.date.today().isoformat()}",
        "",
        f"{args.tasks} pod tasks of ~{args.seconds} s each (logs on, XCom on), "
        f"`AIRFLOW__CORE__PARALLELISM={args.parallelism}`, one real Airflow 3.3 (LocalExecutor, SQLite), "
        "the real local cluster, `busybox:local`. Contenders run one after the other. "
        "`bash bench/run-slots.sh`; method: `bench/slots.py`.",
        "",
        "| contender | wall s | slot-s total | slot-s / task | ratio to cncf | worker starts | max running | "
        "max deferred | right (state + XCom) | #71580 seen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        ratio = f"{f.slot_seconds / cncf.slot_seconds:.2f}" if cncf and cncf.slot_seconds else "-"
        lines.append(
            f"| {f.contender} | {f.wall_seconds:.1f} | {f.slot_seconds:.1f} | "
            f"{f.slot_seconds_per_task:.2f} | "
            f"{ratio} | {f.worker_starts} | {f.max_running} | {f.max_deferred} | {f.right}/{f.tasks} | "
            f"{'yes' if f.race else 'no'} |"
        )
    lines += [
        "",
        "Targets: ours (default) <= half the provider's slot-seconds; ours_start 0 slot-seconds, no "
        "task in the executor, wall time close to one pod's run plus scheduling.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--name", default="")
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home (logs) and print it")
    args = parser.parse_args()
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        print('set KUBECONFIG (e.g. eval "$(../shared/k8s-local/up.sh)")', file=sys.stderr)
        return 2
    config.load_kube_config(kubeconfig)
    core = client.CoreV1Api()
    extra = {
        "kube_config_path": kubeconfig.split(os.pathsep)[0],
        # the provider's sidecar image (alpine) cannot be pulled here
        "xcom_sidecar_container_image": IMAGE,
    }
    kept = tempfile.mkdtemp(prefix="bench-slots-") if args.keep else None
    with contextlib.nullcontext(kept) if kept else tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        if kept:
            print(f"[slots] Airflow home kept: {tmp}/home", file=sys.stderr)
        dags = Path(tmp) / "dags"
        dags.mkdir()
        for contender in args.contenders.split(","):  # one DAG file each, as users have
            shutil.copy(Path(__file__).with_name("slots_dag.py"), dags / f"slots_{contender}.py")
        airflow = AirflowEnv(
            home=Path(tmp) / "home",
            dags_folder=dags,
            overrides={
                "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps({"conn_type": "kubernetes", "extra": extra}),
                "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
                "BENCH_SLOTS_TASKS": str(args.tasks),
                "BENCH_SLOTS_SECONDS": str(args.seconds),
            },
        )
        # The provider refuses KUBECONFIG beside a connection's kube_config_path; ours reads the connection.
        airflow.env.pop("KUBECONFIG", None)
        airflow.start()
        try:
            figures = []
            for contender in args.contenders.split(","):
                print(f"[slots] {contender} ...", file=sys.stderr, flush=True)
                figures.append(measure(airflow, core, contender, args.tasks))
                print(f"[slots] {figures[-1]}", file=sys.stderr, flush=True)
        finally:
            airflow.stop()
    text = report(figures, args=args)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.name}" if args.name else ""
    out = RESULTS / f"{datetime.date.today().isoformat()}-slots{suffix}.md"
    out.write_text(text)
    print(f"written: {out}", file=sys.stderr)
    if any(f.race for f in figures):
        print(f"NOTE: the scheduler log shows apache/airflow#71580 ({RACE_71580!r})", file=sys.stderr)
    return 0 if all(f.right == f.tasks for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
