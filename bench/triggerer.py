"""The triggerer mode: a contender's triggers run by a real ``airflow triggerer`` process.

    python -m bench.triggerer --spec SPEC.json      (the project's .venv: psutil, sqlite3)

Stands where ``bench.contender`` stands in a run and writes the same ``ready`` and
``contender.json``. With the contender's virtualenv (``spec["python"]``) and a throwaway
AIRFLOW_HOME on SQLite it runs ``airflow db migrate`` and ``airflow dags reserialize`` (the
mapped DAG of ``bench/airflow_dag.py``), starts ``airflow triggerer`` and measures it idle, then
seeds N deferred task instances with the contender's triggers (``bench.triggerer_db seed``).
``ready`` is written once the triggerer has started every trigger (each logs its start into its
task's trigger log file) and a second has passed. It waits until no task instance is deferred
(or the timeout), stops the triggerer and reads each event's time and payload from the task
instances (``bench.triggerer_db collect``).

The triggerer alone suffices: it reaches the metadata database directly and serves its
triggers' execution-API calls (connections, variables) in process; no api-server, scheduler or
dag-processor runs. Nothing resumes the task instances afterwards: the bench ends at the event.

Measured from outside, over the triggerer's process group (its supervisor and the trigger
runner subprocess): CPU seconds and RSS (psutil, each second), established connections to the
API server. Its idle CPU rate and RSS, measured before any trigger exists, are the baseline.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.contenders import ROOT

SETTLE_SECONDS = 1.0  # as in bench.contender: after the last trigger started, before the steady window
IDLE_SETTLE = 5.0  # after the triggerer's job row appears, before the idle baseline
IDLE_WINDOW = 10.0  # seconds the idle CPU rate is measured over
SAMPLE_INTERVAL = 1.0
POLL_INTERVAL = 0.5
STOP_GRACE = 30.0
START_TIMEOUT = 120.0
PR_SET_PDEATHSIG = 1


def airflow_env(home: Path, count: int) -> dict[str, str]:
    """The environment of every Airflow command here: the contender's, plus a throwaway Airflow."""
    env = dict(os.environ)  # bench.run gives the contender's: AIRFLOW_HOME, the connection, PYTHONPATH
    env.update(
        AIRFLOW_HOME=str(home),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__FERNET_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        AIRFLOW__LOGGING__REMOTE_LOGGING="False",
        AIRFLOW__LOGGING__COLORED_CONSOLE_LOG="False",
        # Airflow's default level: trigger log lines go to the task's trigger log file, as deployed
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        # the default capacity is 1000 triggers per triggerer; every trigger must run in this one
        AIRFLOW__TRIGGERER__CAPACITY=str(max(1000, count)),
    )
    return env


