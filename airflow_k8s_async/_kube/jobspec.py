"""A Job template under the operator's Job, with the cncf provider's ``reconcile_jobs`` precedence.

The template (``job_template_file``, ``full_job_spec``, or a body's Job) is the lower layer; the
Job built from the keywords is the upper one. The Job's metadata and pod template merge with the
pod rules of :mod:`podmerge`; the Job spec's own fields follow ``merge_fields`` (a set keyword wins,
an unset one keeps the template's value). Plain dicts only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_k8s_async._kube.mapping import as_map, metadata_of
from airflow_k8s_async._kube.podmerge import merge_fields, reconcile_metadata, reconcile_specs
from airflow_k8s_async._kube.podspec import SERVER_METADATA
from airflow_k8s_async.errors import ConfigurationError


def check_job_shape(body: Any, *, where: str) -> dict[str, Any] | None:
    """A Job template must be one batch Job with mappings where the merge expects them."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ConfigurationError(f"{where} must hold one Job (a mapping), not a {type(body).__name__}")
    if body.get("kind", "Job") != "Job":
        raise ConfigurationError(f"{where} holds a {body['kind']}, not a Job: give it a Job's body")
    spec = body.get("spec", {})
    template = spec.get("template", {}) if isinstance(spec, dict) else None
    if not isinstance(body.get("metadata", {}), dict) or not isinstance(template, dict):
        raise ConfigurationError(f"{where}: metadata, spec and spec.template must be mappings")
    if not isinstance(template.get("spec", {}), dict) or not isinstance(template.get("metadata", {}), dict):
        raise ConfigurationError(f"{where}: spec.template.metadata and spec.template.spec must be mappings")
    return body


def reconcile_jobs(base: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    """``client`` laid over ``base`` (the provider's ``KubernetesJobOperator.reconcile_jobs``)."""
    upper = copy.deepcopy(dict(client))
    base_spec, upper_spec = as_map(base.get("spec")), as_map(upper.get("spec"))
    if base_spec and upper_spec:
        base_template, upper_template = as_map(base_spec.get("template")), as_map(upper_spec.get("template"))
        template = dict(upper_template)
        lower_meta, upper_meta = metadata_of(base_template), metadata_of(upper_template)
        spec = reconcile_specs(as_map(base_template.get("spec")), as_map(upper_template.get("spec")))
        metadata = reconcile_metadata(lower_meta, upper_meta)
        if spec:
            template["spec"] = spec
        if metadata:
            template["metadata"] = metadata
        upper["spec"] = merge_fields(base_spec, {**upper_spec, "template": template})
    metadata = reconcile_metadata(metadata_of(base), metadata_of(upper))
    if metadata:
        upper["metadata"] = metadata
    return merge_fields(base, upper)


def job_template(*, from_file: Any, full_job_spec: Any) -> dict[str, Any] | None:
    """The lower layer: the file's Job with ``full_job_spec`` over it, server fields dropped."""
    lower = check_job_shape(from_file, where="job_template_file")
    full = check_job_shape(full_job_spec, where="full_job_spec")
    layer = reconcile_jobs(lower, full) if lower and full else copy.deepcopy(full or lower)
    if not layer:
        return None
    layer.pop("status", None)
    metadata = as_map(layer.get("metadata"))
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    return layer


def job_summary(job: Mapping[str, Any]) -> dict[str, Any]:
    """What the ``job`` XCom holds: the Job's kind, metadata (no ``managedFields``) and status.

    Its spec is left out: trigger events are written to the task log, and a spec's env values
    must not end up there.
    """
    metadata = {k: v for k, v in metadata_of(job).items() if k != "managedFields"}
    summary = {k: job[k] for k in ("apiVersion", "kind") if k in job}
    return {**summary, "metadata": metadata, "status": as_map(job.get("status"))}
