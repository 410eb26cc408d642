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

DAGS_FOLDER = Path(__file__).parents[1] / "e2e" / "dags"

_started: list[AirflowEnv] = []


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnv]:
    """A running Airflow; its home (DB, task logs, ``proc-logs/<component>.log``) is kept by pytest's
    tmp-dir retention for a post-mortem."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = AirflowEnv(home=home, dags_folder=DAGS_FOLDER, overrides=kubernetes_connection())
    env.start()
    _started.append(env)
    try:
        yield env
    finally:
        env.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report apache/airflow#71580 whenever the scheduler hit it, whether or not a test failed."""
    for env in _started:
        if env.scheduler_race_seen():
            where = env.log_path("scheduler")
            terminalreporter.write_line(
                f"e2e: the scheduler hit apache/airflow#71580 ({RACE_71580!r}); see {where}", yellow=True
            )
