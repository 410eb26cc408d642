"""ArmadaOperator: submit one job to Armada over gRPC, defer, finish when its job set says so.

Drop-in for armada-airflow's operator: the same keywords, template fields, job set id
(``job_set_prefix`` + run id), annotations, reattach policies and links. The difference is the
wait: the task defers once to :class:`ArmadaJobTrigger`, which waits on the job set's shared
event stream in the triggerer, instead of re-entering a worker every ``poll_interval``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowTaskTimeout
from airflow.triggers.base import StartTriggerArgs
from armada_client.armada.submit_pb2 import JobSubmitRequestItem
from google.protobuf.json_format import MessageToDict, MessageToJson

from airflow_k8s_async._armada.client import get_armada_client
from airflow_k8s_async._armada.states import TERMINAL, as_job_state
from airflow_k8s_async.armada.auth import TokenRetriever, describe_token_retriever
from airflow_k8s_async.armada.links import DynamicLink, LookoutLink, link_xcom_key
from airflow_k8s_async.armada.model import GrpcChannelArgs, RunningJobContext
from airflow_k8s_async.armada.policies import ReattachPolicy, policy
from airflow_k8s_async.errors import AirflowK8sAsyncError, ConfigurationError
from airflow_k8s_async.operators.armadastart import start_trigger_args
from airflow_k8s_async.operators.armadasubmit import ArmadaSubmitter, reattach_policy_for, request_item
from airflow_k8s_async.operators.shared import KubeOperatorMixin, checked_max_log_bytes
from airflow_k8s_async.operators.shared import wait_before_defer_seconds as wait_before_defer_seconds_default
from airflow_k8s_async.operators.starting import written_keywords
from airflow_k8s_async.operators.sync import run_kill, run_sync
from airflow_k8s_async.settings import (
    ARMADA_ACKNOWLEDGEMENT_TIMEOUT,
    ARMADA_DRY_RUN,
    ARMADA_POLL_INTERVAL,
    setting,
)
from airflow_k8s_async.triggers.armada import ArmadaJobTrigger, armada_outcome
from airflow_k8s_async.triggers.finish import FinishPlan

__all__ = [
    "ArmadaJobFailedError",
    "ArmadaJobFailedFatalError",
    "ArmadaOperator",
]


class ArmadaJobFailedError(AirflowException):
    """The Armada job ended without success (state and Armada's reason in the message)."""


class ArmadaJobFailedFatalError(ArmadaJobFailedError, AirflowFailException):
    """As above, and a retry would not help (a rejection, or the policy would reattach to it)."""


class ArmadaOperator(KubeOperatorMixin, BaseOperator):
    """Submit a job to an Armada queue and wait for it without holding a worker slot.

    :param name: the job's name (shown in logs).
    :param channel_args: :class:`GrpcChannelArgs` of the Armada server.
    :param armada_queue: the Armada queue.
    :param job_request: a ``JobSubmitRequestItem``, its dict form, or ``callable(context, jinja_env)``
        returning one; templated (Jinja renders inside its dict form).
    :param job_set_prefix: the job set id is this prefix + the run id (templated).
    :param lookout_url_template: ``<job_id>`` is replaced by the job id; shown as the Lookout link.
    :param poll_interval: GetJobStatus period, used only while the event stream keeps failing.
    :param container_logs: a container of the job's pod whose log streams into the task log.
    :param max_log_bytes: the task's log budget in bytes (as the pod operator's).
    :param k8s_token_retriever: a :class:`TokenRetriever` with ``serialize()`` for reading that log.
    :param deferrable: default True; False waits the same way inline, holding the worker slot.
    :param job_acknowledgement_timeout: seconds Armada may take to move the job past SUBMITTED;
        after that the job is cancelled and the task fails.
    :param dry_run: render the request, log it, submit nothing.
    :param reattach_policy: ``never`` (default), ``always``, ``running_or_succeeded`` or
        ``callable(state, reason) -> bool``: whether a retry takes over the earlier try's job
        (``state`` an ``armada_client.typings.JobState`` member, as in armada-airflow).
    :param extra_links: name -> URL template (rendered with the context) or ``re.Pattern``
        (the first match in the container log).
    :param kubernetes_conn_id / config_file / cluster_context / in_cluster: how to read pod logs;
        ``cluster_context`` defaults to the Armada cluster id of the running job.
    :param wait_before_defer_seconds: opt-in wait on the worker before deferring (default 0).
    """

    template_fields: Sequence[str] = ("job_request", "job_set_prefix")
    template_fields_renderers = {"job_request": "py"}  # noqa: RUF012 - Airflow reads it as is

    def __init__(
        self,
        name: str,
        channel_args: GrpcChannelArgs,
        armada_queue: str,
        job_request: JobSubmitRequestItem | Mapping[str, Any] | Callable[..., Any],
        job_set_prefix: str | None = "",
        lookout_url_template: str | None = None,
        poll_interval: int | None = None,
        container_logs: str | None = None,
        k8s_token_retriever: TokenRetriever | None = None,
        deferrable: bool = True,  # deferrable-first (armada-airflow: [operators] default_deferrable)
        job_acknowledgement_timeout: int | None = None,
        dry_run: bool | None = None,
        reattach_policy: str | ReattachPolicy | None = None,
        extra_links: dict[str, str | re.Pattern[str]] | None = None,
        *,
        kubernetes_conn_id: str | None = None,
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
        max_log_bytes: int | None = None,
        wait_before_defer_seconds: float | None = None,
        start_from_trigger: bool | None = None,
        **kwargs: Any,
    ) -> None:
        written = written_keywords(ArmadaOperator.__init__, locals())  # for start_from_trigger
        super().__init__(**kwargs)
        if not isinstance(channel_args, GrpcChannelArgs):
            raise ConfigurationError("channel_args must be a GrpcChannelArgs(target='host:port', ...)")
        if not armada_queue:
            raise ConfigurationError("armada_queue is required")
        channel_args.spec()  # an auth that cannot travel to the triggerer fails here, at parse time
        self.k8s_token_retriever_description = describe_token_retriever(k8s_token_retriever)
        if reattach_policy is not None and not callable(reattach_policy):
            policy(reattach_policy)
        self.name = name
        self.channel_args = channel_args
        self.armada_queue = armada_queue
        self.job_request = job_request
        self.job_set_prefix = job_set_prefix
        self.lookout_url_template = lookout_url_template
        self.poll_interval = poll_interval if poll_interval is not None else setting(ARMADA_POLL_INTERVAL)
        self.container_logs = container_logs
        self.max_log_bytes = checked_max_log_bytes(max_log_bytes)
        self.k8s_token_retriever = k8s_token_retriever
        self.deferrable = deferrable
        self.job_acknowledgement_timeout = (
            job_acknowledgement_timeout
            if job_acknowledgement_timeout is not None
            else setting(ARMADA_ACKNOWLEDGEMENT_TIMEOUT)
        )
        # armada-airflow keeps the flag under this name, shadowing BaseOperator.dry_run().
        self.dry_run = dry_run if dry_run is not None else setting(ARMADA_DRY_RUN)  # type: ignore[method-assign, assignment]
        self.reattach_policy = reattach_policy
        self.extra_links = dict(extra_links or {})
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.in_cluster = in_cluster
        self.wait_before_defer_seconds = wait_before_defer_seconds_default(wait_before_defer_seconds)
        links: list[Any] = [LookoutLink()] if lookout_url_template else []
        links += [DynamicLink(name=link) for link in self.extra_links]
        self.operator_extra_links = links
        self._job: RunningJobContext | None = None
        self._written_keywords = written
        self._init_start_from_trigger(start_from_trigger)

    def _start_trigger_args(self) -> StartTriggerArgs:
        """``start_from_trigger``: the trigger that submits the job in the triggerer and waits
        (``operators/armadastart.py``); what needs a worker is refused by name."""
        return start_trigger_args(self)

    # -- rendering -------------------------------------------------------------------------------
    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """A callable ``job_request`` is called first; a message becomes its dict so Jinja renders inside."""
        if callable(self.job_request) and not isinstance(self.job_request, JobSubmitRequestItem):
            self.job_request = self.job_request(context, jinja_env or self.get_template_env())
        if isinstance(self.job_request, JobSubmitRequestItem):
            self.job_request = MessageToDict(self.job_request, preserving_proto_field_name=True)
        super().render_template_fields(context, jinja_env)

    def _request_item(self, context: Context, job_set_id: str) -> JobSubmitRequestItem:
        item = request_item(self.job_request, context=context, job_set_id=job_set_id)
        if self.container_logs:
            names = {c.name for spec in [item.pod_spec, *item.pod_specs] for c in spec.containers}
            if self.container_logs not in names:
                self.log.error(
                    "container_logs=%r is not a container of job_request (%s): not following logs",
                    self.container_logs,
                    ", ".join(sorted(names)) or "none",
                )
                self.container_logs = None
        return item

    # -- running ---------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        job_set_id = f"{self.job_set_prefix or ''}{context['run_id']}"
        self.log.info(
            "ArmadaOperator(deferrable: %s, dry_run: %s, job_acknowledgement_timeout: %ss, retries: %s)",
            self.deferrable,
            self.dry_run,
            self.job_acknowledgement_timeout,
            self.retries,
        )
        for key, value in self._link_xcoms(context).items():
            context["ti"].xcom_push(key=key, value=value)
        item = self._request_item(context, job_set_id)
        if self.dry_run:  # type: ignore[truthy-function]
            self.log.info(
                "dry_run: job set %s, nothing submitted; the request:\n%s", job_set_id, MessageToJson(item)
            )
            return {}
        job, _ = run_sync(lambda: self._submitter().job_for(context, job_set_id, item))
        self._job = job
        context["ti"].xcom_push(key="job_context", value=job.to_xcom())
        if self.lookout_url_template:
            context["ti"].xcom_push(key=LookoutLink().xcom_key, value=self.lookout_url(job.job_id))
        trigger = self._trigger(context, job, item)
        if self.deferrable and not job.terminal:
            # Opt-in (wait_before_defer_seconds > 0): the same wait on the worker first.
            event = run_sync(lambda: self._wait_briefly(trigger))
            if event is None:
                position = trigger.current_log_position()
                finish = self._finish_plan(try_number=context["ti"].try_number)
                trigger = self._trigger(context, job, item, log_position=position, finish=finish)
                self.log.info("Deferring: the triggerer waits for Armada job %s", job.job_id)
                self.defer(trigger=trigger, method_name="execute_complete")
        else:
            event = run_sync(trigger.wait)
        return self.execute_complete(context, event)

    def _link_xcoms(self, context: Context) -> dict[str, str]:
        """The extra links' XComs at the start: URL templates rendered, patterns empty until a
        log line matches."""
        env = self.get_template_env()
        return {
            link_xcom_key(name): env.from_string(url).render(**context) if isinstance(url, str) else ""
            for name, url in self.extra_links.items()
        }

    def lookout_url(self, job_id: str) -> str | None:
        return self.lookout_url_template.replace("<job_id>", job_id) if self.lookout_url_template else None

    def _policy(self, context: Context) -> ReattachPolicy:
        return reattach_policy_for(self.reattach_policy, context=context)

    def _submitter(self) -> ArmadaSubmitter:
        """What finds or submits the job a try waits for, with this task's keywords."""
        return ArmadaSubmitter(
            name=self.name,
            armada_queue=self.armada_queue,
            channel_args=self.channel_args,
            reattach_policy=self.reattach_policy,
            retries=self.retries,
            lookout_url=self.lookout_url,
            log=self.log,
        )

    def _trigger(
        self,
        context: Context,
        job: RunningJobContext,
        item: JobSubmitRequestItem,
        *,
        log_position: list[int] | None = None,
        finish: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> ArmadaJobTrigger:
        """The trigger that waits for ``job``; ``deadline`` (absolute) replaces the one from
        ``execution_timeout`` and the task's start."""
        patterns = {
            name: url.pattern for name, url in self.extra_links.items() if isinstance(url, re.Pattern)
        }
        return ArmadaJobTrigger(
            job_id=job.job_id,
            job_set_id=job.job_set_id,
            armada_queue=job.armada_queue,
            channel_args=self.channel_args.serialize(),
            channel_args_version=GrpcChannelArgs.__version__,
            submit_time=job.submit_time.timestamp(),
            job_state=job.job_state,
            job_acknowledgement_timeout=float(self.job_acknowledgement_timeout),
            poll_interval=float(self.poll_interval),
            deadline=deadline if deadline is not None else self._deadline(context),
            container_logs=self.container_logs,
            max_log_bytes=self.max_log_bytes,
            job_namespace=item.namespace or None,
            k8s_token_retriever=self.k8s_token_retriever_description,
            **self._connection_kwargs(),
            lookout_url=self.lookout_url(job.job_id),
            link_patterns=patterns,
            log_position=log_position,
            finish=finish,
        )

    # -- finishing -------------------------------------------------------------------------------
    def _finish_plan(self, *, try_number: int | None) -> dict[str, Any]:
        """Which outcomes the trigger ends without a worker: a failure with retries left resumes,
        since ``reattach_policy`` (possibly a callable) decides there whether it is retried."""
        ends, why = self._triggerer_ends(try_number=try_number, xcoms=True)
        if "failed" in ends and (try_number or 1) <= (self.retries or 0):
            ends = tuple(end for end in ends if end != "failed")
            why["failed"] = "retries are left: reattach_policy decides on a worker whether to retry"
        return FinishPlan(ends=ends, why=why, return_value=bool(self.do_xcom_push)).to_dict()

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """Resume after the trigger (when the triggerer did not end the task itself): the result
        (as armada-airflow's), or a failure with Armada's reason; the trigger's rules."""
        job_id = str(event.get("job_id") or "")
        result = armada_outcome(event, lookout_url=self.lookout_url(job_id))
        for key, value in result.xcoms.items():
            if key != "return_value":
                context["ti"].xcom_push(key=key, value=value)
        status, state = event.get("status"), str(event.get("state") or "")
        if result.state == "success":
            self.log.info("%s", result.message)
            returned: dict[str, Any] = result.xcoms["return_value"]
            return returned
        message = result.message
        if result.timeout and event.get("job_id"):  # (a start that timed out may have submitted none)
            self._cancel_after_timeout(event)
            raise AirflowTaskTimeout(message)
        if status == "failed" and state in TERMINAL:
            reason = str(event.get("message") or "")
            fatal = state == "REJECTED" or self._policy(context)(as_job_state(state), reason)
            raise (ArmadaJobFailedFatalError if fatal else ArmadaJobFailedError)(message)
        raise AirflowException(message)

    def _cancel_after_timeout(self, event: Mapping[str, Any]) -> None:
        """A job that outlived the task's execution_timeout must not run on."""
        run_sync(lambda: self._cancel(event, reason="the Airflow task timed out"))

    async def _cancel(self, event: Mapping[str, Any], *, reason: str) -> None:
        try:
            await get_armada_client(self.channel_args.spec()).cancel(
                queue=str(event.get("queue") or self.armada_queue),
                job_set_id=str(event["job_set_id"]),
                job_id=str(event["job_id"]),
                reason=reason,
            )
        except AirflowK8sAsyncError as exc:
            self.log.warning("Could not cancel Armada job %s: %s", event.get("job_id"), exc)

    def on_kill(self) -> None:
        """Worker-side kill (``deferrable=False``): cancel the job, as the trigger does when deferred."""
        job = self._job
        if job is None:
            return
        event = {"queue": job.armada_queue, "job_set_id": job.job_set_id, "job_id": job.job_id}
        run_kill(lambda: self._cancel(event, reason="the Airflow task was killed or timed out"))