class Tree:
    """The triggerer's process group, measured from outside (psutil): CPU, RSS, API connections."""

    def __init__(self, pid: int, api_port: int) -> None:
        self.root = psutil.Process(pid)
        self.api_port = api_port
        self._dead_cpu = 0.0  # CPU of processes of the tree that have exited since the last look
        self._seen: dict[int, tuple[psutil.Process, float]] = {}

    def processes(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return [self.root, *self.root.children(recursive=True)]
        return []

    def sample(self) -> tuple[float, int, int]:
        """(CPU seconds so far, RSS bytes, established connections to the API server)."""
        cpu, rss, conns = 0.0, 0, 0
        alive: dict[int, tuple[psutil.Process, float]] = {}
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                used = times.user + times.system
                rss += proc.memory_info().rss
                conns += sum(
                    1
                    for c in proc.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == self.api_port
                )
                alive[proc.pid] = (proc, used)
                cpu += used
        for pid, (_, used) in self._seen.items():
            if pid not in alive:
                self._dead_cpu += used  # last seen value: a short-lived child loses < 1 s
        self._seen = alive
        return cpu + self._dead_cpu, rss, conns


class Sampler(threading.Thread):
    def __init__(self, tree: Tree) -> None:
        super().__init__(daemon=True)
        self.tree = tree
        self.samples: list[tuple[float, int, int]] = []  # (time, rss, connections), as bench.contender
        self.cpu: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            now = time.time()
            cpu, rss, conns = self.tree.sample()
            self.samples.append((now, rss, conns))
            self.cpu.append((now, cpu))
            self._halt.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _cli(airflow: Path, env: dict[str, str], log: Path, *args: str) -> None:
    with log.open("ab") as out:
        out.write(f"=== airflow {' '.join(args)} ===\n".encode())
        out.flush()
        code = subprocess.run([str(airflow), *args], env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"airflow {' '.join(args)} exited with {code}; see {log}")


def _db_helper(python: Path, env: dict[str, str], log: Path, command: str, spec_path: Path) -> None:
    with log.open("ab") as out:
        code = subprocess.run(
            [str(python), "-m", "bench.triggerer_db", command, "--spec", str(spec_path)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    if code != 0:
        raise RuntimeError(f"bench.triggerer_db {command} exited with {code}; see {log}")


def _query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return list(conn.execute(sql, params).fetchall())


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> Any:
    until = time.monotonic() + timeout
    while not (value := check()):
        if proc.poll() is not None:
            raise RuntimeError(f"airflow triggerer exited with {proc.returncode} while {what}; see {log}")
        if time.monotonic() > until:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s; see {log}")
        time.sleep(POLL_INTERVAL)
    return value


def _started_triggers(logs: Path, job_id: int) -> int:
    """Triggers that logged their start: one trigger log file per task instance, made on its first line."""
    return sum(1 for _ in logs.rglob(f"*.trigger.{job_id}.log"))


def _die_with_parent() -> None:
    """In the triggerer's child: SIGTERM it when this driver dies, even by SIGKILL (Linux prctl)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the triggerer's group (it cancels and cleans up its triggers), SIGKILL after a bound."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # also any child left behind
    proc.wait()


def main(spec: dict[str, Any], spec_path: Path) -> dict[str, Any]:
    workdir = spec_path.parent
    count = int(spec["count"])
    python = Path(spec["python"])
    airflow = python.with_name("airflow")
    home = Path(os.environ["AIRFLOW_HOME"])
    env = airflow_env(home, count)
    db, logs, log = home / "airflow.db", home / "logs", workdir / "airflow.log"
    (home / "dags").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "bench" / "airflow_dag.py", home / "dags" / "bench_triggerer.py")
    setup0 = time.time()
    _cli(airflow, env, log, "db", "migrate")
    _cli(airflow, {**env, "BENCH_OBJECTS": str(workdir / "objects.json")}, log, "dags", "reserialize")
    setup_s = time.time() - setup0

    with (workdir / "triggerer.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(airflow), "triggerer", "--skip-serve-logs"],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: measured and stopped as a whole
            preexec_fn=_die_with_parent,  # not orphaned if bench.run kills this driver
        )
    sampler: Sampler | None = None
    try:
        tlog = workdir / "triggerer.log"
        running = "SELECT max(id) FROM job WHERE job_type = 'TriggererJob' AND state = 'running'"
        job_id = _wait("starting", lambda: _query(db, running)[0][0], proc, START_TIMEOUT, tlog)
        time.sleep(IDLE_SETTLE)
        tree = Tree(proc.pid, int(spec["api_port"]))
        idle0, idle_t0 = tree.sample()[0], time.time()
        time.sleep(IDLE_WINDOW)
        idle1, idle_rss, _ = tree.sample()
        idle_rate = (idle1 - idle0) / (time.time() - idle_t0)

        sampler = Sampler(tree)
        sampler.start()
        started, cpu0 = time.time(), tree.sample()[0]
        _db_helper(python, env, log, "seed", spec_path)
        _wait(
            f"starting {count} triggers",
            lambda: _started_triggers(logs, job_id) >= count,
            proc,
            600 + count / 2,
            tlog,
        )
        time.sleep(SETTLE_SECONDS)
        ready, cpu1 = time.time(), tree.sample()[0]
        (workdir / "ready").write_text(str(ready))

        def deferred() -> int:
            rows = _query(db, "SELECT count(*) FROM task_instance WHERE state = 'deferred'")
            return int(rows[0][0])

        until = time.monotonic() + float(spec["timeout"])
        while (left := deferred()) and time.monotonic() < until:
            if proc.poll() is not None:
                raise RuntimeError(f"airflow triggerer exited with {proc.returncode}; see {tlog}")
            time.sleep(POLL_INTERVAL)
        end, cpu2 = time.time(), tree.sample()[0]
        sampler.stop()
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        _stop(proc)
    _db_helper(python, env, log, "collect", spec_path)
    events = json.loads((workdir / "triggerer_events.json").read_text())
    rss = [s[1] for s in sampler.samples]
    steady_raw, startup_raw = cpu2 - cpu1, cpu1 - cpu0
    return {
        "started": started,
        "ready": ready,
        "end": end,
        "events": events,
        "timed_out": left,
        # above the idle triggerer: its own loops and heartbeats are not the triggers' cost
        "cpu": {
            "startup": startup_raw - idle_rate * (ready - started),
            "steady": steady_raw - idle_rate * (end - ready),
        },
        "rss": {"baseline": idle_rss, "peak_sampled": max(rss, default=idle_rss)},
        "peak_rss_process": max(rss, default=idle_rss),
        "samples": sampler.samples,
        "lags": [],  # inside the triggerer's loop: not observable from outside
        "requests": None,  # the triggers' own requests: only the API server's /metrics sees them here
        "triggerer": {
            "setup_s": setup_s,
            "idle_cpu_rate": idle_rate,
            "idle_rss": idle_rss,
            "cpu_raw": {"startup": startup_raw, "steady": steady_raw},
            "job_id": job_id,
            "import_rss": json.loads((workdir / "import_rss.json").read_text())["bytes"],
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    result = main(json.loads(args.spec.read_text()), args.spec)
    (args.spec.parent / "contender.json").write_text(json.dumps(result))
