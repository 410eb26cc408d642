"""What both Job operators do as Airflow tasks: read their keywords at parse time, build the body,
then hand one try's resources to a :class:`~airflow_k8s_async.operators.jobrun.ResourceRun` (create,
wait through its trigger on a worker or deferred, finish, kill)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import jinja2
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowTaskTimeout
from airflow.triggers.base import StartTriggerArgs

from airflow_k8s_async._kube import bodies
from airflow_k8s_async._kube.jobspec import job_template, reconcile_jobs
from airflow_k8s_async._kube.kinds import rule_from_dict
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async._kube.podcheck import sanitize_label_value
from airflow_k8s_async._kube.podnames import add_unique_suffix
from airflow_k8s_async._kube.podspec import load_template_file
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.hooks.kubernetes import KubeTarget
from airflow_k8s_async.operators.jobkeywords import (
    POD_WAITING_MAPPED,
    JobOptions,
    KubeApiEvent,
    delete_policy_for,
    job_spec_fields,
)
from airflow_k8s_async.operators.jobrun import ResourceRun, RunSettings
from airflow_k8s_async.operators.jobstart import start_trigger_args
from airflow_k8s_async.operators.podkeywords import api_value, log_choice
from airflow_k8s_async.operators.shared import KubeOperatorMixin, task_identity
from airflow_k8s_async.operators.sync import run_kill, run_sync
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.finish import FinishPlan, default_xcom_parser, outcome
from airflow_k8s_async.triggers.job import PROPAGATION_POLICIES
from airflow_k8s_async.triggers.logstream import LogChoice

__all__ = [
    "JobTaskMixin",
]


class JobTaskMixin(KubeOperatorMixin):
    """The task side of both Job operators. They provide ``build_resources(context, target=)``,
    ``_base_container_name()`` and the keywords declared first below; the mixin sets the rest from
    their ``__init__``'s values."""

    # set by the operators
    namespace: str | None
    labels: dict[str, Any] | None
    get_logs: bool
    max_log_bytes: int | None
    startup_timeout_seconds: Any
    deferrable: bool
    # set here (_set_pod_waiting_keywords, _set_job_options), with JobOptions' fields
    status_rule: dict[str, Any] | None
    on_kube_api_event: Callable[[KubeApiEvent, Context], None] | None
    parse_xcom_event: Callable[[str], dict[str, Any]]
    body: str | dict[str, Any] | list[dict[str, Any]] | None
    body_filepath: str | None
    enable_jinja: bool
    jinja_job_args: dict[str, Any]
    job_keywords: dict[str, Any]  # the Job spec fields the keywords set
    _written_keywords: dict[str, Any]  # what the DAG gave __init__ (operators/jobstart.py)
    delete_policy: str
    delete_on_kill: bool
    container_logs: LogChoice
    init_container_logs: LogChoice
    log_events_on_failure: bool
    job_template_file: str | None
    full_job_spec: Any
    wait_until_job_complete: bool
    on_kill_propagation_policy: str
    _run: ResourceRun | None  # this try's resources, once execute() has begun creating them
    _parse_time_files: dict[str, Any]  # a task started in the triggerer: the files read at parse time

    if TYPE_CHECKING:  # provided by the operator classes (BaseOperator, and their own builder)

        def build_resources(
            self, context: Context | None = None, *, target: KubeTarget | None = None
        ) -> list[dict[str, Any]]: ...

        def defer(self, **kwargs: Any) -> Any: ...

    # -- parse time ------------------------------------------------------------------------------
    def _set_pod_waiting_keywords(self, given: Mapping[str, Any], *, delete_policy: str | None) -> None:
        """The pod operator's waiting and finishing keywords a task was given, as they apply to a Job
        (both operators: one mapping). The ones with no meaning for a Job are logged, at debug."""
        self.container_logs = log_choice(given.get("container_logs", True))
        self.init_container_logs = log_choice(given.get("init_container_logs"))
        self.log_events_on_failure = bool(given.get("log_events_on_failure", False))
        self.delete_policy = delete_policy_for(
            delete_policy=delete_policy,
            on_finish_action=given.get("on_finish_action"),
            is_delete_operator_pod=given.get("is_delete_operator_pod"),
        )
        # On a kill the provider deletes the Job whatever on_finish_action says: only delete_policy and
        # is_delete_operator_pod=False keep what a killed task created.
        self.delete_on_kill = (
            delete_policy_for(
                delete_policy=delete_policy,
                on_finish_action=None,
                is_delete_operator_pod=given.get("is_delete_operator_pod"),
            )
            != "Never"
        )
        ignored = sorted(set(given) - POD_WAITING_MAPPED)
        if ignored:
            self.log.debug(
                "%s: accepted for compatibility, no effect on a Job (see docs/job-operator.md)", ignored
            )

    def _set_job_options(self, given: Mapping[str, Any], *, written: dict[str, Any]) -> None:
        """Store, from an ``__init__``'s locals and checked at parse time: :class:`JobOptions`, the
        Job spec fields, the body and its Jinja, the user's callables, a status rule (the Job
        operator's). ``written``: the keywords as the DAG gave them (``start_from_trigger``)."""
        body, body_filepath = given["body"], given["body_filepath"]
        if body is not None and body_filepath is not None:
            raise ConfigurationError("give body or body_filepath, not both")
        self.body, self.body_filepath = body, body_filepath
        self.enable_jinja = given["enable_jinja"]
        self.jinja_job_args = given["jinja_job_args"] or {}
        self.on_kube_api_event = given["on_kube_api_event"]
        self.parse_xcom_event = given["parse_xcom_event"]
        status_rule = given.get("status_rule")
        self.status_rule = dict(status_rule) if status_rule is not None else None
        if self.status_rule is not None:
            rule_from_dict(self.status_rule)  # a malformed rule fails at parse time
        self.job_keywords = job_spec_fields(given)
        self._written_keywords = written
        options = JobOptions(**{f.name: given[f.name] for f in fields(JobOptions)})
        if options.on_kill_propagation_policy not in PROPAGATION_POLICIES:
            raise ConfigurationError(
                f"on_kill_propagation_policy={options.on_kill_propagation_policy!r}: "
                f"use one of {PROPAGATION_POLICIES}"
            )
        for option in fields(JobOptions):
            value = getattr(options, option.name)
            setattr(
                self,
                option.name,
                api_value(value, where=option.name) if option.name == "full_job_spec" else value,
            )
        self._run = None
        self._parse_time_files = {}

    def _base_container_name(self) -> str | None:
        """The container whose exit code decides (None: the main-container annotation, "base", the first)."""
        raise NotImplementedError

    def _run_settings(self) -> RunSettings:
        """The keywords a try's :class:`ResourceRun` needs (its fields are the attributes' names), as
        rendered now."""
        values = {
            f.name: getattr(self, f.name) for f in fields(RunSettings) if f.name != "base_container_name"
        }
        return RunSettings(**values, base_container_name=self._base_container_name())

    def _new_run(self, target: KubeTarget) -> ResourceRun:
        self._run = ResourceRun(settings=self._run_settings(), target=target, log=self.log)
        return self._run

    # -- building --------------------------------------------------------------------------------
    def _pod_template(self) -> dict[str, Any]:
        """``pod_template_file`` read at parse time (a task started in the triggerer): its content
        as ``pod_template_dict``, which it wins over, as the file would; else nothing."""
        if "pod_template_file" not in self._parse_time_files:
            return {}
        return {"pod_template_file": None, "pod_template_dict": self._parse_time_files["pod_template_file"]}

    def _load_body(self, context: Context | None) -> Any:
        """``body``, or ``body_filepath``'s text (Jinja-rendered with ``job`` when enabled); else None."""
        if self.body_filepath:
            text = self._parse_time_files.get("body_filepath")
            if text is None:
                text = bodies.load_body_file(self.body_filepath, base_dir=self._dag_folder())
            if self.enable_jinja and context is not None:
                jinja_context: dict[str, Any] = {**context, "job": self.jinja_job_args}
                try:
                    text = self.render_template(text, jinja_context)  # type: ignore[attr-defined]
                except jinja2.TemplateError as exc:
                    where = f" at line {exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
                    raise ConfigurationError(
                        f"body_filepath {self.body_filepath!r}: Jinja{where}: {exc}"
                    ) from exc
            return text
        return self.body

    def _job_template(self, *, body_job: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """``job_template_file`` with ``full_job_spec`` over it (or a body's Job): the lower layer."""
        from_file = body_job
        if "job_template_file" in self._parse_time_files:
            from_file = self._parse_time_files["job_template_file"]
        elif self.job_template_file:
            from_file = load_template_file(
                self.job_template_file, base_dir=self._dag_folder(), keyword="job_template_file"
            )
        return job_template(from_file=from_file, full_job_spec=self.full_job_spec)

    def _over_template(
        self, template: dict[str, Any], job: dict[str, Any], *, name_given: bool, random_suffix: bool
    ) -> dict[str, Any]:
        """The keywords' Job over the template; the template's name and namespace stand when the
        keywords give none (as in the provider, where the Job's name and namespace start unset)."""
        merged = reconcile_jobs(template, job)
        meta, lower = merged["metadata"], template.get("metadata") or {}
        if not name_given and lower.get("name"):
            name = str(lower["name"])
            meta["name"] = add_unique_suffix(name) if random_suffix else name
        if not self.namespace and lower.get("namespace"):
            meta["namespace"] = lower["namespace"]
        return merged

    def _labels(self, context: Context) -> dict[str, str]:
        user = {k: sanitize_label_value(str(v)) for k, v in (self.labels or {}).items()}
        try_number = str(context["ti"].try_number)
        return {**user, **task_identity(context), "try_number": try_number, MANAGED_BY_KEY: MANAGED_BY_VALUE}

    async def _create(
        self, run: ResourceRun, resources: list[dict[str, Any]], context: Context, *, adopt: bool = False
    ) -> None:
        """Create this try's ``resources`` through ``run``, in the task's namespace."""
        await run.create(
            resources,
            namespace=self.namespace or run.target.namespace or "default",
            identity=task_identity(context),
            labels=self._labels(context),
            try_number=context["ti"].try_number,
            adopt=adopt,
        )

    def _run_trigger(
        self,
        run: ResourceRun,
        context: Context,
        *,
        finish: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> KubeTrigger:
        """``run``'s trigger; ``deadline`` (absolute) replaces the one from ``execution_timeout``
        and the task's start."""
        deadline = deadline if deadline is not None else self._deadline(context)
        return run.trigger(connection=self._connection_kwargs(), deadline=deadline, finish=finish)

    # -- running ---------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        target = self._target()
        resources = self.build_resources(context, target=target)
        run = self._new_run(target)
        run_sync(lambda: self._create(run, resources, context))
        first = run.created[0]
        if first["kind"] == "Job":  # as the provider's Job operator
            context["ti"].xcom_push(key="job_name", value=first["name"])
            context["ti"].xcom_push(key="job_namespace", value=first["namespace"])
        if not self.wait_until_job_complete:
            if first["kind"] == "Job":
                context["ti"].xcom_push(key="job", value=run.first_object)
            self.log.info(
                "wait_until_job_complete=False: not waiting for %s %s/%s, which keeps running; "
                "delete_policy is not applied",
                first["kind"],
                first["namespace"],
                first["name"],
            )
            return None
        trigger = self._run_trigger(run, context)
        if self.deferrable:
            event = run_sync(lambda: self._wait_briefly(trigger))
            if event is None:
                finish = self._finish_plan(try_number=context["ti"].try_number)
                trigger = self._run_trigger(run, context, finish=finish)
                self.log.info("Deferring: the triggerer waits for %s %s", first["kind"], first["name"])
                self.defer(trigger=trigger, method_name="execute_complete")
        else:
            event = run_sync(trigger.wait)
        assert event is not None  # defer() raises when the wait is handed to the triggerer
        return self.execute_complete(context, event)

    def _worker_callables(self) -> list[str]:
        """The keywords set to callables of the DAG's, which only a worker can run."""
        return [
            name
            for name, custom in (
                ("on_kube_api_event", self.on_kube_api_event is not None),
                ("parse_xcom_event", self.parse_xcom_event is not default_xcom_parser),
            )
            if custom
        ]

    def _finish_plan(self, *, try_number: int | None) -> dict[str, Any]:
        """What the trigger does at the end, and which outcomes it ends without a worker."""
        worker_only = self._worker_callables()
        ends, why = self._triggerer_ends(try_number=try_number, xcoms=True, worker_only=worker_only)
        return FinishPlan(ends=ends, why=why, action=self.delete_policy).to_dict()

    def _start_trigger_args(self) -> StartTriggerArgs:
        """``start_from_trigger``: the trigger that builds and creates the resources in the
        triggerer and waits (``operators/jobstart.py``); what needs a worker is refused by name."""
        return start_trigger_args(self)

    # -- finishing -------------------------------------------------------------------------------
    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger (when the triggerer did not end the task itself): the same
        rules as the trigger's (``triggers/finish.py``), the user's callables, then delete_policy."""
        try:  # whatever the user's callables raise, delete_policy is applied
            for raw in event.get("kube_api_events") or []:
                if self.on_kube_api_event is not None:
                    kube_event = KubeApiEvent(
                        name=raw["name"], value=raw["value"], pod=raw["pod"], container=raw["container"]
                    )
                    self.on_kube_api_event(kube_event, context)
            plan = FinishPlan(action=self.delete_policy)
            result = outcome(event, plan=plan, parse_xcom=self.parse_xcom_event)
            for key, value in result.xcoms.items():
                context["ti"].xcom_push(key=key, value=value)
            if result.xcoms:
                self.log.info("XComs: %s", ", ".join(result.xcoms))
            if result.state == "success":
                self.log.info("%s", result.message)
                return None
            if result.timeout:
                raise AirflowTaskTimeout(result.message)
            raise AirflowException(result.message)
        finally:
            # After a deferral this is a new operator instance: the event carries what was created.
            run = self._run
            if run is None and event.get("resources"):
                run = self._new_run(self._target())
            if run is not None:
                run_sync(lambda: run.finish(event))

    def on_kill(self) -> None:
        """Killed on the worker (``deferrable=False``, or before deferring): the run deletes what it
        created, as the trigger does when deferred."""
        if (run := self._run) is not None and run.created:
            run_kill(run.kill)
