"""The pod operator's keywords beyond the pod's shape (``_kube.podspec.PodKeywords``): the ones
accepted with no effect, the kill actions, and the parse-time conversions and checks the pod and Job
operators share."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from airflow_k8s_async._kube.k8s_objects import to_api_dict
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.triggers.finish import POD_FINISH_ACTIONS
from airflow_k8s_async.triggers.logstream import LogChoice

__all__ = [
    "KILL_ACTIONS",
    "NO_EFFECT",
    "api_value",
    "exit_codes",
    "log_choice",
    "pod_actions",
]

KILL_ACTIONS = ("delete_pod", "keep_pod")
# Keywords accepted so DAGs written for the provider keep working, with no effect in our design.
NO_EFFECT = (
    "poll_interval",  # no polling: the trigger is told of changes by the shared watch
    "startup_check_interval_seconds",  # idem
    "base_container_status_polling_interval",  # idem
    "logging_interval",  # logs stream into the task log while deferred, continuously
    "durable",
    "log_events_on_startup",
    "log_pod_spec_on_failure",
    "callbacks",
    "progress_callback",
    "trigger_kwargs",
    "log_formatter",
)


def log_choice(value: Iterable[str] | str | bool | None) -> LogChoice:
    """``container_logs`` / ``init_container_logs`` as the triggers take them (JSON-safe)."""
    return value if value is None or isinstance(value, (bool, str)) else list(value)


def api_value(value: Any, *, where: str) -> Any:
    """Client model objects (``k8s.V1Volume(...)``) become API dicts, so Jinja renders inside them;
    ``where`` (the keyword) names the value in the error for one that has no API form."""
    return value if isinstance(value, (str, bytes)) or value is None else to_api_dict(value, where=where)


def exit_codes(value: int | Container[int] | None) -> tuple[int, ...]:
    """``skip_on_exit_code`` as a tuple (it travels to the trigger), checked at parse time."""
    if value is None:
        return ()
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    codes = tuple(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else None
    if codes is None or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        raise ConfigurationError(
            f"skip_on_exit_code={value!r}: use an exit code or a list of them, e.g. [3, 100]"
        )
    return codes


def pod_actions(
    *, on_finish_action: str, on_kill_action: str, is_delete_operator_pod: bool | None
) -> tuple[str, str]:
    """``on_finish_action`` (``is_delete_operator_pod``, the provider's deprecated spelling, wins
    when given) and ``on_kill_action``, checked at parse time."""
    if is_delete_operator_pod is not None:
        on_finish_action = "delete_pod" if is_delete_operator_pod else "keep_pod"
    if on_finish_action not in POD_FINISH_ACTIONS:
        raise ConfigurationError(f"on_finish_action={on_finish_action!r}: use one of {POD_FINISH_ACTIONS}")
    if on_kill_action not in KILL_ACTIONS:
        raise ConfigurationError(f"on_kill_action={on_kill_action!r}: use one of {KILL_ACTIONS}")
    return on_finish_action, on_kill_action
