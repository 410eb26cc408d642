"""KubernetesJobOperator: YAML bodies with several resources and custom kinds, or an image; then defer.

Drop-in for ``airflow-kubernetes-job-operator`` (``body`` / ``body_filepath`` / ``image`` +
``command``, ``delete_policy``, ``::kube_api:`` XCom) and accepts the cncf provider's Job keywords
(``parallelism``, ``completions``, ``backoff_limit``, ...). Every resource of the body is created;
the first is tracked: a Job by the Job trigger, a Pod by the pod trigger, anything else by the
resource trigger and its status rule. Everything is validated before the first resource is
created; if creating resource k of n fails, resources 1..k-1 are deleted.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import jinja2
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowTaskTimeout
from airflow.triggers.base import StartTriggerArgs

from airflow_k8s_async._kube import bodies
from airflow_k8s_async._kube.client import KubeClient, get_client
from airflow_k8s_async._kube.discovery import resolve_all
from airflow_k8s_async._kube.jobspec import job_summary, job_template, reconcile_jobs
from airflow_k8s_async._kube.kinds import never_finishes, rule_for, rule_from_dict, rule_to_dict
from airflow_k8s_async._kube.mapping import as_list, as_map, as_time
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE, MANAGED_SELECTOR
from airflow_k8s_async._kube.podcheck import sanitize_label_value
from airflow_k8s_async._kube.podnames import add_unique_suffix
from airflow_k8s_async._kube.podspec import PodKeywords, build_pod, load_template_file, validate_pod
from airflow_k8s_async._kube.podsubmit import identity_labels
from airflow_k8s_async._kube.states import object_state
from airflow_k8s_async._kube.watch import Resource
from airflow_k8s_async.errors import (
    AirflowK8sAsyncError,
    ConfigurationError,
    KubeConflictError,
    KubeForbiddenError,
)
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID, KubeTarget
from airflow_k8s_async.operators.jobcontrol import KubernetesDeleteJobOperator, KubernetesPatchJobOperator
from airflow_k8s_async.operators.jobstart import start_trigger_args
from airflow_k8s_async.operators.pod import KubernetesPodOperator, api_value, log_choice
from airflow_k8s_async.operators.shared import KubeOperatorMixin, checked_max_log_bytes, checked_seconds
from airflow_k8s_async.operators.shared import wait_before_defer_seconds as wait_before_defer_seconds_default
from airflow_k8s_async.operators.starting import written_keywords
from airflow_k8s_async.operators.sync import run_sync
from airflow_k8s_async.settings import DEFAULT_EXECUTION_KIND, DELETE_POLICY, STARTUP_TIMEOUT_SECONDS, setting
from airflow_k8s_async.triggers.common import KubeTrigger, delete_resources
from airflow_k8s_async.triggers.finish import (
    DELETE_POLICIES,
    FinishPlan,
    apply_finish_action,
    default_xcom_parser,
    outcome,
)
from airflow_k8s_async.triggers.job import PROPAGATION_POLICIES, KubernetesJobTrigger
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger
from airflow_k8s_async.triggers.resource import KubernetesResourceTrigger

__all__ = [
    "JobOptions",
    "KubeApiEvent",
    "KubernetesDeleteJobOperator",  # the provider's module holds them too
    "KubernetesJobOperator",
    "KubernetesLegacyJobOperator",
    "KubernetesPatchJobOperator",
    "delete_policy_for",
    "pod_to_job",
]

# The pod operator's on_finish_action, for a Job. The provider's Job operator applies it to the Job's
# pods once the Job has ended: delete_pod deletes them whatever the outcome, delete_succeeded_pod
# only succeeded ones, keep_pod and delete_active_pod (no pod is active after the end) none. Here the
# Job goes with its pods (a Job without pods tells nothing more than the "job" XCom).
FINISH_ACTION_POLICIES = {
    "delete_pod": "Always",
    "delete_succeeded_pod": "IfSucceeded",
    "keep_pod": "Never",
    "delete_active_pod": "Never",
}
# Pod operator waiting/finishing keywords with a meaning for a Job (see _CreatesResources); the others
# of _POD_WAITING_KEYWORDS (bottom of the module) are accepted with no effect.
_POD_WAITING_MAPPED = frozenset(
    {
        "container_logs",
        "init_container_logs",
        "log_events_on_failure",
        "on_finish_action",
        "is_delete_operator_pod",
    }
)
# Pod operator keywords KubernetesJobOperator takes as the provider's Job operator does; the others
# (image, arguments, namespace, labels, pull policy/secrets) it has itself, with the same meaning.
_POD_ONLY_KEYWORDS = frozenset(f.name for f in fields(PodKeywords)) - {
    "image",
    "arguments",
    "namespace",
    "labels",
    "image_pull_policy",
    "image_pull_secrets",
    "active_deadline_seconds",
}
# The cncf provider's Job keywords -> the Job's spec field.
_JOB_SPEC_KEYWORDS = {
    "parallelism": "parallelism",
    "completions": "completions",
    "backoff_limit": "backoffLimit",
    "completion_mode": "completionMode",
    "ttl_seconds_after_finished": "ttlSecondsAfterFinished",
    "active_deadline_seconds": "activeDeadlineSeconds",
    "manual_selector": "manualSelector",
    "selector": "selector",
    "suspend": "suspend",  # Kubernetes >= 1.21; older API servers drop the field (a warning says so)
}
# What an image-only task runs, by [kubernetes_async] default_execution_kind.
_IMAGE_BODIES: dict[str, dict[str, Any]] = {
    "Job": {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "job"},
        "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}},
    },
    "Pod": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pod"},
        "spec": {"containers": [{"name": "main"}]},
    },
}


@dataclass(frozen=True)
class KubeApiEvent:
    """A ``::kube_api:NAME=VALUE`` line, as ``on_kube_api_event(event, context)`` receives it."""

    name: str
    value: str
    pod: str
    container: str


@dataclass(frozen=True)
class JobOptions:
    """The cncf provider's Job operator keywords that are not Job spec fields (defaults: ours)."""

    job_template_file: str | None = None  # YAML Job laid under the keywords' Job
    full_job_spec: Any = None  # a Job (V1Job or dict) over the file's, under the keywords
    wait_until_job_complete: bool = True  # False: return once created (the provider's default)
    job_poll_interval: float = 10  # no effect: the Job is watched, not polled
    on_kill_propagation_policy: str = "Foreground"  # Foreground, Background or Orphan
    discover_pods_retry_number: int = 3  # no effect: pods come from the shared watch
    unwrap_single: bool = True  # no effect: do_xcom_push is refused for Jobs (see the docs)


