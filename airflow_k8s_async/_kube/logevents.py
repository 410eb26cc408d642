"""``::kube_api:NAME=VALUE`` lines in container logs, as airflow-kubernetes-job-operator reads them.

``::kube_api:xcom={"key": value}`` pushes each key to XCom; any other name is an event handed to
the operator's ``on_kube_api_event``. The value is kept as the raw text after ``=``.
"""

from __future__ import annotations

import re

# The job-operator's own pattern, so existing containers need no change.
KUBE_API_LINE = re.compile(r"^\s*[:]{2}kube_api[:]([a-zA-Z0-9_-]+)[=](.*)$")


def parse_kube_api_line(line: str) -> tuple[str, str] | None:
    """(name, raw value) for a ``::kube_api:`` line, else None."""
    match = KUBE_API_LINE.match(line)
    return (match.group(1), match.group(2)) if match else None
