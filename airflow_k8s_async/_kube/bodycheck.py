"""Validating a body's resources before anything is created: what the API server would reject,
every problem in one error.

Names by the API server's rules per kind, labels and annotations; Pods and the pod templates of
workloads (Job, CronJob, Deployment, ...) as ``podcheck.validate_pod`` checks pods. Apart from
``bodies.py`` (parsing and preparing a body) because its tables are the server's, not the
job-operator's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from .bodies import group_of, identity_problem, pod_templates
from .mapping import metadata_of
from .podcheck import DNS_LABEL, DNS_SUBDOMAIN, check_metadata, validate_pod

__all__ = ["validate_resources"]

_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# (group, kind) -> (pattern, max length, what the name must be); the API server's own rules.
_NAME_RULES: dict[tuple[str, str], tuple[re.Pattern[str], int, str]] = {
    ("", "Service"): (_DNS_1035, 63, "at most 63 lowercase letters, digits and '-', starting with a letter"),
    ("", "Namespace"): (DNS_LABEL, 63, "at most 63 lowercase letters, digits and '-'"),
    ("batch", "Job"): (DNS_SUBDOMAIN, 63, "at most 63 lowercase letters, digits, '-' and '.' (a label)"),
    ("batch", "CronJob"): (DNS_SUBDOMAIN, 52, "at most 52 lowercase letters, digits, '-' and '.'"),
}
_SUBDOMAIN_NAMED = frozenset(
    {
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "PersistentVolumeClaim"),
        ("", "ServiceAccount"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
    }
)
# Kinds whose pod templates are validated as pods, by (group, kind).
_WORKLOADS = frozenset(
    {
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("", "ReplicationController"),
    }
)


def _pod_problems(pod: Mapping[str, Any]) -> list[str]:
    try:
        validate_pod(pod)
    except ConfigurationError as exc:
        return str(exc).removeprefix("invalid pod: ").split("; ")
    return []


def _name_problem(group: str, kind: str, name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return "metadata.name is empty: give the resource a name"
    rule = _NAME_RULES.get((group, kind))
    if rule is None and (group, kind) in _SUBDOMAIN_NAMED:
        rule = (DNS_SUBDOMAIN, 253, "at most 253 lowercase letters, digits, '-' and '.'")
    if rule is not None:
        pattern, limit, what = rule
        if len(name) > limit or not pattern.fullmatch(name):
            return f"metadata.name {name!r} is not a valid {kind} name: use {what}, alphanumeric at both ends"
    elif len(name) > 253 or "/" in name or "%" in name or name in (".", ".."):
        return f"metadata.name {name!r} is invalid: use at most 253 characters, without '/' or '%'"
    return None


def _resource_problems(resource: Mapping[str, Any]) -> list[str]:
    problem = identity_problem(resource)
    if problem:
        return [problem]
    group, kind = group_of(resource["apiVersion"]), str(resource["kind"])
    metadata = metadata_of(resource)
    # A missing namespace is fine here (own_resources sets it), and so is a generateName alone
    # (name_resources turns it into a name).
    placeholder_ns = {"namespace": metadata.get("namespace") or "default"}
    named = bool(metadata.get("name"))
    if (group, kind) == ("", "Pod"):
        pod_metadata = {**metadata, **placeholder_ns, **({} if named else {"name": "placeholder"})}
        return _pod_problems({**resource, "metadata": pod_metadata})
    problems: list[str] = []
    name_problem = _name_problem(group, kind, metadata.get("name")) if named else None
    if name_problem:
        problems.append(name_problem)
    check_metadata({**metadata, "name": "placeholder", **placeholder_ns}, problems)
    for field, template in pod_templates(resource) if (group, kind) in _WORKLOADS else []:
        template_metadata = {**metadata_of(template), "name": "placeholder", **placeholder_ns}
        for text in _pod_problems({**template, "metadata": template_metadata}):
            problems.append(f"{field}.{text}" if text.startswith(("spec.", "metadata.")) else text)
    return problems


def validate_resources(resources: Sequence[Mapping[str, Any]]) -> None:
    """Raise one ConfigurationError listing every problem the API server would reject, each named
    ``resources[i] (Kind/name): field ...``: names, labels, annotations; Pods and the pod templates
    of Jobs, CronJobs and other workloads as :func:`podcheck.validate_pod` checks pods."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for index, resource in enumerate(resources):
        metadata = metadata_of(resource)
        kind, name = resource.get("kind"), metadata.get("name") or metadata.get("generateName")
        where = f"resources[{index}] ({kind}/{name})"
        problems.extend(f"{where}: {text}" for text in _resource_problems(resource))
        if metadata.get("name"):
            key = (group_of(resource.get("apiVersion")), str(kind), str(metadata.get("namespace")), str(name))
            if key in seen:
                problems.append(f"{where}: the same {kind} as resources[{seen[key]}]: give it another name")
            seen.setdefault(key, index)
    if problems:
        raise ConfigurationError("invalid resources: " + "; ".join(problems))
