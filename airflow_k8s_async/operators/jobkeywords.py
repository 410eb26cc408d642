"""The Job operators' keywords: the cncf provider's Job keywords (``JobOptions``, the Job spec
fields), how the pod operator's keywords apply to a Job, and the helpers that read them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from airflow_k8s_async._kube.podspec import PodKeywords
from airflow_k8s_async.errors import (
    ConfigurationError,
)
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.operators.podkeywords import api_value
from airflow_k8s_async.settings import DELETE_POLICY, setting
from airflow_k8s_async.triggers.finish import (
    DELETE_POLICIES,
)

__all__ = [
    "IMAGE_BODIES",
    "NO_SIDECAR",
    "POD_ONLY_KEYWORDS",
    "POD_WAITING_MAPPED",
    "JobOptions",
    "KubeApiEvent",
    "delete_policy_for",
    "job_spec_fields",
    "pod_to_job",
    "pod_waiting_keywords",
    "secret_files",
    "secret_volume_name",
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
# Pod operator waiting/finishing keywords with a meaning for a Job (see JobTaskMixin); the others
# of pod_waiting_keywords() are accepted with no effect.
POD_WAITING_MAPPED = frozenset(
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
POD_ONLY_KEYWORDS = frozenset(f.name for f in fields(PodKeywords)) - {
    "image",
    "arguments",
    "namespace",
    "labels",
    "image_pull_policy",
    "image_pull_secrets",
    "active_deadline_seconds",
}
# The cncf provider's Job keywords -> the Job's spec field.
JOB_SPEC_KEYWORDS = {
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
IMAGE_BODIES: dict[str, dict[str, Any]] = {
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


def secret_files(value: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """``{secret: {key: file path}}``, checked at parse time."""
    if not value:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigurationError("mount_files_from_secret: use {'secret-name': {'key': '/path/to/file'}}")
    return {str(secret): {str(k): str(p) for k, p in files.items()} for secret, files in value.items()}


def secret_volume_name(secret: str) -> str:
    # The job-operator names these "__auto_mounted_secret_files_<secret>", which the API server
    # refuses (volume names are DNS labels); the same idea, valid.
    return f"secret-files-{secret}"[:63].rstrip("-.")


NO_SIDECAR = (
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


def job_spec_fields(given: Mapping[str, Any]) -> dict[str, Any]:
    """The Job spec fields set by the keywords in an ``__init__``'s locals."""
    return {
        field: api_value(given[keyword], where=keyword)
        for keyword, field in JOB_SPEC_KEYWORDS.items()
        if given[keyword] is not None
    }


@functools.cache
def pod_waiting_keywords() -> frozenset[str]:
    """The pod operator's keywords that neither shape the pod nor are KubernetesJobOperator's own:
    about waiting and finishing. KubernetesJobOperator takes them out of ``**kwargs``
    (``POD_WAITING_MAPPED`` have a meaning for a Job); KubernetesLegacyJobOperator has them from its
    pod operator base."""
    from airflow_k8s_async.operators.job import KubernetesJobOperator  # (it imports this module)

    pod_keywords = inspect.signature(KubernetesPodOperator.__init__).parameters.items()
    return (
        frozenset(name for name, param in pod_keywords if param.kind is param.KEYWORD_ONLY)
        - {f.name for f in fields(PodKeywords)}
        - frozenset(inspect.signature(KubernetesJobOperator.__init__).parameters)
    )
