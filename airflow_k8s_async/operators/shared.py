"""What the pod and Job operators share: reaching the cluster, waiting briefly, deciding who ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from airflow.configuration import conf
from airflow.sdk import Context

from airflow_k8s_async.hooks.kubernetes import KubernetesAsyncHook, KubeTarget
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL, SECTION, KubeTrigger
from airflow_k8s_async.triggers.finish import ENDS, End


def wait_before_defer_seconds(value: float | None) -> float:
    """The keyword, else ``[kubernetes_async] wait_before_defer_seconds`` (0: defer at once)."""
    return value if value is not None else conf.getfloat(SECTION, "wait_before_defer_seconds", fallback=0.0)


def start_from_trigger_default(value: bool | None) -> bool:
    """The keyword, else ``[kubernetes_async] start_from_trigger`` (False)."""
    return value if value is not None else conf.getboolean(SECTION, "start_from_trigger", fallback=False)


def _custom_xcom_backend() -> str | None:
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

    def _target(self) -> KubeTarget:
        return self.hook.get_conn()

    def _deadline(self, context: Context) -> float | None:
        """``execution_timeout`` as an absolute time for the trigger, counted from the task's start."""
        if self.execution_timeout is None:
            return None
        started = getattr(context["ti"], "start_date", None)
        base = started.timestamp() if started is not None else time.time()
        return float(base + self.execution_timeout.total_seconds())

    async def _wait_briefly(self, trigger: KubeTrigger) -> dict[str, Any] | None:
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
        if xcoms and (backend := _custom_xcom_backend()):
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
