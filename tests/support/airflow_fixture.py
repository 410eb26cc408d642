"""The ``airflow`` fixture: one real Airflow 3.3 (api-server, scheduler, dag-processor, triggerer)
per test session, on SQLite and loopback, serving the DAGs in ``tests/e2e/dags``. A pytest plugin
(see tests/conftest.py), shared by the end-to-end and the reliability tests.

It never skips: if a component cannot start, every test using it fails with that component's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.airflow_env import RACE_71580, AirflowEnv, kubernetes_connection
from tests.support import kube
from tests.support.identities import shipped_identities

DAGS_FOLDER = Path(__file__).parents[1] / "e2e" / "dags"

_started: list[AirflowEnv] = []


def connections(kubeconfig: Path) -> dict[str, str]:
    """``kubernetes_default``, and ``kube_mirror``: the same with the provider's sidecar-image extra
    (the only image the local cluster has: the default sidecar image cannot be pulled)."""
    mirror = {"xcom_sidecar_container_image": kube.IMAGE}
    return {
        **kubernetes_connection(kubeconfig),
        **kubernetes_connection(kubeconfig, conn_id="kube_mirror", **mirror),
    }


def admin_tokens() -> tuple[str, ...]:
    users = kube.kubeconfig_dict().get("users") or []
    return tuple(str(u["user"]["token"]) for u in users if (u.get("user") or {}).get("token"))


def tokens_in_logs(home: Path, tokens: tuple[str, ...]) -> list[str]:
    """The log files under ``home`` that hold one of ``tokens``."""
    found = []
    for path in sorted(home.rglob("*.log")):
        text = path.read_text(errors="replace")
        if any(token in text for token in tokens):
            found.append(str(path.relative_to(home)))
    return found


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[AirflowEnv]:
    """A running Airflow whose workers and triggerer are the service accounts of deploy/rbac
    (``tests/support/identities.py``); its home (DB, task logs, ``proc-logs/<component>.log``) is
    kept by pytest's tmp-dir retention for a post-mortem. At the end, no task or component log may
    hold a token of theirs or of the admin's kubeconfig (an error in the last test's teardown)."""
    home = tmp_path_factory.mktemp("airflow_home")
    with shipped_identities(request.getfixturevalue("kube_api"), home) as ids:
        env = AirflowEnv(
            home=home,
            dags_folder=DAGS_FOLDER,
            overrides=connections(ids.worker),
            component_overrides={"triggerer": connections(ids.triggerer)},
        )
        env.start()
        _started.append(env)
        try:
            yield env
        finally:
            env.stop()
        leaked = tokens_in_logs(home, ids.tokens + admin_tokens())
        assert not leaked, f"a Kubernetes token is in these Airflow logs: {leaked}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report apache/airflow#71580 whenever the scheduler hit it, whether or not a test failed."""
    for env in _started:
        if env.scheduler_race_seen():
            where = env.log_path("scheduler")
            terminalreporter.write_line(
                f"e2e: the scheduler hit apache/airflow#71580 ({RACE_71580!r}); see {where}", yellow=True
            )
