"""The README's demo command, minus the setup it shares with the tests: ``scripts/demo.py`` starts a
real Airflow 3, runs the demo DAG on the real cluster, shows progress, prints the outcome and the UI
address, and leaves nothing behind, also when interrupted with Ctrl-C (SIGINT) or when its terminal
closes (SIGHUP)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.kube import eventually

ROOT = Path(__file__).resolve().parents[2]


def start_demo(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--interval", "2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )


def namespace_of(output: str) -> str:
    match = re.search(r"namespace (k8s-async-demo-\w+)", output)
    assert match, output
    return match.group(1)


def processes_under(home: str) -> list[str]:
    """Command lines of live processes that run in (or name) the demo's AIRFLOW_HOME."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if home in cmdline or cwd.startswith(home):
            found.append(cmdline)
    return found


def namespace_going(core: client.CoreV1Api, name: str) -> bool:
    try:
        ns = core.read_namespace(name)
    except client.ApiException as error:
        return error.status == 404
    return ns.metadata.deletion_timestamp is not None


def test_demo_runs_shows_progress_and_cleans_up(core: client.CoreV1Api) -> None:
    demo = start_demo()
    output, _ = demo.communicate(timeout=600)
    assert demo.returncode == 0, output
    assert re.search(r"Airflow UI: http://127\.0\.0\.1:\d+/dags/k8s_async_demo", output), output
    # While pods ran, tasks were deferred and no worker slot was held.
    deferred_free = r"tasks: [2-9] deferred.*worker slots busy: 0/\d+ \| pods: .*\d+ Running"
    assert re.search(deferred_free, output), output
    assert re.search(r"^run manual__\S+: success$", output, flags=re.MULTILINE), output
    assert re.search(r"^  shards\[5\]\s+success$", output, flags=re.MULTILINE), output
    assert "report task: 6 shards and a batch Job" in output, output
    home = re.search(r"starting Airflow .* in (\S+) \.\.\.", output)
    assert home and not Path(home.group(1)).exists(), "the throwaway AIRFLOW_HOME is removed"
    assert namespace_going(core, namespace_of(output))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "hangup"])
def test_an_interrupt_stops_airflow_and_deletes_the_namespace(
    core: client.CoreV1Api, sig: signal.Signals
) -> None:
    demo = start_demo()
    assert demo.stdout is not None
    seen = []
    for line in demo.stdout:
        seen.append(line)
        if re.search(r"tasks: .*\d+ deferred", line):
            break
    else:
        raise AssertionError("the demo ended before any task deferred:\n" + "".join(seen))
    text = "".join(seen)
    home = re.search(r"starting Airflow .* in (\S+) \.\.\.", text)
    assert home, text
    assert processes_under(home.group(1)), "Airflow runs before the interrupt"
    interrupted = time.monotonic()
    demo.send_signal(sig)
    rest, _ = demo.communicate(timeout=120)
    took = time.monotonic() - interrupted
    assert demo.returncode == 130, text + rest
    assert "interrupted: stopping Airflow and deleting the demo namespace" in rest
    assert not processes_under(home.group(1)), f"left running after {took:.0f}s"
    namespace = namespace_of(text)
    assert f"deleted namespace {namespace}" in rest
    assert namespace_going(core, namespace)
    # Its pods go with it: none of the demo's pods is left running for long.
    eventually(lambda: not core.list_namespaced_pod(namespace).items, timeout=180, interval=2)
