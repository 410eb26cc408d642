"""Suite-wide rules: in CI (CI=true) a skipped integration or e2e test is a failure, never a skip."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

_REAL = ("integration", "e2e")


def _needs_real_components(item: pytest.Item) -> bool:
    parts = Path(str(item.fspath)).parts
    return any(part in _REAL for part in parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and _needs_real_components(item):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every integration test: {reason}"
