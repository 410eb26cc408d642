"""What the pod and Job operators share: reaching the cluster, waiting briefly, deciding who ends."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from airflow.configuration import conf
from airflow.sdk import Context
from airflow.triggers.base import StartTriggerArgs
from airflow.version import version as airflow_version

from airflow_k8s_async._kube.podsubmit import identity_labels
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.hooks.kubernetes import KubernetesAsyncHook, KubeTarget
from airflow_k8s_async.settings import MAX_LOG_BYTES, START_FROM_TRIGGER, WAIT_BEFORE_DEFER_SECONDS, setting
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL, CONNECTION_FIELDS, KubeTrigger
from airflow_k8s_async.triggers.events import Event
from airflow_k8s_async.triggers.finish import ENDS, End

__all__ = [
    "KubeOperatorMixin",
    "check_start_from_trigger",
    "checked_max_log_bytes",
    "checked_seconds",
    "custom_xcom_backend",
    "pulls_xcom",
    "start_from_trigger_default",
    "static_path",
    "task_identity",
    "templated",
    "wait_before_defer_seconds",
]


def task_identity(context: Context) -> dict[str, str]:
    """The labels of every try of the task instance (an earlier try's objects are found by them)."""
    ti = context["ti"]
    return identity_labels(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=context["run_id"],
        map_index=getattr(ti, "map_index", None),
    )


def wait_before_defer_seconds(value: float | None) -> float:
    """The keyword, else ``[kubernetes_async] wait_before_defer_seconds`` (0: defer at once)."""
    return value if value is not None else setting(WAIT_BEFORE_DEFER_SECONDS)


def start_from_trigger_default(value: bool | None) -> bool:
    """The keyword, else ``[kubernetes_async] start_from_trigger`` (False)."""
    return value if value is not None else setting(START_FROM_TRIGGER)


def checked_max_log_bytes(value: Any) -> int | None:
    """The ``max_log_bytes`` keyword, checked at parse time (None: the ``[kubernetes_async]``
    setting, read where the log streams)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ConfigurationError(
        f"max_log_bytes={value!r}: use a number of bytes (e.g. 50 * 1024 * 1024), 0 for no budget, "
        f"or None for [{MAX_LOG_BYTES.section}] {MAX_LOG_BYTES.name}"
    )


def checked_seconds(keyword: str, value: Any, *, optional: bool = False) -> Any:
    """A keyword that is a number of seconds, checked at parse time (a string or a negative number
    would fail only later, in the triggerer); None passes where ``optional``."""
    if (value is None and optional) or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    ):
        return value
    raise ConfigurationError(f"{keyword}={value!r}: use a number of seconds (0 or more), e.g. 300")


def pulls_xcom(value: Any) -> bool:
    """Whether a template field reads an XCom: ``xcom_pull`` in a string, or an XComArg."""
    if isinstance(value, str):
        return "xcom_pull" in value
    if isinstance(value, Mapping):
        return any(pulls_xcom(k) or pulls_xcom(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return any(pulls_xcom(v) for v in value)
    return type(value).__name__.endswith("XComArg")


_DAG_JINJA = (
    "user_defined_macros",
    "user_defined_filters",
    "jinja_environment_kwargs",
    "template_searchpath",
)


def check_start_from_trigger(task: Any) -> None:
    """What no task started in the triggerer can have, refused at parse time naming the keyword:
    the triggerer has only the serialized DAG and the task's context, never a worker."""
    if not AIRFLOW_HAS_TRIGGER_ON_KILL:
        raise ConfigurationError(
            f"start_from_trigger needs Airflow >= 3.3 (where the triggerer renders templates), not "
            f"{airflow_version}"
        )
    if not task.deferrable:
        raise ConfigurationError("start_from_trigger needs deferrable=True: the triggerer does the waiting")
    if task.wait_before_defer_seconds > 0:
        raise ConfigurationError(
            "start_from_trigger: wait_before_defer_seconds waits on a worker; set it to 0"
        )
    dag: Any = task.dag if task.has_dag() else None
    custom = [name for name in _DAG_JINJA if getattr(dag, name, None)] if dag is not None else []
    if (
        dag is not None
        and getattr(dag, "template_undefined", jinja2.StrictUndefined) is not jinja2.StrictUndefined
    ):
        custom.append("template_undefined")
    if custom:
        raise ConfigurationError(
            f"start_from_trigger: the DAG sets {', '.join(custom)}, which the triggerer cannot "
            "render with (it has only the serialized DAG)"
        )
    if task.render_template_as_native_obj or getattr(dag, "render_template_as_native_obj", False):
        raise ConfigurationError("start_from_trigger: render_template_as_native_obj needs a worker")
    for name in task.template_fields:
        if pulls_xcom(getattr(task, name, None)):
            raise ConfigurationError(
                f"start_from_trigger: {name} pulls an XCom (xcom_pull or a task's output), which "
                "Airflow's triggerer cannot serve to a template: run this task the default way"
            )


def templated(value: Any) -> bool:
    """Whether ``value`` holds Jinja: known only once rendered, so checked then, not at parse time."""
    return "{{" in str(value) or "{%" in str(value)


def static_path(keyword: str, path: Any) -> str:
    """A file path read at parse time for a task started in the triggerer (which may not have it)."""
    if templated(path):
        raise ConfigurationError(
            f"start_from_trigger: {keyword} is templated; give a path the dag-processor reads"
        )
    return str(path)


def custom_xcom_backend() -> str | None:
    """The configured XCom backend when it is not Airflow's own (the triggerer writes XComs to the
    database directly, past any backend)."""
    try:
        from airflow.sdk.bases.xcom import BaseXCom
        from airflow.sdk.execution_time.xcom import XCom
    except ImportError:  # pragma: no cover - an SDK without these modules: assume a custom one
        return str(conf.get("core", "xcom_backend", fallback="?"))
    return None if XCom is BaseXCom else f"{XCom.__module__}.{XCom.__qualname__}"


def _listeners() -> list[str]:
    """Listener plugins a worker would call, but for Airflow's example one (it only logs, and is
    installed whenever ``load_examples`` is on)."""
    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # pragma: no cover
        return []
    names = [getattr(p, "__name__", type(p).__name__) for p in get_listener_manager().pm.get_plugins()]
    return [name for name in names if not name.startswith("airflow.example_dags.")]


class KubeOperatorMixin:
    """The operator provides the connection attributes, ``wait_before_defer_seconds`` and
    ``execution_timeout`` (BaseOperator's)."""

    kubernetes_conn_id: str | None
    config_file: str | None
    cluster_context: str | None
    in_cluster: bool | None
    wait_before_defer_seconds: float
    execution_timeout: Any
    log: Any

    @property
    def hook(self) -> KubernetesAsyncHook:
        return KubernetesAsyncHook(
            self.kubernetes_conn_id,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
            in_cluster=self.in_cluster,
        )

    def _init_start_from_trigger(self, value: bool | None) -> None:
        """Set ``start_from_trigger`` (the keyword, else the config default) and the trigger that
        starts the task. A task that asked for it and cannot have it is refused; one that only has
        the config default runs the default way, saying why."""
        task: Any = self
        task.start_from_trigger = start_from_trigger_default(value)
        if not task.start_from_trigger:
            return
        try:
            task.start_trigger_args = self._start_trigger_args()
        except ConfigurationError as exc:
            if value:  # asked for by this task: refused, naming the keyword
                raise
            self.log.info("Not starting %s in the triggerer: %s", task.task_id, exc)
            task.start_from_trigger = False

    def _start_trigger_args(self) -> StartTriggerArgs:
        """The trigger that creates the task's resources and waits (``start_from_trigger``)."""
        raise ConfigurationError(f"start_from_trigger is not supported by {type(self).__name__}")

    def _target(self) -> KubeTarget:
        return self.hook.get_conn()

    def _connection_kwargs(self) -> dict[str, Any]:
        """How the task's triggers reach the cluster (never credentials: the triggerer resolves them)."""
        return {name: getattr(self, name) for name in CONNECTION_FIELDS}

    def _dag_folder(self) -> str | None:
        """Where relative file keywords are read from."""
        task: Any = self
        return os.path.dirname(task.dag.fileloc) if task.has_dag() and task.dag.fileloc else None

    def _deadline(self, context: Context) -> float | None:
        """``execution_timeout`` as an absolute time for the trigger, counted from the task's start."""
        if self.execution_timeout is None:
            return None
        started = getattr(context["ti"], "start_date", None)
        base = started.timestamp() if started is not None else time.time()
        return float(base + self.execution_timeout.total_seconds())

    async def _wait_briefly(self, trigger: KubeTrigger) -> Event | None:
        """The trigger's own wait, on the worker, for ``wait_before_defer_seconds``: what ends by then
        finishes without a defer/resume round trip (and clear of apache/airflow#71580)."""
        if self.wait_before_defer_seconds <= 0:
            return None
        try:
            return await asyncio.wait_for(trigger.wait(), self.wait_before_defer_seconds)
        except asyncio.TimeoutError:
            return None

    def _triggerer_ends(
        self, *, try_number: int | None, xcoms: bool, worker_only: Sequence[str] = ()
    ) -> tuple[tuple[End, ...], dict[str, str]]:
        """The outcomes the trigger may end this task with itself, without a worker, and why the
        others resume on one (the trigger says so in the task log when it resumes).

        Airflow ends a task from the triggerer without its worker-side steps: no listeners, no
        ``on_success_callback`` / ``on_skipped_callback``, no e-mail, no asset events, XComs written
        past a custom backend, no mapped expansion; before 3.3 no retries either (failure callbacks
        run through the dag-processor). ``worker_only`` names keywords holding callables that only
        a worker can run (everything resumes then). ``try_number`` None: the first try.
        """
        task: Any = self
        everything: list[str] = [f"{name} is set (a callable, run on a worker)" for name in worker_only]
        if listeners := _listeners():
            everything.append(f"listeners {', '.join(listeners)} are installed (they run on a worker)")
        if getattr(task, "outlets", None):
            everything.append("outlets are set (asset events are emitted by a worker)")
        if getattr(task, "multiple_outputs", False):
            everything.append("multiple_outputs is set")
        if xcoms and (backend := custom_xcom_backend()):
            everything.append(f"XComs go through the custom backend {backend}")
        if xcoms and task.has_dag() and next(task.iter_mapped_dependants(), None) is not None:
            everything.append("a downstream task is mapped over this task's XCom")
        reasons: dict[End, list[str]] = {end: list(everything) for end in ENDS}
        if getattr(task, "on_success_callback", None):
            reasons["success"].append("on_success_callback is set")
        if getattr(task, "on_skipped_callback", None):
            reasons["skipped"].append("on_skipped_callback is set")
        if getattr(task, "email", None) and (task.email_on_failure or task.email_on_retry):
            reasons["failed"].append("e-mail on failure or retry is set")
        if not AIRFLOW_HAS_TRIGGER_ON_KILL and (try_number or 1) <= (task.retries or 0):
            reasons["failed"].append(
                "retries are left (Airflow < 3.3 retries only a task failed on a worker)"
            )
        why: dict[str, str] = {
            end: "; ".join(dict.fromkeys(found)) for end, found in reasons.items() if found
        }
        return tuple(end for end in ENDS if end not in why), why
