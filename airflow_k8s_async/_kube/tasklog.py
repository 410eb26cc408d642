"""The logger a step reports to: a task's (structlog, on a worker), a trigger's (stdlib logging, routed
to the task log by the triggerer) or a shared one. Only what the code calls."""

from __future__ import annotations

from typing import Protocol

__all__ = ["TaskLog"]


class TaskLog(Protocol):
    def debug(self, msg: str, /, *args: object) -> object: ...

    def info(self, msg: str, /, *args: object) -> object: ...

    def warning(self, msg: str, /, *args: object) -> object: ...

    def error(self, msg: str, /, *args: object) -> object: ...
