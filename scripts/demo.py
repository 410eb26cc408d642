"""Run the demo DAG (``example_dags/demo.py``) on a real Airflow 3 and a real cluster.

Started by ``bash scripts/demo.sh`` (which makes the virtualenv and finds the cluster). Airflow runs
on SQLite in a throwaway AIRFLOW_HOME: api-server, scheduler, dag-processor and triggerer, the same
launcher the end-to-end tests use. The DAG's pods run in a namespace of their own, deleted at the
end, so nothing is left on the cluster, also after Ctrl-C, SIGTERM or SIGHUP.

While the run goes on, one line every few seconds: task states, worker slots busy, pods by phase.
Exit code: 0 when the run succeeded, 1 when it failed, 130 after Ctrl-C (or SIGTERM, SIGHUP).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.airflow_env import AirflowEnv, kubernetes_connection  # noqa: E402
from tests.support.kube import api_client, create_namespace, delete_namespace  # noqa: E402

DAG_ID = "k8s_async_demo"
MANAGED = "app.kubernetes.io/managed-by=airflow-k8s-async"


# Signals that end the demo like Ctrl-C does. SIGHUP: the terminal was closed; the Airflow processes
# run in sessions of their own, so they would not get it and would keep running.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP end the demo like Ctrl-C: through the ``finally`` that stops everything.
    Ctrl-C (SIGINT) too when the demo was started with SIGINT ignored (a shell's background job),
    which Python would otherwise keep ignoring."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for sig in _STOP_SIGNALS:
        signal.signal(sig, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _say(text: str) -> None:
    try:
        print(text, flush=True)
    except OSError:
        pass  # the terminal is gone (SIGHUP): cleaning up matters more than telling about it


class Progress:
    """One status line: task instances by state, worker slots busy, the namespace's pods by phase."""

    def __init__(self, *, env: AirflowEnv, run_id: str, namespace: str, core: Any) -> None:
        self.env = env
        self.run_id = run_id
        self.namespace = namespace
        self.core = core
        self.started = time.monotonic()
        self.peak_deferred = 0
        self.peak_running_pods = 0

    def task_states(self) -> Counter[str]:
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{self.run_id}/taskInstances"
        tis = self.env.api("GET", path, params={"limit": 100})["task_instances"]
        return Counter(str(ti["state"] or "waiting") for ti in tis)

    def line(self) -> str:
        states = self.task_states()
        pool = self.env.api("GET", "/api/v2/pools/default_pool")
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=MANAGED).items
        phases = Counter(
            "Terminating" if pod.metadata.deletion_timestamp else pod.status.phase for pod in pods
        )
        self.peak_deferred = max(self.peak_deferred, states["deferred"])
        self.peak_running_pods = max(self.peak_running_pods, phases["Running"])
        order = ("deferred", "running", "queued", "scheduled", "success", "failed", "waiting")
        shown = ", ".join(f"{states[s]} {s}" for s in order if states[s])
        shown += "".join(f", {n} {s}" for s, n in states.items() if s not in order)
        busy = pool["running_slots"] + pool["queued_slots"]
        total = self.env.env["AIRFLOW__CORE__PARALLELISM"]
        pod_text = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items())) or "none"
        elapsed = time.monotonic() - self.started
        return f"[{elapsed:5.0f}s] tasks: {shown} | worker slots busy: {busy}/{total} | pods: {pod_text}"


def _outcome(env: AirflowEnv, run_id: str) -> list[str]:
    tis = env.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    rows = []
    for ti in sorted(tis["task_instances"], key=lambda t: (t["task_id"], t["map_index"])):
        label = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        rows.append(f"  {label:<12} {ti['state']}")
    return rows


def _report_line(env: AirflowEnv, run_id: str) -> str:
    """The line the last task printed in its pod (read from its task log)."""
    log = env.task_log(DAG_ID, run_id, "report")
    found = re.findall(r"done: (.*?)(?: \w+=|$)", log, flags=re.MULTILINE)
    return found[-1] if found else "(the report task printed nothing)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--interval", type=float, default=3, help="seconds between progress lines")
    parser.add_argument(
        "--keep", action="store_true", help="after the run, keep Airflow up (to browse the UI) until Ctrl-C"
    )
    args = parser.parse_args(argv)
    if not os.environ.get("KUBECONFIG"):
        _say("KUBECONFIG is not set: run 'bash scripts/demo.sh', which finds or starts a cluster")
        return 2
    _stop_on_signals()

    kube = api_client()
    from kubernetes import client

    core = client.CoreV1Api(kube)
    home = Path(tempfile.mkdtemp(prefix="airflow-k8s-async-demo-"))
    namespace = ""
    env: AirflowEnv | None = None
    try:
        namespace = create_namespace(kube, "k8s-async-demo")
        _say(f"cluster: {kube.configuration.host}, namespace {namespace}")
        overrides = {
            **kubernetes_connection(),
            "K8S_ASYNC_EXAMPLE_NAMESPACE": namespace,
            "K8S_ASYNC_EXAMPLE_IMAGE": os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", "busybox:local"),
        }
        env = AirflowEnv(home=home, dags_folder=ROOT / "example_dags", overrides=overrides)
        _say(f"starting Airflow (api-server, scheduler, dag-processor, triggerer) in {home} ...")
        env.start()
        _say(f"Airflow UI: {env.api_url}/dags/{DAG_ID} (everyone is admin; logs in {env.proc_logs})")
        env.wait_for_dag(DAG_ID, timeout=120)
        run_id = env.trigger(DAG_ID)
        _say(f"triggered {DAG_ID}, run {run_id}")
        progress = Progress(env=env, run_id=run_id, namespace=namespace, core=core)
        deadline = time.monotonic() + args.timeout
        state = None
        while state not in ("success", "failed"):
            if time.monotonic() > deadline:
                _say(f"the run did not finish within {args.timeout:.0f}s")
                return 1
            env.check_alive()
            _say(progress.line())
            time.sleep(args.interval)
            state = env.run_state(DAG_ID, run_id)
        _say(progress.line())
        _say(f"\nrun {run_id}: {state}")
        _say("\n".join(_outcome(env, run_id)))
        _say(
            f"at most {progress.peak_deferred} tasks were deferred at once and "
            f"{progress.peak_running_pods} pods running, while the workers were free"
        )
        if state == "success":
            _say(f"report task: {_report_line(env, run_id)}")
        _say(f"\nAirflow UI: {env.api_url}/dags/{DAG_ID}/runs/{run_id}")
        if args.keep:
            _say("Airflow keeps running; Ctrl-C stops it and cleans up")
            while True:
                env.check_alive()
                time.sleep(1)
        return 0 if state == "success" else 1
    except KeyboardInterrupt:
        _say("\ninterrupted: stopping Airflow and deleting the demo namespace")
        return 130
    finally:
        # Ctrl-C again while cleaning up would leave processes or pods behind: finish first.
        for sig in (signal.SIGINT, *_STOP_SIGNALS):
            signal.signal(sig, signal.SIG_IGN)
        if env is not None:
            env.stop()
        if namespace:
            delete_namespace(kube, namespace)
        shutil.rmtree(home, ignore_errors=True)
        _say("stopped Airflow; deleted namespace " + (namespace or "(none)"))


if __name__ == "__main__":
    sys.exit(main())
