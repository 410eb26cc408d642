"""``start_from_trigger`` for the Armada operator (``operators/starting.py`` for the mechanism).

Only a static job request can start in the triggerer (a message or its dict; Jinja renders inside
it there, as on a worker): a callable ``job_request`` or ``reattach_policy`` needs a worker. The
channel and the token retriever travel as their descriptions, as they do to ``ArmadaJobTrigger``.
The submission is made idempotent by a ``client_id`` derived from the task instance and try (unless
the DAG sets one): the same start run again finds its job by it, and Armada deduplicates on it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from airflow.triggers.base import StartTriggerArgs
from armada_client.armada.submit_pb2 import JobSubmitRequestItem
from google.protobuf.json_format import MessageToDict

from airflow_k8s_async._kube.podnames import seed_of
from airflow_k8s_async.armada.auth import token_retriever_from
from airflow_k8s_async.armada.links import LookoutLink
from airflow_k8s_async.armada.model import GrpcChannelArgs
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.shared import check_start_from_trigger
from airflow_k8s_async.operators.starting import (
    OperatorStartTrigger,
    deadline_after,
    given_keywords,
    start_args,
)
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.podstart import this_try

__all__ = [
    "ArmadaStartTrigger",
    "client_id_of",
    "start_trigger_args",
]


def start_trigger_args(task: Any) -> StartTriggerArgs:
    """The trigger that starts ``task`` (an ArmadaOperator) in the triggerer, fixed at parse time."""
    check_start_from_trigger(task)
    if callable(task.job_request) and not isinstance(task.job_request, JobSubmitRequestItem):
        raise ConfigurationError(
            "start_from_trigger: job_request is a callable, which only a worker can run: give the "
            "request itself (a JobSubmitRequestItem or its dict; Jinja renders inside it)"
        )
    if callable(task.reattach_policy):
        raise ConfigurationError(
            "start_from_trigger: reattach_policy is a callable, which only a worker can run"
        )
    if task.dry_run:
        raise ConfigurationError("start_from_trigger: dry_run submits nothing; run this task the default way")
    given = given_keywords(task)
    if isinstance(given.get("job_request"), JobSubmitRequestItem):
        given["job_request"] = MessageToDict(given["job_request"], preserving_proto_field_name=True)
    given["channel_args"] = {"args": task.channel_args.serialize(), "version": GrpcChannelArgs.__version__}
    if given.get("k8s_token_retriever") is not None:
        given["k8s_token_retriever"] = task.k8s_token_retriever_description
    if given.get("extra_links"):
        given["extra_links"] = {
            name: url if isinstance(url, str) else {"pattern": url.pattern, "flags": int(url.flags)}
            for name, url in given["extra_links"].items()
        }
    # reattach_policy applies from the second try on, as on a worker: it needs the retries
    return start_args(task, ArmadaStartTrigger, keywords=given, retries=task.retries)


def client_id_of(ti: Any) -> str:
    """The submission's client_id for this task instance and try: the same in every process."""
    return f"airflow-{seed_of(*this_try(ti)):016x}"


class ArmadaStartTrigger(OperatorStartTrigger):
    """Submit an ArmadaOperator's job in the triggerer (once per try), then wait for it.

    ``submit``: the operator's class path, its keywords as written in the DAG (unrendered; the
    channel and token retriever as descriptions), ``execution_timeout`` (counted from the job's
    submission, so a restart keeps it) and ``retries``.
    """

    def _decoded(self, keywords: dict[str, Any]) -> dict[str, Any]:
        channel = keywords["channel_args"]
        keywords["channel_args"] = GrpcChannelArgs.deserialize(channel["args"], int(channel["version"]))
        if keywords.get("k8s_token_retriever") is not None:
            keywords["k8s_token_retriever"] = token_retriever_from(keywords["k8s_token_retriever"])
        if keywords.get("extra_links"):
            keywords["extra_links"] = {
                name: url if isinstance(url, str) else re.compile(url["pattern"], url["flags"])
                for name, url in keywords["extra_links"].items()
            }
        return keywords

    def _prepared(self, task: Any) -> Any:
        task.retries = int(self.submit.get("retries") or 0)
        return task

    async def _create(self) -> KubeTrigger:
        task, context, ti = self._task, self._context, self.task_instance
        assert ti is not None
        job_set_id = f"{task.job_set_prefix or ''}{context['run_id']}"
        item = task._request_item(context, job_set_id)
        ours = not item.client_id  # one the DAG sets is the same for every try: Armada's to use
        if ours:
            item.client_id = client_id_of(ti)
        job, reattached = await task._submitter().job_for(
            context, job_set_id, item, again=ours, started_here=True
        )
        xcoms: dict[str, Any] = {**task._link_xcoms(context), "job_context": job.to_xcom()}
        if task.lookout_url_template:
            xcoms[LookoutLink().xcom_key] = task.lookout_url(job.job_id)
        await self._push_start_xcoms(xcoms)
        # From this try's submission; a job taken over from an earlier try: from now.
        start = time.time() if reattached else job.submit_time.timestamp()
        deadline = deadline_after(start, self.submit)
        waiting: KubeTrigger = task._trigger(context, job, item, finish=self.finish, deadline=deadline)
        return waiting
