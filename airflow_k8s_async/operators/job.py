"""KubernetesJobOperator: YAML bodies with several resources and custom kinds, or an image; then defer.

Drop-in for ``airflow-kubernetes-job-operator`` (``body`` / ``body_filepath`` / ``image`` +
``command``, ``delete_policy``, ``::kube_api:`` XCom) and accepts the cncf provider's Job keywords
(``parallelism``, ``completions``, ``backoff_limit``, ...). Every resource of the body is created;
the first is tracked: a Job by the Job trigger, a Pod by the pod trigger, anything else by the
resource trigger and its status rule. Everything is validated before the first resource is
created; if creating resource k of n fails, resources 1..k-1 are deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_k8s_async._kube import bodies, bodycheck, bodynames
from airflow_k8s_async._kube.kinds import never_finishes
from airflow_k8s_async._kube.mapping import as_map
from airflow_k8s_async._kube.podspec import PodKeywords, build_pod, validate_pod
from airflow_k8s_async.errors import (
    ConfigurationError,
)
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID, KubeTarget
from airflow_k8s_async.operators.jobcontrol import KubernetesDeleteJobOperator, KubernetesPatchJobOperator
from airflow_k8s_async.operators.jobkeywords import (
    IMAGE_BODIES,
    NO_SIDECAR,
    POD_ONLY_KEYWORDS,
    JobOptions,
    KubeApiEvent,
    delete_policy_for,
    pod_to_job,
    pod_waiting_keywords,
    secret_files,
    secret_volume_name,
)
from airflow_k8s_async.operators.jobtask import JobTaskMixin
from airflow_k8s_async.operators.legacyjob import KubernetesLegacyJobOperator
from airflow_k8s_async.operators.podkeywords import api_value
from airflow_k8s_async.operators.shared import checked_max_log_bytes, checked_seconds
from airflow_k8s_async.operators.shared import wait_before_defer_seconds as wait_before_defer_seconds_default
from airflow_k8s_async.operators.starting import written_keywords
from airflow_k8s_async.settings import DEFAULT_EXECUTION_KIND, STARTUP_TIMEOUT_SECONDS, setting
from airflow_k8s_async.triggers.finish import (
    default_xcom_parser,
)

__all__ = [  # the provider's module holds the Patch and Delete operators too
    "JobOptions",
    "KubeApiEvent",
    "KubernetesDeleteJobOperator",
    "KubernetesJobOperator",
    "KubernetesLegacyJobOperator",
    "KubernetesPatchJobOperator",
    "delete_policy_for",
    "pod_to_job",
]


class KubernetesJobOperator(JobTaskMixin, BaseOperator):
    """Create the resources of a body (or a Job from ``image``), wait for the first, clean up.

    :param body / body_filepath: YAML text, a dict or a list of dicts / a YAML file (relative to the
        DAG's folder); Jinja-rendered with ``jinja_job_args`` as ``job`` when ``enable_jinja``.
    :param image / command / arguments / envs / image_pull_policy / image_pull_secrets: override the
        first resource's main container (annotation ``kubernetes_job_operator.main_container``).
    :param delete_policy: ``Never``, ``Always``, ``IfFailed``, ``IfSucceeded`` (default from
        ``[kubernetes_async] delete_policy``, else IfSucceeded), applied at the end and on kill.
    :param status_rule: how a custom kind's object says it is done (see ``_kube/kinds.py``);
        default: a rule registered with ``register_kind``, else conditions/phase.
    :param on_kube_api_event: ``callable(event, context)`` for every ``::kube_api:`` line.
    :param parse_xcom_event: turns the value of ``::kube_api:xcom=`` into a dict of XComs.
    :param validate_body_on_init: accepted; bodies are always validated before anything is created.
    :param mount_files_from_secret: ``{secret: {key: file path}}``: those keys of those Secrets appear
        as files in the main container.

    Every keyword of the cncf provider's KubernetesJobOperator is accepted, its KubernetesPodOperator's
    included: those that shape the pod build the Job's pod template; ``base_container_name`` is the
    container whose exit code decides, ``container_logs`` / ``init_container_logs`` choose whose logs
    stream, ``log_events_on_failure`` logs the events of the pods that did not succeed,
    ``on_finish_action`` / ``is_delete_operator_pod`` set ``delete_policy`` (FINISH_ACTION_POLICIES);
    the rest of the pod operator's waiting keywords have no effect on a Job (docs/job-operator.md).
    ``do_xcom_push`` is refused: ``::kube_api:xcom=`` lines carry XCom.
    """

    template_fields: Sequence[str] = (
        "command",
        "arguments",
        "image",
        "envs",
        "body",
        "body_filepath",
        "namespace",
        "config_file",
        "cluster_context",
        "jinja_job_args",
        "labels",
        "name_prefix",
        "name_postfix",
        "mount_files_from_secret",
        "pod_keywords",
        "job_template_file",
    )

    def __init__(
        self,
        *,
        body: str | dict[str, Any] | list[dict[str, Any]] | None = None,
        body_filepath: str | None = None,
        image: str | None = None,
        command: list[str] | None = None,
        arguments: list[str] | None = None,
        namespace: str | None = None,
        name_prefix: str | None = None,
        name_postfix: str | None = None,
        random_name_postfix_length: int = 8,
        envs: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        image_pull_policy: str | None = None,
        image_pull_secrets: str | list[str] | None = None,
        delete_policy: str | None = None,
        kubernetes_conn_id: str | None = DEFAULT_CONN_ID,
        in_cluster: bool | None = None,
        config_file: str | None = None,
        cluster_context: str | None = None,
        get_logs: bool = True,
        max_log_bytes: int | None = None,
        startup_timeout_seconds: float | None = None,
        validate_body_on_init: bool | None = None,
        enable_jinja: bool = True,
        jinja_job_args: dict[str, Any] | None = None,
        on_kube_api_event: Callable[[KubeApiEvent, Context], None] | None = None,
        parse_xcom_event: Callable[[str], dict[str, Any]] = default_xcom_parser,
        mount_files_from_secret: dict[str, Any] | None = None,
        status_rule: Mapping[str, Any] | None = None,
        # the cncf provider's Job keywords
        parallelism: int | None = None,
        completions: int | None = None,
        backoff_limit: int | None = None,
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
        deferrable: bool = True,
        wait_before_defer_seconds: float | None = None,
        start_from_trigger: bool | None = None,
        **kwargs: Any,
    ) -> None:
        written = written_keywords(KubernetesJobOperator.__init__, locals())  # for start_from_trigger
        if kwargs.get("do_xcom_push"):
            raise ConfigurationError(NO_SIDECAR)
        kwargs.pop("do_xcom_push", None)  # False: BaseOperator's, with its meaning (return value)
        # The cncf provider's Job operator takes the pod operator's keywords (cmds, env_vars, ...),
        # those that shape the pod and those about waiting and finishing.
        self.pod_keywords = {
            k: kwargs.pop(k) if k == "secrets" else api_value(kwargs.pop(k), where=k)
            for k in list(kwargs)
            if k in POD_ONLY_KEYWORDS
        }
        waiting = {k: kwargs.pop(k) for k in list(kwargs) if k in pod_waiting_keywords()}
        super().__init__(**kwargs)
        self.mount_files_from_secret = secret_files(mount_files_from_secret)
        self.image = image
        self.command = command
        self.arguments = arguments
        self.namespace = namespace
        self.name_prefix = name_prefix
        self.name_postfix = name_postfix
        self.random_name_postfix_length = random_name_postfix_length
        self.envs = envs
        self.labels = labels
        self.image_pull_policy = image_pull_policy
        self.image_pull_secrets = image_pull_secrets
        self._set_pod_waiting_keywords(waiting, delete_policy=delete_policy)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.in_cluster = in_cluster
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.get_logs = get_logs
        self.max_log_bytes = checked_max_log_bytes(max_log_bytes)
        self.startup_timeout_seconds = (
            checked_seconds("startup_timeout_seconds", startup_timeout_seconds)
            if startup_timeout_seconds is not None
            else setting(STARTUP_TIMEOUT_SECONDS)
        )
        self._set_job_options(locals(), written=written)
        self.deferrable = deferrable
        self.wait_before_defer_seconds = wait_before_defer_seconds_default(wait_before_defer_seconds)
        self._init_start_from_trigger(start_from_trigger)

    def _base_container_name(self) -> str | None:
        return self.pod_keywords.get("base_container_name")

    # -- building --------------------------------------------------------------------------------
    def _body_text_or_data(self, context: Context | None) -> Any:
        body = self._load_body(context)
        if body is not None:
            return body
        if not self.image:
            raise ConfigurationError("give a body, a body_filepath, or an image (with command)")
        kind = setting(DEFAULT_EXECUTION_KIND)
        return [json.loads(json.dumps(IMAGE_BODIES[kind]))]

    def build_resources(
        self, context: Context | None = None, *, target: KubeTarget | None = None
    ) -> list[dict[str, Any]]:
        """The resources this task would create, validated (nothing touches the cluster)."""
        if self.pod_keywords or self.job_template_file or self.full_job_spec is not None:
            return self._provider_style_job(
                namespace=self.namespace or (target.namespace if target else None)
            )
        resources = bodies.parse_body(self._body_text_or_data(context), source=self.body_filepath or "body")
        resources = bodies.job_operator_defaults(resources)
        first = resources[0]
        self._override_first(first)
        if self.status_rule is None and never_finishes(str(first["apiVersion"]), str(first["kind"])):
            raise ConfigurationError(
                f"the task waits for the first resource of the body, and a {first['kind']} never "
                "finishes: put the Job, Pod or other resource that ends first, or give status_rule="
            )
        resources = bodynames.name_resources(
            resources,
            name_prefix=self.name_prefix or self.task_id,
            name_postfix=self.name_postfix,
            random_postfix_length=self.random_name_postfix_length,
        )
        resources = bodies.inject_resources_env(resources, names=bodynames.resource_names(resources))
        bodycheck.validate_resources(resources)
        return resources

    def _provider_style_job(self, *, namespace: str | None) -> list[dict[str, Any]]:
        """The provider's form: pod keywords (+ image/arguments/...) -> one pod -> a Job."""
        if self.body is not None or self.body_filepath:
            named = sorted(self.pod_keywords) + [
                k for k in ("job_template_file", "full_job_spec") if getattr(self, k) is not None
            ]
            raise ConfigurationError(
                f"{named} describe the Job when it is built from an image; with a body, put them in the body"
            )
        given = {
            "image": self.image,
            "arguments": self.arguments,
            "cmds": self.pod_keywords.get("cmds") or self.command,
            "namespace": self.namespace,
            "labels": self.labels,
            "image_pull_policy": self.image_pull_policy,
            "image_pull_secrets": self.image_pull_secrets,
            "env_vars": self.pod_keywords.get("env_vars") or self.envs,
        }
        keywords = PodKeywords(
            **{
                **self.pod_keywords,
                **{k: v for k, v in given.items() if v is not None},
                **self._pod_template(),
            }
        )
        # The connection's namespace is the fallback, as for bodies (see execute).
        pod = build_pod(keywords=keywords, namespace=namespace or "default", task_id=self.task_id)
        validate_pod(pod)
        built = pod_to_job(pod, job_spec=self.job_keywords)
        template = self._job_template()
        if template is not None:
            name_given = bool(self.pod_keywords.get("name"))
            suffix = self.pod_keywords.get("random_name_suffix", True) is not False
            built = self._over_template(template, built, name_given=name_given, random_suffix=suffix)
        job = bodies.job_operator_defaults([built])
        jobs = bodies.inject_resources_env(job, names=bodynames.resource_names(job))
        bodycheck.validate_resources(jobs)
        return jobs

    def _override_first(self, first: dict[str, Any]) -> None:
        """Keywords on the tracked resource: its main container, and Job spec fields."""
        if first.get("kind") == "Job":
            first.setdefault("spec", {}).update(self.job_keywords)
        elif self.job_keywords:
            raise ConfigurationError(
                f"{sorted(self.job_keywords)} apply to a Job; the first resource is a {first.get('kind')}"
            )
        spec = as_map(first.get("spec"))
        pod_spec = as_map(spec.get("template")).get("spec") if first.get("kind") != "Pod" else spec
        if not isinstance(pod_spec, dict):
            return
        name = bodies.main_container(first if first.get("kind") == "Pod" else as_map(spec.get("template")))
        container = next((c for c in pod_spec.get("containers") or [] if c.get("name") == name), None)
        if container is None:
            return
        for key, value in (
            ("image", self.image),
            ("command", self.command),
            ("args", self.arguments),
            ("imagePullPolicy", self.image_pull_policy),
        ):
            if value:
                container[key] = value
        if self.envs:
            env = [e for e in container.get("env") or [] if e.get("name") not in self.envs]
            container["env"] = env + [{"name": k, "value": str(v)} for k, v in self.envs.items()]
        for secret, files in self.mount_files_from_secret.items():
            volume = secret_volume_name(secret)
            pod_spec["volumes"] = [
                *[v for v in pod_spec.get("volumes") or [] if v.get("name") != volume],
                {"name": volume, "secret": {"secretName": secret}},
            ]
            container["volumeMounts"] = [
                *(container.get("volumeMounts") or []),
                *(
                    {"name": volume, "mountPath": path, "subPath": key, "readOnly": True}
                    for key, path in files.items()
                ),
            ]
        if self.image_pull_secrets:
            names = (
                self.image_pull_secrets.split(",")
                if isinstance(self.image_pull_secrets, str)
                else self.image_pull_secrets
            )
            pod_spec["imagePullSecrets"] = [{"name": n.strip()} for n in names if n.strip()]
