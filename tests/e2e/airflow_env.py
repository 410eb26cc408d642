"""Real Airflow 3.3 processes for end-to-end tests: `AirflowEnv`.

One throwaway AIRFLOW_HOME (SQLite, LocalExecutor), ``airflow db migrate``, then ``api-server``,
``scheduler``, ``dag-processor`` and ``triggerer`` as subprocesses on free loopback ports, each in
its own process group with its output in ``<home>/proc-logs/<name>.log``. Tests drive Airflow the
way a user does, through the public REST API v2 (a JWT from ``GET /auth/token``, which
SimpleAuthManager grants without credentials when ``simple_auth_manager_all_admins`` is on).

Health: the api-server is ready when ``GET /api/v2/monitor/health`` answers; the other three when a
*new* running Job of their type appears in ``GET /api/v2/jobs`` (the job row is written when the
component has started its loop; "new" so a restarted triggerer is not mistaken for the old one).

Task logs: the API server reads the local log folder. A deferred task's trigger writes through the
triggerer, which routes each trigger's log lines into ``<task log>.trigger.<triggerer job id>.log``
beside the worker's ``attempt=N.log``; the file handler reads every ``attempt=N.log*`` file, so
`task_log()` returns worker and trigger lines interleaved by time, also while the task is deferred.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

RACE_71580 = "finished with state success, but the task instance's state attribute is queued"
TERMINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
_JOB_TYPES = {"scheduler": "SchedulerJob", "dag-processor": "DagProcessorJob", "triggerer": "TriggererJob"}
# The images scripts/lib.sh picks for a cluster that pulls (kind) reach the DAGs too.
_PASS_THROUGH = (
    "PATH",
    "PYTHONPATH",  # a checkout tested without installing it (the package comes from there too)
    "KUBECONFIG",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "E2E_IMAGE",
    "E2E_PYTHON_IMAGE",
    "K8S_ASYNC_EXAMPLE_IMAGE",
)


class AirflowEnvError(AssertionError):
    """A component did not start, or Airflow did not reach the awaited state in time (with evidence)."""


def kubernetes_connection(
    kubeconfig: Path | None = None, *, conn_id: str = "kubernetes_default", **extras: str
) -> dict[str, str]:
    """``AIRFLOW_CONN_<CONN_ID>`` for ``kubeconfig`` (default: ``$KUBECONFIG``) and ``extras``, in
    the cncf.kubernetes format users have."""
    if kubeconfig is None and not os.environ.get("KUBECONFIG"):
        return {}
    path = str(kubeconfig) if kubeconfig is not None else os.environ["KUBECONFIG"].split(os.pathsep)[0]
    extra = {"kube_config_path": path, **extras}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({"conn_type": "kubernetes", "extra": extra})}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, n: int) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class _Component:
    """One Airflow CLI process, leader of its own process group (so its children can be ended too)."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, *, kind: str | None = None
    ) -> None:
        self.name = name
        self.kind = kind or name  # "triggerer" for a second triggerer named "triggerer-2"
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self._stop_started = time.monotonic()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"=== harness: starting {' '.join(self.argv)} ===\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.env["AIRFLOW_HOME"],
                start_new_session=True,
            )

    @property
    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def terminate(self) -> None:
        """SIGTERM the leader, which stops its own children; the triggerer's whole group, since its
        supervisor alone waits out a 10 s escalation for an idle trigger runner (signalling the
        group is also what the official image's dumb-init does)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self._stop_started = time.monotonic()
        if self.kind == "triggerer":
            _signal_group(self.popen.pid, signal.SIGTERM)
        else:
            self.popen.send_signal(signal.SIGTERM)

    def note_stopped(self, how: str) -> None:
        """Record in the component's log how and how fast it stopped."""
        took = time.monotonic() - self._stop_started
        code = None if self.popen is None else self.popen.poll()
        with self.log_path.open("a") as log:
            log.write(f"=== harness: {self.name} {how} after {took:.1f}s (exit code {code}) ===\n")

    def kill(self) -> None:
        """SIGKILL the whole group (the leader and whatever it left behind)."""
        if self.popen is not None:
            if self.popen.poll() is None:
                self._stop_started = time.monotonic()
            _signal_group(self.popen.pid, signal.SIGKILL)

    def finished(self) -> bool:
        return self.popen is None or (self.popen.poll() is not None and not _group_alive(self.popen.pid))

    def signal_group(self, sig: signal.Signals) -> None:
        if self.popen is not None:
            _signal_group(self.popen.pid, sig)


