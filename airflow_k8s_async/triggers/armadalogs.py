"""The Armada trigger's pod-log follower: one container's log in the job's pod, into the task log.

Followed once the job runs, again when it runs again; a client per token when
``k8s_token_retriever`` gives them (a refused token is renewed a few times); the task's log budget;
the extra links' patterns matched on every line. What it needs of the trigger it is given: the
job's current update (a callable), the connection keywords and the token retriever's description.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_k8s_async._armada.kubeauth import with_token
from airflow_k8s_async._armada.states import QUEUED, RUNNING, JobUpdate
from airflow_k8s_async._kube.client import KubeClient, get_client, leased_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.logs import LogCursor, follow_container_log
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.armada.auth import token_retriever_from
from airflow_k8s_async.errors import AirflowK8sAsyncError, KubeUnauthorizedError
from airflow_k8s_async.triggers.common import shared_target
from airflow_k8s_async.triggers.logbudget import LogBudget, budget_note
from airflow_k8s_async.triggers.logdrain import drain_followers, unread_note
from airflow_k8s_async.triggers.logstream import LAST_LINES

__all__ = [
    "ArmadaLogFollower",
]

# A job back in the queue after it ran (its lease returned or expired), or on its way to a new run.
_BACK_IN_QUEUE = frozenset({QUEUED, "LEASED", "PENDING"})
# How many fresh tokens in a row k8s_token_retriever may give that the API server refuses, before
# the log is given up (a token that worked for a while and then expired starts the count again).
TOKEN_RENEWALS = 3


@dataclass(kw_only=True, eq=False, repr=False)
class ArmadaLogFollower:
    """Follow ``container`` (the trigger's ``container_logs``; None: no log) of the job's pod
    (``armada-<jobId>-0``, in the cluster and namespace of the running event) into ``log``.

    ``current()`` is the job's latest update. ``connection`` (the trigger's connection keywords)
    says how to reach the pod's cluster (``cluster_context`` defaults to the cluster id of the
    running event);
    ``k8s_token_retriever`` is the retriever's description. ``cursor``: where the log resumes.
    """

    job_id: str
    container: str | None
    job_namespace: str | None
    link_patterns: dict[str, str]
    connection: Mapping[str, Any]
    k8s_token_retriever: list[Any] | None
    current: Callable[[], JobUpdate]
    log: TaskLog
    cursor: LogCursor = field(default_factory=LogCursor)
    budget: LogBudget | None = None  # once the wait starts (the triggerer's setting)

    def __post_init__(self) -> None:
        self._follower: asyncio.Task[None] | None = None
        self._retired: list[asyncio.Task[None]] = []  # followers of earlier runs, cancelled
        self._last: deque[str] = deque(maxlen=LAST_LINES)
        self._lines = 0  # passed on so far (the drain's measure of progress)
        self._budget_told = False
        self.links: dict[str, str] = {}  # extra link name -> the first match of its pattern

    def last_lines(self) -> list[str]:
        return list(self._last)

    def start(self, update: JobUpdate) -> None:
        """Follow the log once the job runs; again when it runs again (its lease was returned and
        its first pod deleted). The old run's lines after the return are not shown."""
        if self._follower is not None and update.state in _BACK_IN_QUEUE:
            # The lease was returned: stop before the next run's pod (of the same name) starts,
            # or its first lines would be read twice. That pod's log may begin before the old
            # one's end (they can overlap), so it gets a cursor of its own.
            self._follower.cancel()
            self._retired.append(self._follower)
            self._follower, self.cursor = None, LogCursor()
        if not self.container or not update.cluster or self._follower is not None:
            return
        if self.budget is not None and self.budget.spent and not self.link_patterns:
            return
        if update.state != RUNNING and not update.terminal:
            return
        self._follower = asyncio.create_task(self._follow(update), name=f"log armada-{self.job_id}")

    async def drain(self) -> None:
        """At the job's end: the follower passes on its last lines while it makes progress; the
        task log says when the log was not read to its end."""
        if self._follower is not None:
            if await drain_followers([self._follower], lines=lambda: self._lines):
                namespace, pod = self._source(self.current())
                note = unread_note(
                    namespace=namespace, pod=pod, container=str(self.container), cursor=self.cursor
                )
                self.log.warning("%s", note)

    def _source(self, update: JobUpdate) -> tuple[str, str]:
        """The (namespace, pod) whose log is followed."""
        return (
            update.namespace or self.job_namespace or "default",
            update.pod_name or f"armada-{self.job_id}-0",
        )

    async def _follow(self, update: JobUpdate) -> None:
        namespace, pod = self._source(update)
        assert self.container is not None
        refused = 0  # tokens refused in a row
        try:
            while True:
                cluster, renewable = await self._cluster(update.cluster)
                shown = self._lines
                try:
                    if renewable:  # a client per token, closed with its last user
                        async with leased_client(cluster) as kube:
                            await self._follow_with(kube, namespace, pod, renewable=True)
                    else:
                        await self._follow_with(await get_client(cluster), namespace, pod, renewable=False)
                    return
                except KubeUnauthorizedError:
                    refused = 1 if self._lines > shown else refused + 1
                    if refused > TOKEN_RENEWALS:
                        raise
                    self.log.info(
                        "The token for the log of pod %s/%s was refused (expired?): asking "
                        "k8s_token_retriever for a new one",
                        namespace,
                        pod,
                    )
        except AirflowK8sAsyncError as exc:
            self.log.warning("Cannot follow the log of pod %s/%s: %s", namespace, pod, exc)

    async def _follow_with(self, kube: KubeClient, namespace: str, pod: str, *, renewable: bool) -> None:
        await follow_container_log(
            kube,
            namespace=namespace,
            pod=pod,
            container=str(self.container),
            cursor=self.cursor,
            on_line=self._line,
            finished=lambda: self.current().terminal,
            stop_on_unauthorized=renewable,
        )

    async def _cluster(self, cluster_id: str) -> tuple[ClusterConfig, bool]:
        """The pod log's cluster config, and whether its credentials are a token to renew."""
        target = await shared_target(
            **{**self.connection, "cluster_context": self.connection.get("cluster_context") or cluster_id}
        )
        retriever = token_retriever_from(self.k8s_token_retriever)
        if retriever is None:
            return target.cluster, False
        token = await asyncio.to_thread(retriever.get_token)
        return await asyncio.to_thread(with_token, target.cluster, token), True

    def _line(self, line: str) -> None:
        for name, pattern in self.link_patterns.items():  # (past the log budget too)
            if name not in self.links and (found := re.search(pattern, line)):
                self.links[name] = found.group(0)
        if self.budget is not None and self.budget.take(line) is None:
            if not self._budget_told:
                self._budget_told = True
                namespace, pod = self._source(self.current())
                note = budget_note(
                    limit=self.budget.limit,
                    lines=self._lines,
                    namespace=namespace,
                    pod=pod,
                    container=str(self.container),
                    cursor=self.cursor,
                )
                self.log.warning("%s", note)
            if self._follower is not None and not self.link_patterns:
                self._follower.cancel()  # the current task: it stops at its next await
            return
        self._lines += 1
        self._last.append(f"[{self.container}] {line}")
        self.log.info("[%s] %s", self.container, line)

    def position(self) -> list[int] | None:
        """Where the log stands ([seconds, nanos, same]; None before its first line)."""
        cursor = self.cursor
        return None if cursor.last is None else [cursor.last.seconds, cursor.last.nanos, cursor.same]

    async def stop(self) -> None:
        followers = [*self._retired, *([self._follower] if self._follower is not None else [])]
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
