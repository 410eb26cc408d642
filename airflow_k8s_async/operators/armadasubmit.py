"""What one try of an ArmadaOperator submits, and which job it then waits for.

The request item, with armada-airflow's annotations; the reattach policy that applies to a task;
and :class:`ArmadaSubmitter`: the job this same start submitted before a restart, else an earlier
try's (``reattach_policy``), else a new one, submitted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException
from armada_client.armada.submit_pb2 import JobSubmitRequestItem
from google.protobuf.json_format import ParseDict, ParseError

from airflow_k8s_async._armada.client import ArmadaClient, JobRun, get_armada_client
from airflow_k8s_async._armada.states import SUBMITTED, WITH_ERRORS, as_job_state
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.armada.model import GrpcChannelArgs, RunningJobContext
from airflow_k8s_async.armada.policies import ReattachPolicy, external_job_uri, policy
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.settings import ARMADA_REATTACH_POLICY, setting

__all__ = [
    "ArmadaSubmitter",
    "annotation_prefix",
    "reattach_policy_for",
    "request_item",
]


def annotation_prefix() -> str:
    return os.environ.get("ANNOTATION_KEY_PREFIX", "armadaproject.io/")


def request_item(job_request: Any, *, context: Context, job_set_id: str) -> JobSubmitRequestItem:
    """``job_request`` (rendered: a message or its dict form) as a new message, annotated with the
    task, run, DAG, job set and external job uri as armada-airflow does."""
    request = job_request
    if isinstance(request, JobSubmitRequestItem):
        item = JobSubmitRequestItem()
        item.CopyFrom(request)
    elif isinstance(request, Mapping):
        try:
            item = ParseDict(dict(request), JobSubmitRequestItem())
        except ParseError as exc:
            raise ConfigurationError(f"job_request is not a valid JobSubmitRequestItem: {exc}") from exc
    else:
        raise ConfigurationError(
            "job_request must be a JobSubmitRequestItem, its dict form or a callable, "
            f"not {type(request).__name__}"
        )
    prefix = annotation_prefix()
    ti = context["ti"]
    item.annotations[prefix + "taskId"] = ti.task_id
    item.annotations[prefix + "taskRunId"] = context["run_id"]
    item.annotations[prefix + "dagId"] = ti.dag_id
    item.annotations[prefix + "jobSet"] = job_set_id
    item.annotations[prefix + "externalJobUri"] = external_job_uri(context)
    return item


def reattach_policy_for(reattach_policy: str | ReattachPolicy | None, *, context: Context) -> ReattachPolicy:
    """The task's ``reattach_policy``, else the DAG's ``default_args``', else the setting's."""
    if callable(reattach_policy):
        return reattach_policy
    name = reattach_policy
    if name is None:
        dag = context.get("dag")
        name = (getattr(dag, "default_args", None) or {}).get("reattach_policy")
    if name is None:
        name = setting(ARMADA_REATTACH_POLICY)
    return policy(str(name))


@dataclass(frozen=True, kw_only=True)
class ArmadaSubmitter:
    """Finds or submits the job one try waits for, with the operator's keywords (``lookout_url``:
    the Lookout link of a job id, if any) and ``retries``; it logs into ``log``."""

    name: str
    armada_queue: str
    channel_args: GrpcChannelArgs
    reattach_policy: str | ReattachPolicy | None
    retries: int | None
    lookout_url: Callable[[str], str | None]
    log: TaskLog

    async def job_for(
        self,
        context: Context,
        job_set_id: str,
        item: JobSubmitRequestItem,
        *,
        again: bool = False,
        started_here: bool = False,
    ) -> tuple[RunningJobContext, bool]:
        """The earlier try's job (``reattach_policy``), else a new one; and whether it is an earlier
        try's. ``again`` (a start in the triggerer, ``item.client_id`` derived from the try): first
        the job this same start submitted before a restart, found by its client_id (Armada also
        deduplicates on it). ``started_here``: in the triggerer, which cannot tell a clear from a
        retry."""
        client = get_armada_client(self.channel_args.spec())
        reattached = False
        found = await self._submitted_before(client, context, job_set_id, item) if again else None
        if found is None:
            found = await self._previous_job(client, context, job_set_id, started_here=started_here)
            reattached = found is not None
        if found is not None:
            return found, reattached
        answers = await client.submit(queue=self.armada_queue, job_set_id=job_set_id, items=[item])
        if len(answers) != 1:
            raise AirflowException(f"Armada answered {len(answers)} items to a submission of one job")
        job_id, error = answers[0]
        if error:
            raise AirflowException(f"Armada refused job {self.name!r}: {error}")
        url = self.lookout_url(job_id)
        self.log.info(
            "Submitted job %s to Armada queue %s, job set %s%s",
            job_id,
            self.armada_queue,
            job_set_id,
            f"; details at {url}" if url else "",
        )
        job = RunningJobContext(
            armada_queue=self.armada_queue,
            job_id=job_id,
            job_set_id=job_set_id,
            submit_time=datetime.now(timezone.utc),
            job_state=SUBMITTED,
        )
        return job, reattached

    async def _submitted_before(
        self, client: ArmadaClient, context: Context, job_set_id: str, item: JobSubmitRequestItem
    ) -> RunningJobContext | None:
        uri = external_job_uri(context)
        states = await client.job_status_by_external_uri(
            queue=self.armada_queue, job_set_id=job_set_id, uri=uri
        )
        runs = await client.job_details(list(states), with_spec=True) if states else {}
        mine = [run for run in runs.values() if run.client_id == item.client_id]
        if not mine:
            return None
        latest = max(mine, key=lambda run: run.submitted)
        self.log.info("Found Armada job %s of this try (submitted before a restart)", latest.job_id)
        return self._job_context(job_set_id, latest)

    def _job_context(self, job_set_id: str, run: JobRun) -> RunningJobContext:
        return RunningJobContext(
            armada_queue=self.armada_queue,
            job_id=run.job_id,
            job_set_id=job_set_id,
            submit_time=datetime.fromtimestamp(run.submitted, tz=timezone.utc),
            cluster=run.cluster or None,
            job_state=run.state,
        )

    async def _previous_job(
        self, client: ArmadaClient, context: Context, job_set_id: str, *, started_here: bool = False
    ) -> RunningJobContext | None:
        ti = context["ti"]
        chosen = reattach_policy_for(self.reattach_policy, context=context)
        # The first try of a run (or of a manual clear) never reattaches, as in armada-airflow. The
        # triggerer knows no max_tries: there only the run's first try is told apart.
        first = ti.try_number == 1 if started_here else ti.max_tries - ti.try_number + 1 == self.retries
        if first:
            return None
        uri = external_job_uri(context)
        states = await client.job_status_by_external_uri(
            queue=self.armada_queue, job_set_id=job_set_id, uri=uri
        )
        if not states:
            self.log.info("No earlier Armada job with external job uri %s", uri)
            return None
        runs = await client.job_details(list(states))
        latest = max(runs.values(), key=lambda run: run.submitted)
        reason = ""
        if latest.state in WITH_ERRORS:
            reason = (await client.job_errors([latest.job_id])).get(latest.job_id, "")
        if not chosen(as_job_state(latest.state), reason):
            self.log.info(
                "Found Armada job %s of an earlier try in %s: not reattaching (reattach_policy)",
                latest.job_id,
                latest.state,
            )
            return None
        self.log.info("Reattaching to Armada job %s of an earlier try (%s)", latest.job_id, latest.state)
        return self._job_context(job_set_id, latest)
