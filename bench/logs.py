"""Log throughput per task: lines a second into a task log, our trigger beside the provider's
end-of-task read (cncf.kubernetes 10.25.0), in the same run, on the same cluster and pod.

    bash bench/run-logs.sh [--lines 100000] [--rounds 3] [--name NAME]

A pod writes ``--lines`` lines (about 70 bytes each) and exits. Then, ``--rounds`` times, alternately:

- **ours**: our ``KubernetesPodTrigger`` with the operator's defaults (logs on; no sidecar, as this
  pod has no XCom) waits on the ended pod: it streams the whole log into the task log, drains it,
  and returns its event. Timed from ``wait()`` to the event.
- **cncf**: the provider's ``KubernetesPodOperator._write_logs(pod)``, what its deferrable path runs
  on the worker when the trigger has fired (``trigger_reentry``): one read of the whole log, a
  task-log line each. Timed around that call.

Both write into the same kind of sink, a ``logging.FileHandler`` on a fresh file with Airflow's
task-log format, and every round checks that the file holds every line once, in order. (In a
triggerer our lines pass through its supervisor first; on a worker the provider's through the
task runner's: neither is in these figures.) Then **live**: our trigger follows a second pod from
its start while it writes the same burst as it exits; the figure is seconds from the container's
end to the event, with every line delivered. Writes ``bench/results/<date>-logs[-NAME].md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async.triggers.logcursor import CURSOR_ANNOTATION
from tests.support import kube

RESULTS = Path(__file__).parent / "results"
IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"  # Airflow's task log
PAD = "x" * 60


def pod_body(name: str, *, lines: int, delay: float) -> dict[str, Any]:
    script = f"sleep {delay}; i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo line-$i-{PAD}; done"
    return {
        "metadata": {"name": name, "labels": {MANAGED_BY_KEY: MANAGED_BY_VALUE}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": "base", "image": IMAGE, "imagePullPolicy": PULL, "command": ["sh", "-c", script]}
            ],
        },
    }


def wait_phase(core: client.CoreV1Api, namespace: str, name: str, phases: set[str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase in phases:
            return pod
        time.sleep(0.2)
    raise TimeoutError(f"pod {namespace}/{name} not {phases} within {timeout:g}s")


class Sink:
    """A task log: Airflow's format into a fresh file. ``logger`` replaces the measured object's own
    (Airflow's structlog one, which prints to stdout outside a worker or triggerer)."""

    def __init__(self, directory: Path, label: str) -> None:
        self.path = directory / f"{label}.log"
        self.handler = logging.FileHandler(self.path)
        self.handler.setFormatter(logging.Formatter(FORMAT))
        self.logger = logging.getLogger(f"bench.task.{label}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    def __enter__(self) -> Sink:
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()

    def check(self, lines: int) -> None:
        """Every line of the pod's log once, in order (the measurement is void otherwise)."""
        found = [int(text.split("line-", 1)[1].split("-", 1)[0]) for text in self._lines() if "line-" in text]
        if found != list(range(1, lines + 1)):
            missing = sorted(set(range(1, lines + 1)) - set(found))[:5]
            raise AssertionError(f"{self.path.name}: {len(found)} lines of {lines}; missing e.g. {missing}")

    def _lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines()


def ours_trigger(namespace: str, name: str) -> Any:
    from airflow_k8s_async.operators.pod import KubernetesPodOperator

    # The operator's own trigger (its defaults), as its execute() would defer to it.
    operator = KubernetesPodOperator(task_id="bench", image=IMAGE, name=name, namespace=namespace)
    operator._pod_ref = (namespace, name, None)
    return operator._pod_trigger(pod_name=name, pod_namespace=namespace, pod_uid=None)


async def run_ours(namespace: str, name: str, sink: Sink) -> dict[str, Any]:
    trigger = ours_trigger(namespace, name)
    trigger._log = sink.logger
    try:
        return dict(await trigger.wait())
    finally:
        await close_clients()


def forget_saved_place(core: client.CoreV1Api, namespace: str, name: str) -> None:
    """Each round is a first trigger: without this, the next one resumes where the last stopped
    (at the end) and shows nothing."""
    body = {"metadata": {"annotations": {CURSOR_ANNOTATION: None}}}
    core.patch_namespaced_pod(name, namespace, body)


def time_ours(core: client.CoreV1Api, namespace: str, name: str, sink: Sink) -> float:
    forget_saved_place(core, namespace, name)
    with sink:
        started = time.perf_counter()
        event = asyncio.run(run_ours(namespace, name, sink))
        took = time.perf_counter() - started
    if event.get("status") != "success":
        raise AssertionError(f"ours: {event}")
    return took


def time_cncf(core: client.CoreV1Api, namespace: str, name: str, sink: Sink) -> float:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    operator = KubernetesPodOperator(task_id="bench", image=IMAGE, name=name, namespace=namespace)
    pod = core.read_namespaced_pod(name, namespace)
    operator.client  # noqa: B018 - the client is made outside the timed read, as on a worker
    operator._cached_logger = sink.logger  # (the SDK operator caches its logger here)
    with sink:
        started = time.perf_counter()
        operator._write_logs(pod)
        return time.perf_counter() - started


def live_ours(core: client.CoreV1Api, namespace: str, lines: int, sink: Sink) -> float:
    """Seconds from the container's end to our event, following the pod from its start."""
    name = f"live-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_pod(namespace, pod_body(name, lines=lines, delay=3))
    wait_phase(core, namespace, name, {"Running"}, 120)
    with sink:
        asyncio.run(run_ours(namespace, name, sink))
        ended_at = time.time()
    pod = core.read_namespaced_pod(name, namespace)
    finished = pod.status.container_statuses[0].state.terminated.finished_at.timestamp()
    return ended_at - finished


def stats(values: list[float], digits: int = 2) -> str:
    median, low, high = (f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))
    return f"{median} (min {low}, max {high})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="")
    args = parser.parse_args(argv)
    kubeconfig = os.environ["KUBECONFIG"]
    # Both read the cluster from the same connection (ours and the provider's format), not $KUBECONFIG.
    os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": kubeconfig}}
    )
    config.load_kube_config(kubeconfig)
    core = client.CoreV1Api()
    namespace = kube.create_namespace(core.api_client, "bench-logs")  # with its token ready
    seconds: dict[str, list[float]] = {"ours": [], "cncf": []}
    try:
        name = "ended"
        core.create_namespaced_pod(namespace, pod_body(name, lines=args.lines, delay=0))
        wait_phase(core, namespace, name, {"Succeeded"}, 300)
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            for number in range(args.rounds):
                measures: list[tuple[str, Callable[[Sink], float]]] = [
                    ("ours", lambda sink: time_ours(core, namespace, name, sink)),
                    ("cncf", lambda sink: time_cncf(core, namespace, name, sink)),
                ]
                for label, measure in measures if number % 2 == 0 else reversed(measures):
                    sink = Sink(directory, f"{label}-{number}")
                    seconds[label].append(measure(sink))
                    sink.check(args.lines)
                    print(f"[bench] round {number + 1} {label}: {seconds[label][-1]:.2f}s", file=sys.stderr)
            live = Sink(directory, "live")
            lag = live_ours(core, namespace, args.lines, live)
            live.check(args.lines)
    finally:
        core.delete_namespace(namespace)
    rate = {label: [args.lines / s for s in values] for label, values in seconds.items()}
    ratio = statistics.median(rate["ours"]) / statistics.median(rate["cncf"])
    report = "\n".join(
        [
            f"# Log throughput per task, {datetime.date.today()}",
            "",
            f"One ended pod's log of {args.lines} lines (~70 bytes each) into a task-log file, "
            f"{args.rounds} rounds each, alternating; every round checked: every line once, in order.",
            "",
            "| contender | what | seconds | lines/s |",
            "|---|---|---|---|",
            f"| ours | `KubernetesPodTrigger.wait()` on the ended pod (stream, drain, event) "
            f"| {stats(seconds['ours'])} | {stats(rate['ours'], 0)} |",
            f"| cncf 10.25.0 | `KubernetesPodOperator._write_logs(pod)` (the worker's end-of-task read) "
            f"| {stats(seconds['cncf'])} | {stats(rate['cncf'], 0)} |",
            "",
            f"Ratio ours/cncf (lines/s, medians): **{ratio:.2f}**.",
            "",
            f"Live: our trigger followed a pod that wrote the {args.lines} lines as it exited; every line "
            f"was in the task log **{lag:.2f} s** after the container's end (event included).",
            "",
        ]
    )
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.name}" if args.name else ""
    out = RESULTS / f"{datetime.date.today()}-logs{suffix}.md"
    out.write_text(report)
    print(report)
    print(f"[bench] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