def stop_components(components: Iterable[_Component], *, grace: float = 15.0) -> None:
    """SIGTERM each group; SIGKILL every group still alive after ``grace`` s."""
    pending = [c for c in components if c.popen is not None]
    for component in pending:
        component.terminate()
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        for component in [c for c in pending if c.finished()]:
            component.note_stopped("stopped")
            pending.remove(component)
        time.sleep(0.1)
    for component in pending:
        component.kill()
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        for component in [c for c in pending if c.finished()]:
            component.note_stopped(f"killed (SIGKILL after {grace:.0f}s)")
            pending.remove(component)
        time.sleep(0.1)
    if pending:  # only if SIGKILL did not work
        raise AirflowEnvError(f"still running after SIGKILL: {[c.name for c in pending]}")


class AirflowEnv:
    """A running Airflow 3.3: api-server, scheduler, dag-processor and triggerer on loopback.

    ``AirflowEnv(home=..., dags_folder=...)``, then `start()` / `stop()` (the ``airflow`` fixture
    in ``conftest.py`` does both). ``overrides`` adds or replaces ``AIRFLOW__*`` settings.
    """

    def __init__(
        self,
        *,
        home: Path,
        dags_folder: Path,
        overrides: dict[str, str] | None = None,
        component_overrides: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        # By kind ("triggerer", "scheduler", ...): what that kind of process gets on top of ``env``.
        self.component_overrides = component_overrides or {}
        self.dags_folder = Path(dags_folder).resolve()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.env = self._environment(overrides or {})
        self.proc_logs = self.home / "proc-logs"
        self._airflow = str(Path(sys.executable).with_name("airflow"))
        self._components: dict[str, _Component] = {}
        self._http = httpx.Client(base_url=self.api_url, timeout=30)
        self._token: str | None = None
        self._triggerer_job = 0

    # ----------------------------------------------------------------------------- environment
    def _environment(self, overrides: dict[str, str]) -> dict[str, str]:
        """The whole environment of every Airflow process: nothing else leaks in from the caller."""
        env = {key: os.environ[key] for key in _PASS_THROUGH if key in os.environ}
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", os.defpath)])
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                # Output goes to files: unbuffered, or a tail (and the race check) misses recent lines.
                "PYTHONUNBUFFERED": "1",
                # Parsing imports the DAG files; keep __pycache__ out of the source tree.
                "PYTHONDONTWRITEBYTECODE": "1",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                # Tests steer concurrency themselves; modest parallelism keeps #71580 (many deferred
                # tasks finishing at once) unlikely and 4 components + workers fit 2 cores.
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                # Everyone is admin, so GET /auth/token hands out a JWT without credentials.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                # The same keys in every process: the scheduler signs task JWTs the api-server's
                # execution API verifies; trigger kwargs are Fernet-encrypted by one process and
                # decrypted by the triggerer; [api] secret_key signs log-server requests and tokens.
                # 64+ bytes: shorter HMAC keys make PyJWT warn on every token (HS512).
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                # Where task workers (LocalExecutor) and the triggerer reach the execution API.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                # Runs start within a second of being queued / of a task finishing.
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                # The dags-folder bundle lists the folder only every refresh_interval (default 300 s):
                # a new DAG file must be seen within seconds.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
                # Re-parse changed files quickly, but not so often that parsing eats the 2 cores.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
                # A triggerer killed with SIGKILL keeps its triggers until it looks dead; a short
                # heartbeat and threshold let a new triggerer adopt them after ~10 s, not 30 s.
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                # Task and trigger logs are files under AIRFLOW_HOME/logs; no remote logging.
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__LOGGING__REMOTE_LOGGING": "False",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                # Scheduler and triggerer run with --skip-serve-logs (the log servers bind every
                # interface; the api-server reads the shared log folder instead). For RUNNING and
                # DEFERRED tasks the api-server still asks hostname:port, so point it at ports
                # nobody serves rather than the defaults, where another Airflow may listen.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        env.update(overrides)
        return env

    def _argv(self, name: str) -> list[str]:
        if name == "api-server":
            return [
                self._airflow,
                name,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--workers",
                "1",
            ]
        if name in ("scheduler", "triggerer"):
            return [self._airflow, name, "--skip-serve-logs"]
        return [self._airflow, name]

    # ----------------------------------------------------------------------------- lifecycle
    def start(self, *, timeout: float = 120) -> None:
        """``db migrate``, start the four components, wait until each is healthy; else fail (and stop)."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.cli("db", "migrate", timeout=timeout)
            for name in PROCESSES:
                self._start_component(name)
            deadline = time.monotonic() + timeout
            self._wait_api_healthy(deadline)
            for name in _JOB_TYPES:
                job = self._wait_job_running(name, after_id=0, deadline=deadline)
                if name == "triggerer":
                    self._triggerer_job = job
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component: SIGTERM, then SIGKILL of its group after a bound. Leaves no process.

        The api-server goes last, so the others can still reach the execution API while they stop.
        """
        self._http.close()
        stop_components(c for name, c in self._components.items() if name != "api-server")
        stop_components(c for name, c in self._components.items() if name == "api-server")

    def restart_triggerer(self, *, kill: bool = False, timeout: float = 60) -> None:
        """Stop the triggerer (SIGTERM, or SIGKILL with ``kill=True``), start a new one, wait healthy.

        After SIGTERM the old job ends, so the new triggerer adopts its triggers at once; after
        SIGKILL only once the old job misses ``triggerer_health_check_threshold`` (10 s here).
        """
        old = self._components["triggerer"]
        last_id = self._latest_job_id("triggerer")
        if kill:
            old.kill()
        stop_components([old])
        self._start_component("triggerer")
        deadline = time.monotonic() + timeout
        self._triggerer_job = self._wait_job_running("triggerer", after_id=last_id, deadline=deadline)

    def _start_component(self, name: str, *, kind: str | None = None) -> None:
        kind = kind or name
        log_path = self.proc_logs / f"{name}.log"
        env = {**self.env, **self.component_overrides.get(kind, {})}
        component = _Component(name, self._argv(kind), env, log_path, kind=kind)
        component.start()
        self._components[name] = component

    # ----------------------------------------------------------------------------- faults
    def triggerer_job_id(self) -> int:
        """The job id of the running triggerer started by ``start()`` (or ``restart_triggerer``)."""
        return self._triggerer_job

    def start_triggerer(self, name: str, *, timeout: float = 60) -> int:
        """Start another triggerer (as the Helm chart's ``triggerer.replicas`` does); its job id."""
        last_id = self._latest_job_id("triggerer")
        self._start_component(name, kind="triggerer")
        return self._wait_job_running("triggerer", after_id=last_id, deadline=time.monotonic() + timeout)

    def stop_component(self, name: str, *, kill: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL with ``kill``) and forget a component started by name."""
        component = self._components.pop(name)
        if kill:
            component.kill()
        stop_components([component])

    def running_components(self) -> list[str]:
        return list(self._components)

    def pause(self, name: str) -> None:
        """SIGSTOP the component's whole group: a CPU-throttled or frozen pod, heartbeats stop."""
        self._components[name].signal_group(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self._components[name].signal_group(signal.SIGCONT)

    def triggerer_of(self, dag_id: str, run_id: str, task_id: str) -> int | None:
        """The job id of the triggerer running the task's trigger, or None (no trigger, unassigned)."""
        ti = self.task_instance(dag_id, run_id, task_id) or {}
        trigger = ti.get("trigger") or {}
        holder = trigger.get("triggerer_id")
        return None if holder is None else int(holder)

    def check_alive(self) -> None:
        """Fail if any component has exited (called by every wait loop, so a crash fails fast)."""
        for name in self._components:
            self._check_alive(name)

    def _check_alive(self, name: str) -> None:
        component = self._components[name]
        if component.exit_code is not None:
            raise AirflowEnvError(
                f"airflow {name} exited with code {component.exit_code} "
                f"(log {component.log_path}):\n{self.logs_tail(name, 60)}"
            )

    def _wait_api_healthy(self, deadline: float) -> None:
        last_error = ""
        while True:
            self.check_alive()
            try:
                if self._http.get("/api/v2/monitor/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError as error:
                last_error = repr(error)
            if time.monotonic() > deadline:
                tail = self.logs_tail("api-server", 60)
                raise AirflowEnvError(f"api-server not healthy on {self.api_url} ({last_error}):\n{tail}")
            time.sleep(0.2)

    def _running_jobs(self, name: str) -> list[dict[str, Any]]:
        params = {"job_type": _JOB_TYPES[name], "job_state": "running", "order_by": "-id", "limit": 10}
        return list(self._request("GET", "/api/v2/jobs", params=params).json()["jobs"])

    def _latest_job_id(self, name: str) -> int:
        params = {"job_type": _JOB_TYPES[name], "order_by": "-id", "limit": 1}
        jobs = self._request("GET", "/api/v2/jobs", params=params).json()["jobs"]
        return int(jobs[0]["id"]) if jobs else 0

    def _wait_job_running(self, name: str, *, after_id: int, deadline: float) -> int:
        while True:
            self.check_alive()
            jobs = [job for job in self._running_jobs(name) if job["id"] > after_id]
            if jobs:
                return int(jobs[0]["id"])
            if time.monotonic() > deadline:
                tail = self.logs_tail(name, 60)
                job_type = _JOB_TYPES[name]
                raise AirflowEnvError(f"airflow {name} registered no running {job_type} in time:\n{tail}")
            time.sleep(0.2)

    # ----------------------------------------------------------------------------- HTTP / CLI
    def _request(
        self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs: Any
    ) -> httpx.Response:
        for attempt in (1, 2):
            if self._token is None:
                answer = self._http.get("/auth/token")
                answer.raise_for_status()
                self._token = answer.json()["access_token"]
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
            response = self._http.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._token = None
                continue
            break
        if response.status_code not in set(expect):
            raise AirflowEnvError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    def set_variable(self, key: str, value: str) -> None:
        """Create or update the Airflow Variable ``key``."""
        body = {"key": key, "value": value}
        created = self._request("POST", "/api/v2/variables", json=body, expect=(200, 201, 409))
        if created.status_code == 409:
            self._request("PATCH", f"/api/v2/variables/{key}", json=body, expect=(200,))

    def wait_for_task_doc(self, dag_id: str, task_id: str, needle: str, *, timeout: float = 120) -> None:
        """Wait until the parsed ``task_id`` documents ``needle`` (``doc_md``): for a value read when
        the DAG is parsed (e.g. from a Variable) that a task started in the triggerer carries."""
        self.wait_for_dag(dag_id, timeout=timeout)

        def parsed() -> bool:
            task = self.api("GET", f"/api/v2/dags/{dag_id}/tasks/{task_id}") or {}
            return needle in str(task.get("doc_md") or "")

        if not self.eventually(parsed, timeout=timeout):
            raise AirflowEnvError(
                f"{dag_id}.{task_id} was not parsed again with {needle!r} within {timeout}s"
            )

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``path`` like ``/api/v2/dags``) as an admin; the decoded JSON (None
        for an empty answer, e.g. a 204)."""
        response = self._request(method, path, **kwargs)
        return response.json() if response.content else None

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` in this environment (for what the REST API lacks)."""
        result = subprocess.run(
            [self._airflow, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AirflowEnvError(
                f"airflow {' '.join(args)} -> {result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result

    # ----------------------------------------------------------------------------- DAGs and runs
    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> None:
        """Wait until ``dag_id`` is parsed and registered, then unpause it. Fails at once on an
        import error in a file that mentions ``dag_id``."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            response = self._request("GET", f"/api/v2/dags/{dag_id}", expect=(200, 404))
            if response.status_code == 200:
                break
            errors = self._import_errors()
            mine = [e for e in errors if dag_id in self._dag_file_text(e["filename"])]
            if mine or time.monotonic() > deadline:
                detail = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in (mine or errors))
                why = "fails to import" if mine else f"not registered within {timeout}s"
                raise AirflowEnvError(
                    f"DAG {dag_id!r} {why}; import errors:\n{detail or '(none)'}\n"
                    f"dag-processor log:\n{self.logs_tail('dag-processor', 50)}"
                )
            time.sleep(0.5)
        self._request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def _import_errors(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/api/v2/importErrors", params={"limit": 100})["import_errors"])

    def _dag_file_text(self, filename: str) -> str:
        path = Path(filename) if Path(filename).is_absolute() else self.dags_folder / filename
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    def trigger(
        self, dag_id: str, *, conf: dict[str, Any] | None = None, logical_date: datetime | None = None
    ) -> str:
        """Start a manual run; its run_id."""
        body = {"conf": conf or {}, "logical_date": logical_date.isoformat() if logical_date else None}
        return str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]  # type: ignore[no-any-return]

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float) -> str:
        """Wait until the run is terminal; its state (``success`` / ``failed``)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL_RUN_STATES:
                return str(state)
            if time.monotonic() > deadline:
                tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
                summary = ", ".join(
                    f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis["task_instances"]
                )
                raise AirflowEnvError(
                    f"run {dag_id}/{run_id} still {state!r} after {timeout}s; tasks: {summary}\n"
                    + self._component_tails()
                )
            time.sleep(0.25)

    # ----------------------------------------------------------------------------- task instances
    def _ti_path(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return path if map_index < 0 else f"{path}/{map_index}"

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any] | None:
        response = self._request("GET", self._ti_path(dag_id, run_id, task_id, map_index), expect=(200, 404))
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    def task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
        """The task instance's state; None while it has none (or does not exist yet)."""
        ti = self.task_instance(dag_id, run_id, task_id, map_index)
        return None if ti is None else ti["state"]

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: set[str],
        *,
        timeout: float,
        map_index: int = -1,
        stop_on_terminal: bool = True,
    ) -> str:
        """Poll until the task is in one of ``states``; the state reached.

        Fails at ``timeout`` (or, with ``stop_on_terminal``, as soon as the task is in a terminal
        state not in ``states``) with the state, the task log and the scheduler/triggerer tails.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            state = self.task_state(dag_id, run_id, task_id, map_index)
            if state in states:
                return str(state)
            stuck = stop_on_terminal and state in TERMINAL_TASK_STATES
            if stuck or time.monotonic() > deadline:
                why = f"reached {state!r}" if stuck else f"still {state!r} after {timeout}s"
                raise AirflowEnvError(
                    f"task {dag_id}/{run_id}/{task_id}[{map_index}] {why}, wanted one of {sorted(states)}\n"
                    f"--- task log:\n{self._safe_task_log(dag_id, run_id, task_id, map_index)}\n"
                    + self._component_tails()
                )
            time.sleep(0.25)

    def task_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int | None = None,
        map_index: int = -1,
    ) -> str:
        """The task's full log (worker and trigger lines) as text, one line per record.

        ``try_number`` defaults to the current try; "" when the task has not started.
        """
        if try_number is None:
            ti = self.task_instance(dag_id, run_id, task_id, map_index)
            try_number = 0 if ti is None else int(ti["try_number"])
        if try_number < 1:
            return ""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/logs/{try_number}"
        content = self.api("GET", path, params={"full_content": "true", "map_index": map_index})["content"]
        return "\n".join(_render_log_record(record) for record in content)

    def _safe_task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        try:
            text = self.task_log(dag_id, run_id, task_id, map_index=map_index)
        except Exception as error:  # evidence for a failure message: never mask the failure itself
            return f"(could not read the task log: {error!r})"
        return "\n".join(text.splitlines()[-200:])

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, *, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The XCom value as a downstream task's ``xcom_pull`` gets it (deserialized by the API
        server); fails when there is none. Never JSON-decoded here: a value stored as a JSON
        string (e.g. pushed through an end event, double-encoded) must show as the string it is."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/xcomEntries/{key}"
        return self.api("GET", path, params={"map_index": map_index, "deserialize": "true"})["value"]

    def set_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, *, map_index: int = -1
    ) -> dict[str, Any]:
        """Mark a task ``success`` / ``failed`` / ``skipped`` as a user does in the UI (PATCH); the
        updated task instance."""
        path = self._ti_path(dag_id, run_id, task_id, map_index)
        return self.api("PATCH", path, json={"new_state": state})["task_instances"][0]  # type: ignore[no-any-return]

    def clear_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        map_index: int | None = None,
        only_failed: bool = False,
        reset_dag_run: bool = True,
    ) -> list[dict[str, Any]]:
        """Clear a task instance (it runs again), as the UI's "Clear" does; the cleared instances."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id if map_index is None else [task_id, map_index]],
            "only_failed": only_failed,
            "reset_dag_runs": reset_dag_run,
        }
        return list(
            self.api("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]
        )

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        """Mark a DAG run ``failed`` / ``success`` as the UI does (its unfinished tasks with it)."""
        self._request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", json={"state": state})

    def delete_run(self, dag_id: str, run_id: str) -> None:
        """Delete a DAG run that is not running (its task instances go with it), as the UI does."""
        self._request("DELETE", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", expect=(204,))

    # ----------------------------------------------------------------------------- process logs
    def log_path(self, process: str) -> Path:
        return self.proc_logs / f"{process}.log"

    def logs_tail(self, process: str, n: int = 50) -> str:
        """The last ``n`` lines of a component's output (``api-server``, ``scheduler``, ...)."""
        return _tail(self.log_path(process), n)

    def executor_enqueues(self, dag_id: str, run_id: str, task_id: str) -> int:
        """How often the scheduler handed this task instance to the executor (a worker start each)."""
        path = self.log_path("scheduler")
        text = path.read_text(errors="replace") if path.exists() else ""
        ti = f"<TaskInstance: {dag_id}.{task_id} {run_id} "
        return sum(line.count(ti) for line in text.splitlines() if "Trying to enqueue tasks: [" in line)

    def scheduler_race_seen(self) -> bool:
        """Whether the scheduler hit apache/airflow#71580 (a late executor event failed a deferred task)."""
        path = self.log_path("scheduler")
        return path.exists() and RACE_71580 in path.read_text(errors="replace")

    def _component_tails(self, n: int = 50) -> str:
        tails = "".join(
            f"--- {name} log (last {n} lines):\n{self.logs_tail(name, n)}\n"
            for name in ("scheduler", "triggerer")
        )
        if self.scheduler_race_seen():
            tails += f"NOTE: the scheduler log shows apache/airflow#71580 ({RACE_71580!r})\n"
        return tails

    def eventually(self, check: Callable[[], Any], *, timeout: float, interval: float = 0.25) -> Any:
        """Poll ``check`` until it returns something truthy; that value."""
        deadline = time.monotonic() + timeout
        while not (value := check()):
            if time.monotonic() > deadline:
                raise AirflowEnvError(f"not true within {timeout}s: {check}")
            time.sleep(interval)
        return value


def _render_log_record(record: dict[str, Any]) -> str:
    """One structured log record of the API as a line: ``timestamp level event key=value ...``."""
    record = dict(record)
    head = [str(record.pop(key)) for key in ("timestamp", "level") if record.get(key)]
    event = str(record.pop("event", ""))
    rest = " ".join(f"{key}={value}" for key, value in record.items() if key not in ("timestamp", "level"))
    return " ".join([*head, event, rest]).rstrip()
