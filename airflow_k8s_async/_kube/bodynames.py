"""Naming a body's resources as the job-operator does: ``{prefix}-{name}-{postfix}``, cut to what
each kind's name may hold, and pod specs' references to renamed objects of the same body followed.

name_limit        the longest name that works for a kind (63 where it ends up in a label or hostname)
name_prefix_from  the job-operator's ``to_kubernetes_valid_name`` for the prefix
name_resources    prefix, name, postfix (random by default), cut to the kind's name limit
resource_names    the names, in order (``KUBERNETES_JOB_OPERATOR_RESOURCES``)

Apart from ``bodies.py`` (parsing and preparing a body): a step of its own, with its own tables.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from .bodies import group_of
from .mapping import as_list, as_map, metadata_of
from .podnames import random_token

__all__ = [
    "DEFAULT_NAME_LIMIT",
    "NAME_PREFIX_MAX_LENGTH",
    "name_limit",
    "name_prefix_from",
    "name_resources",
    "resource_names",
]

# The job-operator's ``[kubernetes_job_operator] max_job_name_length``: the name prefix's limit.
NAME_PREFIX_MAX_LENGTH = 50
DEFAULT_NAME_LIMIT = 253
# Names that end up in a label value or a hostname (63), or get a suffix from a controller (52).
_NAME_LIMITS = {
    ("", "Pod"): 63,
    ("", "Service"): 63,
    ("", "Namespace"): 63,
    ("batch", "Job"): 63,
    ("batch", "CronJob"): 52,
    ("apps", "StatefulSet"): 52,
}


def name_limit(*, api_version: str, kind: str) -> int:
    """The longest name that works for this kind (not only the longest the API server takes)."""
    return _NAME_LIMITS.get((group_of(api_version), kind), DEFAULT_NAME_LIMIT)


def name_prefix_from(name: str, *, max_length: int = NAME_PREFIX_MAX_LENGTH) -> str:
    """The job-operator's ``to_kubernetes_valid_name``: lowercased, each char outside [a-z0-9] -> "-";
    when longer than ``max_length``: the first 10 chars, "--", and the last ``max_length - 12``.
    Ours also strips "-" from both ends, which the job-operator leaves (and the server rejects)."""
    slug = re.sub(r"[^a-z0-9]", "-", name.lower())
    if len(slug) > max_length:
        tail = max_length - 12
        slug = slug[:10] + "--" + slug[-tail:] if tail > 0 else slug[:max_length]
    return slug.strip("-")


def _fit(head: str, postfix: str, *, limit: int) -> str:
    if not postfix:
        return head[:limit].rstrip("-.")
    room = limit - len(postfix) - 1
    cut = head[: max(room, 0)].rstrip("-.")
    return f"{cut}-{postfix}" if cut else postfix[:limit]


def _rename_pod_refs(node: dict[str, Any], renamed: Mapping[tuple[str, str], str]) -> None:
    """Point a pod spec's references to ConfigMaps, Secrets, PVCs and ServiceAccounts of the same
    body at their new names; then the same for every pod spec nested in ``node`` (templates)."""

    def swap(holder: Any, key: str, kind: str) -> None:
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = renamed.get((kind, holder[key]), holder[key])

    if isinstance(node.get("containers"), list):
        swap(node, "serviceAccountName", "ServiceAccount")
        swap(node, "serviceAccount", "ServiceAccount")
        for ref in as_list(node.get("imagePullSecrets")):
            swap(ref, "name", "Secret")
        for volume in as_list(node.get("volumes")):
            swap(volume.get("configMap"), "name", "ConfigMap")
            swap(volume.get("secret"), "secretName", "Secret")
            swap(volume.get("persistentVolumeClaim"), "claimName", "PersistentVolumeClaim")
            for source in as_list(as_map(volume.get("projected")).get("sources")):
                swap(source.get("configMap"), "name", "ConfigMap")
                swap(source.get("secret"), "name", "Secret")
        for container in [*as_list(node.get("initContainers")), *as_list(node["containers"])]:
            for env in as_list(container.get("env")):
                swap(as_map(env.get("valueFrom")).get("configMapKeyRef"), "name", "ConfigMap")
                swap(as_map(env.get("valueFrom")).get("secretKeyRef"), "name", "Secret")
            for env_from in as_list(container.get("envFrom")):
                swap(env_from.get("configMapRef"), "name", "ConfigMap")
                swap(env_from.get("secretRef"), "name", "Secret")
    for value in node.values():
        if isinstance(value, dict):
            _rename_pod_refs(value, renamed)


def name_resources(
    resources: Sequence[Mapping[str, Any]],
    *,
    name_prefix: str | None,
    name_postfix: str | None,
    random_postfix_length: int,
    prefix_max_length: int = NAME_PREFIX_MAX_LENGTH,
    rename_references: bool = True,
) -> list[dict[str, Any]]:
    """Every resource renamed ``{prefix}-{name}-{postfix}`` (empty parts left out), as the job-operator.

    - ``name_prefix`` goes through :func:`name_prefix_from` (the operator passes the task id when
      the user gave none, as the job-operator).
    - The postfix is one random string of ``random_postfix_length`` [a-z0-9], shared by every
      resource; ``name_postfix`` is used only when ``random_postfix_length <= 0`` (the
      job-operator's precedence: a random postfix replaces it).
    - A ``generateName`` (without its trailing "-") stands in for a missing name and is removed, so
      every name is known before anything is created.
    - A name longer than its kind allows (:func:`name_limit`) is cut before the postfix, which is
      kept whole; the job-operator does not cut, so such a body failed there.
    Labels and selectors are not touched, so a Service still selects the Pods of the same body (as
    in the job-operator). With ``rename_references`` (ours; the job-operator leaves them, so such a
    pod could not start), pod specs' references to a ConfigMap, Secret, PersistentVolumeClaim or
    ServiceAccount of the same body follow its new name; references to anything else are kept.
    """
    prefix = name_prefix_from(name_prefix, max_length=prefix_max_length) if name_prefix else ""
    if random_postfix_length > 0:
        postfix = random_token(random_postfix_length)
    else:
        postfix = re.sub(r"[^a-z0-9.-]", "-", (name_postfix or "").lower()).strip("-.")
    named = [copy.deepcopy(dict(r)) for r in resources]
    renamed: dict[tuple[str, str], str] = {}
    for index, resource in enumerate(named):
        metadata = resource.setdefault("metadata", {})
        generate = str(metadata.pop("generateName", "") or "").rstrip("-")
        base = str(metadata.get("name") or generate)
        head = "-".join(part for part in (prefix, base) if part)
        limit = name_limit(api_version=str(resource.get("apiVersion")), kind=str(resource.get("kind")))
        name = _fit(head, postfix, limit=limit)
        if not name:
            raise ConfigurationError(f"resources[{index}] ({resource.get('kind')}): no name to give it")
        if metadata.get("name") and name != metadata["name"] and not group_of(resource.get("apiVersion")):
            renamed[(str(resource.get("kind")), str(metadata["name"]))] = name
        metadata["name"] = name
    if rename_references and renamed:
        for resource in named:
            _rename_pod_refs(resource, renamed)
    return named


def resource_names(resources: Sequence[Mapping[str, Any]]) -> list[str]:
    """The resources' names, in order (the value of ``KUBERNETES_JOB_OPERATOR_RESOURCES``)."""
    names = (metadata_of(r).get("name") for r in resources)
    return [str(name) for name in names if name]
