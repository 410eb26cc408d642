"""KubernetesResourceTrigger: wait for any object (custom kinds included) to reach a final state.

The kind is resolved by API discovery in the triggerer (plural and scope as the cluster serves
them); the status rule travels as data (``_kube.kinds``); the object's changes arrive on the shared
watch of its resource and namespace.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_async._kube.discovery import resolve
from airflow_k8s_async._kube.kinds import evaluate, rule_from_dict
from airflow_k8s_async._kube.ownership import MANAGED_SELECTOR
from airflow_k8s_async._kube.states import Phase
from airflow_k8s_async._kube.subscription import DELETED
from airflow_k8s_async.triggers.common import KubeTrigger, delete_resources, shared_hub
from airflow_k8s_async.triggers.events import Event, Status

__all__ = [
    "KubernetesResourceTrigger",
]


@dataclass(kw_only=True, eq=False, repr=False)
class KubernetesResourceTrigger(KubeTrigger):
    """Wait until ``rule`` (or the generic conditions/phase rule) calls the object final."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    uid: str | None = None
    rule: dict[str, Any] | None = None
    deadline: float | None = None
    resources: list[dict[str, Any]] = field(default_factory=list)
    delete_on_kill: bool = True
    watch_selector: str | None = MANAGED_SELECTOR

    def __post_init__(self) -> None:
        if self.rule is not None:
            rule_from_dict(self.rule)  # refuse a malformed rule where it is built, not in the triggerer
        super().__post_init__()
        self.resources = list(self.resources or [])

    async def wait(self) -> Event:
        client = await self._client()
        resource = await resolve(client, api_version=self.api_version, kind=self.kind)
        where = f"{self.namespace}/{self.name}" if resource.namespaced else self.name
        self.log.info("Waiting for %s %s (shared watch, no polling)", self.kind, where)
        async with shared_hub().subscribe(
            cluster=client.cluster,
            resource=resource,
            namespace=self.namespace,
            label_selector=self.watch_selector,
            name=self.name,
            uid=self.uid,
            log=self.log,
        ) as sub:
            while True:
                timeout = None if self.deadline is None else max(0.05, self.deadline - time.time())
                try:
                    event = await asyncio.wait_for(sub.__anext__(), timeout)
                except asyncio.TimeoutError:
                    return self._timeout_event()
                if event.type == DELETED:
                    return self._event("failed", reason="Deleted", message=f"{self.kind} {where} was deleted")
                state = evaluate(self.rule, event.object)
                self._show_progress(f"{self.kind} {where}", state)
                if state.terminal:
                    status: Status = "success" if state.phase == Phase.SUCCEEDED else "failed"
                    return self._event(status, reason=state.reason, message=state.message)

    def _event(self, status: Status, *, reason: str = "", message: str = "") -> Event:
        return {
            "status": status,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "reason": reason,
            "message": message,
            "resources": self.resources,
        }

    def _keeps_on_kill(self) -> bool:
        return not self.delete_on_kill

    async def _kill(self) -> None:
        """Delete what the task created when a user kills it (Airflow >= 3.3)."""
        if not await self._claim_kill():  # ended with this trigger's event, or handled already
            return
        if self.delete_on_kill:
            await delete_resources(await self._client(), self.resources, log=self.log)
            self.log.info("Task killed; deleted the %d resources the task created", len(self.resources))
