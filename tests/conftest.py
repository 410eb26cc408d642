"""Suite-wide rules.

- In CI (CI=true) a skipped integration or e2e test is a failure, never a skip.
- The soak (``--soak-rounds N``, tests marked ``soak``) runs only when asked: not collected else.
- An async test that leaves a task of its own running fails: what the package shares on the loop
  (clients, hubs, channels) is closed first, anything still pending after that leaked.
- Airflow reads ``AIRFLOW_HOME`` (and its ``airflow.cfg``, which may configure a secrets backend)
  once, at import: the suite gets an empty home of its own so nothing from ``~/airflow`` leaks in;
  connections are defined per test with ``AIRFLOW_CONN_<ID>`` environment variables.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest

from airflow_k8s_async._kube.perloop import close_loop_resources

pytest_plugins = ["tests.support.cluster_fixtures", "tests.support.airflow_fixture"]

_HOME = tempfile.mkdtemp(prefix="airflow-k8s-async-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _HOME
os.environ.pop("AIRFLOW__SECRETS__BACKEND", None)
os.environ.pop("_AIRFLOW_PROCESS_CONTEXT", None)

_REAL = ("integration", "e2e", "reliability")


def _needs_real_components(item: pytest.Item) -> bool:
    parts = Path(str(item.fspath)).parts
    return any(part in _REAL for part in parts)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-rounds",
        type=int,
        default=0,
        help="run the reliability soak (tests marked soak) for this many rounds; 0: leave it out",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kubernetes_min_version(version): needs a cluster at least this new (e.g. '1.21'); skipped, "
        "also in CI, on an older one: the only skip CI allows",
    )
    config.addinivalue_line("markers", "soak: a long reliability soak, run with --soak-rounds N")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak-rounds"):
        return
    soaks = [item for item in items if item.get_closest_marker("soak")]
    if soaks:  # deselected, not skipped: CI counts a skipped reliability test as a failure
        config.hook.pytest_deselected(items=soaks)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    version_gated = report.skipped and "needs Kubernetes >=" in str(report.longrepr)
    if report.skipped and os.environ.get("CI") and _needs_real_components(item) and not version_gated:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every integration test: {reason}"


@pytest.fixture(autouse=True)
def _no_task_left_behind(request: pytest.FixtureRequest) -> None:
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        request.getfixturevalue("_tasks_checked")


@pytest.fixture
async def _tasks_checked() -> AsyncIterator[None]:
    """Runs on the test's loop; torn down after the test's other fixtures."""
    before = asyncio.all_tasks()
    yield
    await close_loop_resources()
    await asyncio.sleep(0)  # cancellations settle
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done() and t not in before]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    assert not left, f"the test left {len(left)} task(s) running: " + ", ".join(
        f"{t.get_name()} {t.get_coro()}" for t in left
    )
