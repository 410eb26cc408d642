"""What the pod and Job operators share: reaching the cluster, waiting briefly, failing clearly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from airflow.configuration import conf
from airflow.sdk import Context

from airflow_k8s_async.hooks.kubernetes import KubernetesAsyncHook, KubeTarget
from airflow_k8s_async.triggers.common import SECTION, KubeTrigger


def wait_before_defer_seconds(value: float | None) -> float:
    """The keyword, else ``[kubernetes_async] wait_before_defer_seconds`` (5)."""
    return value if value is not None else conf.getfloat(SECTION, "wait_before_defer_seconds", fallback=5.0)


class KubeOperatorMixin:
    """The operator provides the connection attributes, ``wait_before_defer_seconds`` and
    ``execution_timeout`` (BaseOperator's)."""

    kubernetes_conn_id: str | None
    config_file: str | None
    cluster_context: str | None
    in_cluster: bool | None
    wait_before_defer_seconds: float
    execution_timeout: Any

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


def failure_message(event: Mapping[str, Any]) -> str:
    """What failed, with the exit code, the reason, the message and the last log lines."""
    text = f"{event.get('kind') or 'Pod'} {event.get('namespace')}/{event.get('name')} failed"
    if event.get("status") == "failed" and event.get("exit_code") is not None:
        text += f" with exit code {event['exit_code']}"
    text += f" ({event.get('reason') or event.get('status')})"
    if event.get("message"):
        text += f": {event['message']}"
    lines = event.get("last_log_lines") or []
    if lines:
        text += "\nLast log lines:\n" + "\n".join(lines)
    return text