def pod_to_job(pod: Mapping[str, Any], *, job_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A built pod as the template of a Job with the same name, labels and annotations."""
    meta = pod["metadata"]
    template_meta = {k: dict(meta[k]) for k in ("labels", "annotations") if meta.get(k)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {k: v for k, v in meta.items() if k in ("name", "namespace", "labels", "annotations")},
        "spec": {**job_spec, "template": {"metadata": template_meta, "spec": dict(pod["spec"])}},
    }


def _secret_files(value: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """``{secret: {key: file path}}``, checked at parse time."""
    if not value:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigurationError("mount_files_from_secret: use {'secret-name': {'key': '/path/to/file'}}")
    return {str(secret): {str(k): str(p) for k, p in files.items()} for secret, files in value.items()}


def _secret_volume_name(secret: str) -> str:
    # The job-operator names these "__auto_mounted_secret_files_<secret>", which the API server
    # refuses (volume names are DNS labels); the same idea, valid.
    return f"secret-files-{secret}"[:63].rstrip("-.")


_NO_SIDECAR = (
    "do_xcom_push (an XCom sidecar in every pod of the Job) is not supported for Jobs: print a line "
    '::kube_api:xcom={"key": value} from the main container instead; each key becomes an XCom '
    "(see docs/job-operator.md)"
)


def delete_policy_for(
    *, delete_policy: str | None, on_finish_action: str | None, is_delete_operator_pod: bool | None
) -> str:
    """What is deleted at the end: ``is_delete_operator_pod=False`` keeps everything (both anchors'
    meaning), else ``delete_policy``, else ``on_finish_action`` (see FINISH_ACTION_POLICIES), else
    ``[kubernetes_async] delete_policy`` (IfSucceeded). ``is_delete_operator_pod=True`` is the default."""
    if on_finish_action is not None and on_finish_action not in FINISH_ACTION_POLICIES:
        raise ConfigurationError(
            f"on_finish_action={on_finish_action!r}: use one of {tuple(FINISH_ACTION_POLICIES)}"
        )
    if is_delete_operator_pod is False:
        return "Never"
    if delete_policy is None and on_finish_action is not None:
        delete_policy = FINISH_ACTION_POLICIES[on_finish_action]
    policy = delete_policy or setting(DELETE_POLICY)
    if policy not in DELETE_POLICIES:
        raise ConfigurationError(f"delete_policy={policy!r}: use one of {DELETE_POLICIES}")
    return policy


def _job_spec_fields(given: Mapping[str, Any]) -> dict[str, Any]:
    """The Job spec fields set by the keywords in an ``__init__``'s locals."""
    return {
        field: api_value(given[keyword], where=keyword)
        for keyword, field in _JOB_SPEC_KEYWORDS.items()
        if given[keyword] is not None
    }


async def _same_start(client: KubeClient, path: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The object at ``path`` when it carries ``labels`` (this try's): else the name is taken."""
    found = as_map(await client.request("GET", path))
    meta = as_map(found.get("metadata"))
    theirs = as_map(meta.get("labels"))
    if meta.get("deletionTimestamp") or any(theirs.get(key) != value for key, value in labels.items()):
        raise KubeConflictError(
            f"{path} exists and is not this try's (labels {dict(theirs)})", status=409, path=path
        )
    return found


class _CreatesResources(KubeOperatorMixin):
    """Create resources, wait for the first through its trigger, finish: shared by both operators.

    The operator provides ``build_resources(context)`` and the attributes declared here.
    """

    namespace: str | None
    labels: dict[str, Any] | None
    delete_policy: str
    delete_on_kill: bool
    get_logs: bool
    container_logs: bool | str | list[str] | None
    init_container_logs: bool | str | list[str] | None
    log_events_on_failure: bool
    max_log_bytes: int | None
    startup_timeout_seconds: Any
    status_rule: dict[str, Any] | None
    deferrable: bool
    on_kube_api_event: Callable[[KubeApiEvent, Context], None] | None
    parse_xcom_event: Callable[[str], dict[str, Any]]
    log: Any
    _created: list[dict[str, Any]]
    body: str | dict[str, Any] | list[dict[str, Any]] | None
    body_filepath: str | None
    enable_jinja: bool
    jinja_job_args: dict[str, Any]
    job_template_file: str | None
    full_job_spec: Any
    wait_until_job_complete: bool
    on_kill_propagation_policy: str
    _first_object: dict[str, Any] | None
    _written_keywords: dict[str, Any]  # what the DAG gave __init__ (operators/jobstart.py)

    if TYPE_CHECKING:  # provided by the operator classes (BaseOperator, and their own builder)

        def build_resources(
            self, context: Context | None = None, *, target: KubeTarget | None = None
        ) -> list[dict[str, Any]]: ...

        def defer(self, **kwargs: Any) -> Any: ...

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
        ignored = sorted(set(given) - _POD_WAITING_MAPPED)
        if ignored:
            self.log.debug(
                "%s: accepted for compatibility, no effect on a Job (see docs/job-operator.md)", ignored
            )

    def _base_container_name(self) -> str | None:
        """The container whose exit code decides (None: the main-container annotation, "base", the first)."""
        return getattr(self, "base_container_name", None)

    def _set_job_options(self, given: Mapping[str, Any]) -> None:
        """Store :class:`JobOptions` from an ``__init__``'s locals, checked at parse time."""
        options = JobOptions(**{f.name: given[f.name] for f in fields(JobOptions)})
        if options.on_kill_propagation_policy not in PROPAGATION_POLICIES:
            raise ConfigurationError(
                f"on_kill_propagation_policy={options.on_kill_propagation_policy!r}: "
                f"use one of {PROPAGATION_POLICIES}"
            )
        for field in fields(JobOptions):
            value = getattr(options, field.name)
            setattr(
                self,
                field.name,
                api_value(value, where=field.name) if field.name == "full_job_spec" else value,
            )
        self._first_object = None
        self._first_created_at: float | None = None  # the first resource's creationTimestamp
        # A task started in the triggerer: the files' contents, read when the DAG was parsed.
        self._parse_time_files: dict[str, Any] = {}

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

    def _identity(self, context: Context) -> dict[str, str]:
        """The labels of every try of this task instance (as the pod operator's)."""
        ti = context["ti"]
        return identity_labels(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=context["run_id"],
            map_index=getattr(ti, "map_index", None),
        )

    def _labels(self, context: Context) -> dict[str, str]:
        user = {k: sanitize_label_value(str(v)) for k, v in (self.labels or {}).items()}
        try_number = str(context["ti"].try_number)
        return {**user, **self._identity(context), "try_number": try_number, MANAGED_BY_KEY: MANAGED_BY_VALUE}

    # -- running ---------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        target = self._target()
        resources = self.build_resources(context, target=target)
        namespace = self.namespace or target.namespace or "default"
        self._created = run_sync(lambda: self._create_all(target, resources, namespace, context))
        first = self._created[0]
        if first["kind"] == "Job":  # as the provider's Job operator
            context["ti"].xcom_push(key="job_name", value=first["name"])
            context["ti"].xcom_push(key="job_namespace", value=first["namespace"])
        if not self.wait_until_job_complete:
            if first["kind"] == "Job":
                context["ti"].xcom_push(key="job", value=self._first_object)
            self.log.info(
                "wait_until_job_complete=False: not waiting for %s %s/%s, which keeps running; "
                "delete_policy is not applied",
                first["kind"],
                first["namespace"],
                first["name"],
            )
            return None
        trigger = self._resource_trigger(context)
        if self.deferrable:
            event = run_sync(lambda: self._wait_briefly(trigger))
            if event is None:
                finish = self._finish_plan(try_number=context["ti"].try_number)
                trigger = self._resource_trigger(context, finish=finish)
                self.log.info(
                    "Deferring: the triggerer waits for %s %s",
                    self._created[0]["kind"],
                    self._created[0]["name"],
                )
                self.defer(trigger=trigger, method_name="execute_complete")
        else:
            event = run_sync(trigger.wait)
        assert event is not None  # defer() raises when the wait is handed to the triggerer
        return self.execute_complete(context, event)

    async def _create_all(
        self,
        target: KubeTarget,
        resources: list[dict[str, Any]],
        namespace: str,
        context: Context,
        *,
        adopt: bool = False,
    ) -> list[dict[str, Any]]:
        """Create ``resources`` in order; on a failure delete those created before it. ``adopt``
        (a start in the triggerer, names derived from the try): an object of the same name with
        this try's labels is the same start run again, and is taken instead of refused."""
        client = await get_client(target.cluster)
        kinds = await resolve_all(client, resources=resources)  # unknown kinds fail before creating
        # wait_until_job_complete=False: an earlier try's Job runs on by design
        if context["ti"].try_number > 1 and self.delete_policy != "Never" and self.wait_until_job_complete:
            await self._clear_earlier_tries(client, kinds, resources, namespace, context)
        labels = self._labels(context)
        owned = bodies.own_resources(
            resources,
            labels=labels,
            namespace=namespace,
            namespaced=lambda version, kind: kinds[version, kind].namespaced,
        )
        created: list[dict[str, Any]] = []
        for index, resource in enumerate(owned, start=1):
            kind: Resource = kinds[str(resource["apiVersion"]), str(resource["kind"])]
            meta = resource["metadata"]
            ns = meta.get("namespace") if kind.namespaced else None
            try:
                try:
                    answer = await client.request("POST", kind.path(namespace=ns), body=resource)
                except KubeConflictError:
                    if not adopt:
                        raise
                    answer = await _same_start(client, kind.path(namespace=ns, name=meta["name"]), labels)
                    self.log.info(
                        "Found %s %s of this try (created before a restart)", resource["kind"], meta["name"]
                    )
            except AirflowK8sAsyncError as exc:
                await delete_resources(client, created, log=self.log)
                raise ConfigurationError(
                    f"creating resource {index} of {len(owned)} ({resource['kind']} {meta.get('name')}) "
                    f"failed: {exc}; the {len(created)} created before it were deleted"
                ) from exc
            if index == 1:
                self._first_object = job_summary(answer)
            if resource["kind"] == "Job" and (resource.get("spec") or {}).get("suspend"):
                if not (answer.get("spec") or {}).get("suspend"):
                    self.log.warning(
                        "The API server dropped spec.suspend of Job %s (Kubernetes < 1.21 has no "
                        "suspend): the Job runs at once",
                        meta["name"],
                    )
            created.append(
                {
                    "apiVersion": resource["apiVersion"],
                    "kind": resource["kind"],
                    "name": meta["name"],
                    "namespace": ns,
                    "uid": answer["metadata"]["uid"],
                    "path": kind.path(namespace=ns, name=meta["name"]),
                }
            )
            if index == 1:
                self._first_created_at = as_time(answer["metadata"].get("creationTimestamp"))
            self.log.info("Created %s %s", resource["kind"], meta["name"])
        return created

    async def _clear_earlier_tries(
        self,
        client: KubeClient,
        kinds: Mapping[tuple[str, str], Resource],
        resources: list[dict[str, Any]],
        namespace: str,
        context: Context,
    ) -> None:
        """Delete what an earlier try left running: its worker died after creating and before the
        wait was handed over (nothing waits for those objects any more, and this try makes them
        again). A try whose first object ended is kept, as delete_policy decided at its end.
        Only Job- or Pod-led bodies: another kind's end is told by a rule this may not know."""
        first = (str(resources[0]["apiVersion"]), str(resources[0]["kind"]))
        if first not in (("batch/v1", "Job"), ("v1", "Pod")):
            return
        wanted = dict.fromkeys((str(r["apiVersion"]), str(r["kind"])) for r in resources)
        selector = ",".join(
            [
                *(f"{k}={v}" for k, v in self._identity(context).items()),
                MANAGED_SELECTOR,
                f"try_number!={context['ti'].try_number}",
            ]
        )
        by_try: dict[str, list[tuple[Resource, dict[str, Any]]]] = {}
        for version, kind_name in wanted:
            kind = kinds[version, kind_name]
            path = kind.path(namespace=namespace if kind.namespaced else None)
            try:
                found = await client.request("GET", path, query={"labelSelector": selector})
            except KubeForbiddenError:
                if (version, kind_name) == first:
                    raise
                # The shipped RBAC lets the worker create and delete a body's other kinds, not list
                # them: those of a try left running are then not found (the GC has no owner to go by).
                self.log.info(
                    "Not looking for %s left by earlier tries: no permission to list them", kind.plural
                )
                continue
            for item in as_list(found.get("items")):
                meta = as_map(item.get("metadata"))
                if not meta.get("deletionTimestamp"):
                    by_try.setdefault(str(as_map(meta.get("labels")).get("try_number")), []).append(
                        (kind, item)
                    )
        main = self._base_container_name()
        for try_number, objects in sorted(by_try.items()):
            tracked = [
                {**item, "apiVersion": kind.api_version, "kind": kind.kind}  # a list's items have neither
                for kind, item in objects
                if (kind.api_version, kind.kind) == first
            ]
            if not tracked or all(object_state(item, main_container=main).terminal for item in tracked):
                continue
            left = [
                {
                    "kind": kind.kind,
                    "name": item["metadata"]["name"],
                    "uid": item["metadata"]["uid"],
                    "path": kind.path(
                        namespace=item["metadata"].get("namespace") if kind.namespaced else None,
                        name=item["metadata"]["name"],
                    ),
                }
                for kind, item in objects
            ]
            deleted = await delete_resources(client, left, log=self.log)
            if deleted:
                self.log.warning(
                    "Deleted %s of try %s, still running with that try over (e.g. its worker was "
                    "lost before deferring): this try runs it anew",
                    ", ".join(deleted),
                    try_number,
                )

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

    def _resource_trigger(
        self, context: Context, *, finish: dict[str, Any] | None = None, deadline: float | None = None
    ) -> KubeTrigger:
        """The trigger that waits for the first resource; ``deadline`` (absolute) replaces the one
        from ``execution_timeout`` and the task's start."""
        first = self._created[0]
        deadline = deadline if deadline is not None else self._deadline(context)
        connection: dict[str, Any] = {
            "kubernetes_conn_id": self.kubernetes_conn_id,
            "config_file": self.config_file,
            "cluster_context": self.cluster_context,
            "in_cluster": self.in_cluster,
            "finish": finish,
        }
        if first["kind"] == "Job" and str(first["apiVersion"]).startswith("batch/"):
            return KubernetesJobTrigger(
                job_name=first["name"],
                job_namespace=first["namespace"],
                job_uid=first["uid"],
                base_container_name=self._base_container_name(),
                get_logs=self.get_logs,
                container_logs=self.container_logs,
                init_container_logs=self.init_container_logs,
                max_log_bytes=self.max_log_bytes,
                log_events_on_failure=self.log_events_on_failure,
                startup_timeout=self.startup_timeout_seconds,
                deadline=deadline,
                resources=self._created,
                delete_on_kill=self.delete_on_kill,
                on_kill_propagation_policy=self.on_kill_propagation_policy,
                **connection,
            )
        if first["kind"] == "Pod" and first["apiVersion"] == "v1":
            return KubernetesPodTrigger(
                pod_name=first["name"],
                pod_namespace=first["namespace"],
                pod_uid=first["uid"],
                base_container_name=self._base_container_name(),  # None: annotation, "base", the first
                get_logs=self.get_logs,
                container_logs=self.container_logs,
                init_container_logs=self.init_container_logs,
                max_log_bytes=self.max_log_bytes,
                log_events_on_failure=self.log_events_on_failure,
                startup_timeout=self.startup_timeout_seconds,
                deadline=deadline,
                on_kill_action="delete_pod" if self.delete_on_kill else "keep_pod",
                resources=self._created,
                **connection,
            )
        rule = self.status_rule
        if rule is None and (registered := rule_for(first["apiVersion"], first["kind"])) is not None:
            rule = rule_to_dict(registered)
        return KubernetesResourceTrigger(
            api_version=first["apiVersion"],
            kind=first["kind"],
            name=first["name"],
            namespace=first["namespace"],
            uid=first["uid"],
            rule=rule,
            deadline=deadline,
            resources=self._created,
            delete_on_kill=self.delete_on_kill,
            **connection,
        )

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
            self._apply_delete_policy(event)

    def _apply_delete_policy(self, event: Mapping[str, Any]) -> None:
        # After a deferral this is a new operator instance: the event carries what was created.
        created = self._created or list(event.get("resources") or [])
        if not created:
            return

        async def finish() -> None:
            client: KubeClient = await get_client(self._target().cluster)
            await apply_finish_action(
                client, {**event, "resources": created}, action=self.delete_policy, log=self.log
            )

        run_sync(finish)

    def on_kill(self) -> None:
        """Killed on the worker (``deferrable=False``, or before deferring): delete what was created,
        as the trigger does when deferred."""
        created = self._created
        if not created or not self.delete_on_kill or not self.wait_until_job_complete:
            return

        async def delete_created() -> None:
            client: KubeClient = await get_client(self._target().cluster)
            policy = self.on_kill_propagation_policy
            await delete_resources(client, created, log=self.log, propagation=policy)

        run_sync(delete_created)


class KubernetesJobOperator(_CreatesResources, BaseOperator):
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
            raise ConfigurationError(_NO_SIDECAR)
        kwargs.pop("do_xcom_push", None)  # False: BaseOperator's, with its meaning (return value)
        # The cncf provider's Job operator takes the pod operator's keywords (cmds, env_vars, ...),
        # those that shape the pod and those about waiting and finishing.
        self.pod_keywords = {
            k: kwargs.pop(k) if k == "secrets" else api_value(kwargs.pop(k), where=k)
            for k in list(kwargs)
            if k in _POD_ONLY_KEYWORDS
        }
        waiting = {k: kwargs.pop(k) for k in list(kwargs) if k in _POD_WAITING_KEYWORDS}
        super().__init__(**kwargs)
        self.mount_files_from_secret = _secret_files(mount_files_from_secret)
        if body is not None and body_filepath is not None:
            raise ConfigurationError("give body or body_filepath, not both")
        self.body = body
        self.body_filepath = body_filepath
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
        self.enable_jinja = enable_jinja
        self.jinja_job_args = jinja_job_args or {}
        self.on_kube_api_event = on_kube_api_event
        self.parse_xcom_event = parse_xcom_event
        self.status_rule = dict(status_rule) if status_rule is not None else None
        if self.status_rule is not None:
            rule_from_dict(self.status_rule)  # a malformed rule fails at parse time
        given = locals()
        self.job_keywords = _job_spec_fields(given)
        self._set_job_options(given)
        self.deferrable = deferrable
        self.wait_before_defer_seconds = wait_before_defer_seconds_default(wait_before_defer_seconds)
        self._created: list[dict[str, Any]] = []
        self._written_keywords = written
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
        return [json.loads(json.dumps(_IMAGE_BODIES[kind]))]

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
        resources = bodies.name_resources(
            resources,
            name_prefix=self.name_prefix or self.task_id,
            name_postfix=self.name_postfix,
            random_postfix_length=self.random_name_postfix_length,
        )
        resources = bodies.inject_resources_env(resources, names=bodies.resource_names(resources))
        bodies.validate_resources(resources)
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
        jobs = bodies.inject_resources_env(job, names=bodies.resource_names(job))
        bodies.validate_resources(jobs)
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
            volume = _secret_volume_name(secret)
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


class KubernetesLegacyJobOperator(_CreatesResources, KubernetesPodOperator):
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
            raise ConfigurationError(_NO_SIDECAR)
        if body is not None and body_filepath is not None:
            raise ConfigurationError("give body or body_filepath, not both")
        # active_deadline_seconds stays the Job's, as in the provider's; start_from_trigger is
        # decided below, once the Job's attributes are set
        super().__init__(is_delete_operator_pod=is_delete_operator_pod, start_from_trigger=False, **kwargs)
        given = locals()
        self.job_keywords = _job_spec_fields(given)
        self._set_job_options(given)
        waiting = {k: v for k, v in kwargs.items() if k in _POD_WAITING_KEYWORDS}
        waiting |= {"on_finish_action": on_finish_action, "is_delete_operator_pod": is_delete_operator_pod}
        self._set_pod_waiting_keywords(
            {k: v for k, v in waiting.items() if v is not None}, delete_policy=delete_policy
        )
        self.body = body
        self.body_filepath = body_filepath
        self.validate_body_on_init = validate_body_on_init  # bodies are always validated before creating
        self.enable_jinja = enable_jinja
        self.jinja_job_args = jinja_job_args or {}
        self.on_kube_api_event = on_kube_api_event
        self.parse_xcom_event = parse_xcom_event
        self.status_rule = None
        self._created = []
        self._body_pod: dict[str, Any] | None = None
        self._written_keywords = written
        self._init_start_from_trigger(start_from_trigger)  # _CreatesResources' trigger, not the pod's

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
            rest = bodies.name_resources(
                resources[1:], name_prefix=name, name_postfix=None, random_postfix_length=8
            )
            created = bodies.inject_resources_env([job, *rest], names=bodies.resource_names([job, *rest]))
        bodies.validate_resources(created)
        return created


# The pod operator's keywords that neither shape the pod nor are KubernetesJobOperator's own: about
# waiting and finishing. KubernetesJobOperator takes them out of **kwargs (_POD_WAITING_MAPPED have a
# meaning for a Job); KubernetesLegacyJobOperator has them from its pod operator base.
_POD_WAITING_KEYWORDS = (
    frozenset(
        name
        for name, param in inspect.signature(KubernetesPodOperator.__init__).parameters.items()
        if param.kind is param.KEYWORD_ONLY
    )
    - {f.name for f in fields(PodKeywords)}
    - frozenset(inspect.signature(KubernetesJobOperator.__init__).parameters)
)
