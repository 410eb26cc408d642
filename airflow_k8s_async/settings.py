"""Every configuration option this package reads, declared once: name, type, default, meaning.

``[kubernetes_async]`` is ours (declared to Airflow by ``get_provider_info``, derived from
``OPTIONS``); ``[armada_operator]`` is armada-airflow's, read for the same defaults. Values are
read when asked (:func:`setting`), never at import time: a DAG file's import must not depend on the
configuration of the process that parses it. A number or a flag that cannot be read is logged and
the default used, so no task fails for it; a word that is not one of its choices (``delete_policy =
never``) fails the task, naming the option: its default could delete what was meant to be kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from airflow_k8s_async.errors import ConfigurationError

__all__ = [
    "ARMADA_ACKNOWLEDGEMENT_TIMEOUT",
    "ARMADA_DRY_RUN",
    "ARMADA_POLL_INTERVAL",
    "ARMADA_REATTACH_POLICY",
    "ARMADA_SECTION",
    "DEFAULT_EXECUTION_KIND",
    "DELETE_POLICY",
    "MAX_LOG_BYTES",
    "OPTIONS",
    "SECTION",
    "STARTUP_TIMEOUT_SECONDS",
    "START_FROM_TRIGGER",
    "WAIT_BEFORE_DEFER_SECONDS",
    "WATCH_LINGER_SECONDS",
    "WATCH_TIMEOUT_SECONDS",
    "Option",
    "provider_config",
    "setting",
]

T = TypeVar("T", int, float, str, bool)

SECTION = "kubernetes_async"
ARMADA_SECTION = "armada_operator"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Option(Generic[T]):
    """One option: ``kind`` is its Python type; ``choices`` the values it may take (strings)."""

    section: str
    name: str
    kind: type[T]
    default: T
    description: str
    example: str
    choices: tuple[str, ...] = ()


def _ours(name: str, kind: type[T], default: T, description: str, example: str, **more: Any) -> Option[T]:
    return Option(SECTION, name, kind, default, description, example, **more)


WATCH_TIMEOUT_SECONDS = _ours(
    "watch_timeout_seconds",
    int,
    300,
    "Server-side timeout of one watch request, in seconds. When it ends, the watch resumes from the "
    "last resourceVersion it saw.",
    "600",
)
WATCH_LINGER_SECONDS = _ours(
    "watch_linger_seconds",
    float,
    10.0,
    "How long a shared watch stays open after its last trigger stopped using it, in seconds, so a "
    "trigger that starts soon after reuses it.",
    "30",
)
DELETE_POLICY = _ours(
    "delete_policy",
    str,
    "IfSucceeded",
    "KubernetesJobOperator: what to delete at the end and on kill: Never, Always, IfFailed or "
    "IfSucceeded (per task: delete_policy=).",
    "Always",
    choices=("Never", "Always", "IfFailed", "IfSucceeded"),
)
STARTUP_TIMEOUT_SECONDS = _ours(
    "startup_timeout_seconds",
    float,
    120.0,
    "KubernetesJobOperator: how long pods may take to start, in seconds.",
    "300",
)
DEFAULT_EXECUTION_KIND = _ours(
    "default_execution_kind",
    str,
    "Job",
    "KubernetesJobOperator: what an image-only task (no body) runs as, Job or Pod.",
    "Pod",
    choices=("Job", "Pod"),
)
START_FROM_TRIGGER = _ours(
    "start_from_trigger",
    bool,
    False,
    "The pod, Job and Armada operators: start tasks in the triggerer (the default of the "
    "start_from_trigger keyword): what the task runs is created and watched there, and the task never "
    "runs on a worker; a task that cannot start there runs the default way. Needs Airflow 3.3 or newer.",
    "True",
)
MAX_LOG_BYTES = _ours(
    "max_log_bytes",
    int,
    100 * 1024 * 1024,
    "A task's log budget in bytes (the default of the max_log_bytes keyword): past it, one line in the "
    "task log says so and the containers' logs are not shown further; the task goes on. 0: no budget.",
    "10485760",
)
WAIT_BEFORE_DEFER_SECONDS = _ours(
    "wait_before_defer_seconds",
    float,
    0.0,
    "How long an operator waits on the worker after submitting before it defers, in seconds (opt-in, "
    "it holds the worker slot meanwhile): work that ends by then finishes on the worker. 0, the "
    "default, defers at once; the trigger then ends the task in the triggerer.",
    "5",
)

# armada-airflow's, read for the defaults of ArmadaOperator's keywords (not declared by us).
ARMADA_POLL_INTERVAL = Option(
    ARMADA_SECTION, "default_poll_interval_s", int, 30, "ArmadaOperator: poll_interval's default.", "30"
)
ARMADA_ACKNOWLEDGEMENT_TIMEOUT = Option(
    ARMADA_SECTION,
    "default_job_acknowledgement_timeout_s",
    int,
    5 * 60,
    "ArmadaOperator: job_acknowledgement_timeout's default.",
    "300",
)
ARMADA_DRY_RUN = Option(
    ARMADA_SECTION, "default_dry_run", bool, False, "ArmadaOperator: dry_run's default.", "True"
)
ARMADA_REATTACH_POLICY = Option(
    ARMADA_SECTION, "reattach_policy", str, "never", "ArmadaOperator: reattach_policy's default.", "running"
)

OPTIONS: tuple[Option[Any], ...] = (
    WATCH_TIMEOUT_SECONDS,
    WATCH_LINGER_SECONDS,
    DELETE_POLICY,
    STARTUP_TIMEOUT_SECONDS,
    DEFAULT_EXECUTION_KIND,
    START_FROM_TRIGGER,
    MAX_LOG_BYTES,
    WAIT_BEFORE_DEFER_SECONDS,
    ARMADA_POLL_INTERVAL,
    ARMADA_ACKNOWLEDGEMENT_TIMEOUT,
    ARMADA_DRY_RUN,
    ARMADA_REATTACH_POLICY,
)

_TRUE, _FALSE = {"true", "t", "1", "yes", "on"}, {"false", "f", "0", "no", "off"}


def _text(value: Any) -> str:
    """The option's value as the configuration file writes it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parse(option: Option[T], raw: str) -> T:
    if option.kind is bool:
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ValueError(raw)
        return option.kind(word in _TRUE)
    value = option.kind(raw.strip())
    if option.choices and value not in option.choices:
        raise ValueError(raw)
    if isinstance(value, (int, float)) and value < 0:
        raise ValueError(raw)
    return value


