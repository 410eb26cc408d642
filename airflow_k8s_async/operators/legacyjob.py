"""KubernetesLegacyJobOperator: the pod operator's pod as a Job's template (airflow-kubernetes-job-
operator's KubernetesLegacyJobOperator); importable from ``airflow_k8s_async.operators.job`` too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from airflow.sdk import Context

from airflow_k8s_async._kube import bodies, bodycheck, bodynames
from airflow_k8s_async._kube.podspec import PodKeywords
from airflow_k8s_async.errors import (
    ConfigurationError,
)
from airflow_k8s_async.hooks.kubernetes import KubeTarget
from airflow_k8s_async.operators.jobkeywords import (
    NO_SIDECAR,
    KubeApiEvent,
    pod_to_job,
    pod_waiting_keywords,
)
from airflow_k8s_async.operators.jobtask import JobTaskMixin
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.operators.starting import written_keywords
from airflow_k8s_async.triggers.finish import (
    default_xcom_parser,
)

__all__ = [
    "KubernetesLegacyJobOperator",
]


class KubernetesLegacyJobOperator(JobTaskMixin, KubernetesPodOperator):
    """KubernetesPodOperator's keywords (image, cmds, env_vars, volumes, secrets, templates, ...),
    run as a Job: the drop-in for the job-operator's ``KubernetesLegacyJobOperator`` and the
    cncf provider's ``KubernetesJobOperator``.

    The pod is built exactly as the pod operator builds it, then becomes the Job's template. Job
    keywords: ``parallelism``, ``completions``, ``backoff_limit`` (default 0, as the job-operator),
    ``completion_mode``, ``ttl_seconds_after_finished``, ``active_deadline_seconds`` (the Job's, as in
    the provider's Job operator), ``manual_selector``, ``selector``, ``suspend``; the Job template
    under them: ``job_template_file`` / ``full_job_spec`` (the provider's) or ``body`` /
    ``body_filepath`` (the job-operator's: a Job is the template, a Pod the pod template, further
    resources are created alongside); plus :class:`JobOptions`, ``delete_policy``
    (``is_delete_operator_pod=False`` means ``Never``, as in the job-operator; ``on_finish_action`` maps
    as for KubernetesJobOperator), ``on_kube_api_event`` and ``parse_xcom_event``. The pod operator's
    waiting keywords mean what they mean for KubernetesJobOperator. XCom comes from ``::kube_api:xcom=``
    lines; ``do_xcom_push`` (an XCom sidecar per pod) is refused.
    """

    template_fields: Sequence[str] = (
        *KubernetesPodOperator.template_fields,
        "body",
        "body_filepath",
        "jinja_job_args",
        "job_template_file",
    )

    def __init__(
        self,
        *,
        parallelism: int | None = None,
        completions: int | None = None,
        backoff_limit: int | None = 0,
        completion_mode: str | None = None,
        ttl_seconds_after_finished: int | None = None,
        active_deadline_seconds: int | None = None,
        manual_selector: bool | None = None,
        selector: Any = None,
        suspend: bool | None = None,
        job_template_file: str | None = None,
        full_job_spec: Any = None,
        wait_until_job_complete: bool = True,
        job_poll_interval: float = 10,
        on_kill_propagation_policy: str = "Foreground",
        discover_pods_retry_number: int = 3,
        unwrap_single: bool = True,
        body: str | dict[str, Any] | list[dict[str, Any]] | None = None,
        body_filepath: str | None = None,
        validate_body_on_init: bool | None = None,
        enable_jinja: bool = True,
        jinja_job_args: dict[str, Any] | None = None,
        delete_policy: str | None = None,
        is_delete_operator_pod: bool | None = None,
        on_finish_action: str | None = None,
        on_kube_api_event: Callable[[KubeApiEvent, Context], None] | None = None,
        parse_xcom_event: Callable[[str], dict[str, Any]] = default_xcom_parser,
        start_from_trigger: bool | None = None,
        **kwargs: Any,
    ) -> None:
        written = written_keywords(KubernetesLegacyJobOperator.__init__, locals())  # for start_from_trigger
        if kwargs.get("do_xcom_push"):
            raise ConfigurationError(NO_SIDECAR)
        # active_deadline_seconds stays the Job's, as in the provider's; start_from_trigger is
        # decided below, once the Job's attributes are set
        super().__init__(is_delete_operator_pod=is_delete_operator_pod, start_from_trigger=False, **kwargs)
        self._set_job_options(locals(), written=written)
        waiting = {k: v for k, v in kwargs.items() if k in pod_waiting_keywords()}
        waiting |= {"on_finish_action": on_finish_action, "is_delete_operator_pod": is_delete_operator_pod}
        self._set_pod_waiting_keywords(
            {k: v for k, v in waiting.items() if v is not None}, delete_policy=delete_policy
        )
        self.validate_body_on_init = validate_body_on_init  # bodies are always validated before creating
        self._body_pod: dict[str, Any] | None = None
        self._init_start_from_trigger(start_from_trigger)  # the Job operators' trigger, not the pod's

    def _base_container_name(self) -> str | None:
        return self.base_container_name

    def pod_keywords(self) -> PodKeywords:
        keywords = replace(super().pod_keywords(), **self._pod_template())
        if self._body_pod is None:
            return keywords
        # A body whose first resource is a Pod is the pod template (the job-operator merged into it).
        return replace(keywords, pod_template_file=None, pod_template_dict=self._body_pod)

    def build_resources(
        self, context: Context | None = None, *, target: KubeTarget | None = None
    ) -> list[dict[str, Any]]:
        body = self._load_body(context)
        resources = bodies.parse_body(body, source=self.body_filepath or "body") if body is not None else []
        resources = bodies.job_operator_defaults(resources)
        first = resources[0] if resources else None
        if first is not None and (self.job_template_file or self.full_job_spec is not None):
            raise ConfigurationError("give a body (the job-operator's) or job_template_file/full_job_spec")
        if first is not None and first.get("kind") not in ("Job", "Pod"):
            raise ConfigurationError(
                f"the body's first resource is a {first.get('kind')}: it must be the Job (or Pod) "
                "that the keywords shape"
            )
        self._body_pod = first if first is not None and first["kind"] == "Pod" else None
        try:
            pod = self.build_pod_request_obj(context, target=target)
        finally:
            self._body_pod = None
        job = pod_to_job(pod, job_spec=self.job_keywords)
        body_job = first if first is not None and first["kind"] == "Job" else None
        template = self._job_template(body_job=body_job)
        if template is not None:
            job = self._over_template(
                template,
                job,
                name_given=bool(getattr(self, "name", None)),
                random_suffix=getattr(self, "random_name_suffix", True) is not False,
            )
        created = [job]
        if len(resources) > 1:  # created alongside, named as the job-operator names a body's resources
            name = getattr(self, "name", None) or self.task_id
            rest = bodynames.name_resources(
                resources[1:], name_prefix=name, name_postfix=None, random_postfix_length=8
            )
            created = bodies.inject_resources_env([job, *rest], names=bodynames.resource_names([job, *rest]))
        bodycheck.validate_resources(created)
        return created
