"""A task's log budget (``max_log_bytes``): how many bytes of its containers' logs it may show, and
what the task log says once they are spent (with the command that shows the rest)."""

from __future__ import annotations

from airflow_k8s_async._kube.logs import LogCursor
from airflow_k8s_async.settings import MAX_LOG_BYTES, setting

__all__ = [
    "LogBudget",
    "budget_note",
    "log_budget",
    "rest_of_log",
]

# A task's log budget: past it one line says so and streaming stops (the task goes on). Per task
# with the max_log_bytes keyword, else [kubernetes_async] max_log_bytes; 0: no budget.
DEFAULT_MAX_LOG_BYTES = MAX_LOG_BYTES.default


def log_budget(value: int | None) -> int:
    """The log budget in bytes (0: none): ``value``, else the ``[kubernetes_async]`` setting where
    the trigger runs (a wrong setting is said, and the default used: no task fails for it)."""
    if value is not None:
        return value
    return setting(MAX_LOG_BYTES)


def rest_of_log(*, namespace: str, pod: str, container: str, cursor: LogCursor) -> str:
    """The command that shows a container's log from where ``cursor`` stopped."""
    since = cursor.since_time()
    return f"kubectl logs -n {namespace} {pod} -c {container}" + (f" --since-time={since}" if since else "")


def budget_note(
    *, limit: int, lines: int, namespace: str, pod: str, container: str, cursor: LogCursor
) -> str:
    """What the task log says once the task's log budget is spent."""
    where = rest_of_log(namespace=namespace, pod=pod, container=container, cursor=cursor)
    return (
        f"This task's log reached its budget of {limit} bytes (max_log_bytes) after {lines} lines: "
        f"the containers' logs are not shown any further; the task goes on. The rest: {where} "
        "(and the other containers' with their own -c)"
    )


class LogBudget:
    """Bytes of log lines a task may show; ``take(line)`` is None from the first line past it on."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self.shown = 0
        self.spent = False

    def add_earlier(self, shown: int) -> None:
        """Count what an earlier trigger of the task showed (spent once it reaches the limit)."""
        self.shown += shown
        self.spent = self.spent or (bool(self.limit) and self.shown >= self.limit)

    def take(self, line: str) -> int | None:
        """The line's size in bytes if it may be shown (and is counted), else None."""
        if self.spent:
            return None
        size = len(line.encode("utf-8", errors="replace")) + 1  # the newline
        if self.limit and self.shown + size > self.limit:
            self.spent = True
            return None
        self.shown += size
        return size
