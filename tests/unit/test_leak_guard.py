"""The suite's guard (tests/conftest.py) fails an async test that leaves a task running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_test_that_leaves_a_task_running_fails() -> None:
    example = Path(__file__).with_name("leaky_example.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "left 1 task(s) running: forgotten" in done.stdout, done.stdout[-2000:]