def setting(option: Option[T]) -> T:
    """The option's configured value, read now; its default when unset or not a number or flag it
    can read; a word not among its choices raises ConfigurationError."""
    from airflow.configuration import conf  # here: importing this module reads nothing

    raw = conf.get(option.section, option.name, fallback=None)
    if raw is None:
        return option.default
    try:
        return _parse(option, str(raw))
    except ValueError:
        if option.choices:
            raise ConfigurationError(
                f"[{option.section}] {option.name} = {raw!r}: use one of {', '.join(option.choices)}"
            ) from None
        log.warning(
            "[%s] %s=%r is not a %s >= 0; using %s",
            option.section,
            option.name,
            raw,
            option.kind.__name__,
            _text(option.default),
        )
        return option.default


def provider_config() -> dict[str, Any]:
    """``get_provider_info()["config"]``: our section, from ``OPTIONS``."""
    kinds = {int: "integer", float: "float", str: "string", bool: "boolean"}
    options = {
        option.name: {
            "description": option.description,
            "version_added": "0.1.0",
            "type": kinds[option.kind],
            "example": option.example,
            "default": _text(option.default),
        }
        for option in OPTIONS
        if option.section == SECTION
    }
    description = "Settings of airflow-k8s-async's shared Kubernetes watches (triggerer)."
    return {SECTION: {"description": description, "options": options}}
