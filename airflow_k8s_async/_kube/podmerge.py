"""Lay one pod body over another with KubernetesPodOperator's precedence, on plain dicts.

The provider's ``PodGenerator.reconcile_pods(base, client)`` rules, which users' templates rely on:

- a field of the upper (``client``) layer wins when it is truthy; when it is empty, ``0``, ``False``
  or absent, the lower (``base``) layer's value is kept. One level deep only: a truthy
  ``securityContext`` or ``affinity`` replaces the lower one whole;
- ``metadata.labels`` / ``annotations`` are merged key by key (upper wins); ``finalizers``,
  ``ownerReferences`` and ``spec.volumes`` are concatenated (lower first);
- containers are merged field by field (the rule above), with ``env``, ``envFrom``,
  ``volumeMounts``, ``ports`` and ``volumeDevices`` concatenated (lower first);
- init containers are merged by name; unmatched upper ones are appended.

One deliberate difference: the provider merges ``containers`` by position (the first with the first),
so a template that lists a sidecar before the main container gets the keywords on the sidecar. Here an
upper container merges into the lower container of the same name; one with no namesake falls back to
the provider's rule (the lower container at the same position, if that one has no namesake above);
the rest are appended.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_k8s_async._kube.mapping import as_map, metadata_of

_CONTAINER_LISTS = ("volumeMounts", "env", "envFrom", "ports", "volumeDevices")
_METADATA_LISTS = ("managedFields", "finalizers", "ownerReferences")


def merge_fields(base: Mapping[str, Any] | None, client: Mapping[str, Any] | None) -> dict[str, Any]:
    """Upper (client) fields win when truthy; otherwise the lower (base) value is kept."""
    result = copy.deepcopy(dict(client or {}))
    for key, value in (base or {}).items():
        if not result.get(key) and value is not None:
            result[key] = copy.deepcopy(value)
    return result


def _extend(base: Mapping[str, Any], client: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    for field in fields:
        lower = base.get(field) or []
        upper = client.get(field) or []
        if lower or upper:
            client[field] = copy.deepcopy(list(lower)) + list(upper)
    return client


def merge_container(base: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    """One container over another: list fields concatenated, the rest by :func:`merge_fields`."""
    upper = copy.deepcopy(dict(client))
    return merge_fields(base, _extend(base, upper, _CONTAINER_LISTS))


def _name(container: Any) -> Any:
    return container.get("name") if isinstance(container, Mapping) else None


def reconcile_containers(base: list[Any], client: list[Any]) -> list[Any]:
    """Upper containers by name into the lower ones; see the module docstring for the fallback."""
    if not base:
        return copy.deepcopy(client)
    if not client:
        return copy.deepcopy(base)
    result: list[Any] = copy.deepcopy(base)
    upper_names = {_name(c) for c in client}
    lower_names = [_name(c) for c in base]
    taken: set[int] = set()
    appended: list[Any] = []
    for position, container in enumerate(client):
        name = _name(container)
        if name in lower_names and lower_names.index(name) not in taken:
            index = lower_names.index(name)
        elif position < len(base) and position not in taken and lower_names[position] not in upper_names:
            index = position
        else:
            appended.append(copy.deepcopy(container))
            continue
        taken.add(index)
        result[index] = merge_container(base[index], container)
    return result + appended


def reconcile_init_containers(base: list[Any], client: list[Any]) -> list[Any]:
    """Init containers merged by name (lower order kept); unmatched upper ones appended."""
    if not base:
        return copy.deepcopy(client)
    if not client:
        return copy.deepcopy(base)
    upper = {_name(c): c for c in client}
    merged = [merge_container(c, upper[_name(c)]) if _name(c) in upper else copy.deepcopy(c) for c in base]
    lower_names = {_name(c) for c in base}
    return merged + [copy.deepcopy(c) for c in client if _name(c) not in lower_names]


def reconcile_specs(base: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    if not base:
        return copy.deepcopy(dict(client))
    if not client:
        return copy.deepcopy(dict(base))
    upper = copy.deepcopy(dict(client))
    containers = reconcile_containers(list(base.get("containers") or []), list(upper.get("containers") or []))
    if containers:
        upper["containers"] = containers
    inits = reconcile_init_containers(
        list(base.get("initContainers") or []), list(upper.get("initContainers") or [])
    )
    if inits:
        upper["initContainers"] = inits
    _extend(base, upper, ("volumes",))
    return merge_fields(base, upper)


def reconcile_metadata(base: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    if not base:
        return copy.deepcopy(dict(client))
    if not client:
        return copy.deepcopy(dict(base))
    upper = copy.deepcopy(dict(client))
    for field in ("labels", "annotations"):
        merged = {**as_map(base.get(field)), **as_map(upper.get(field))}
        if merged:
            upper[field] = copy.deepcopy(merged)
    _extend(base, upper, _METADATA_LISTS)
    return merge_fields(base, upper)


def reconcile_pods(base: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    """``client`` laid over ``base`` (the provider's ``PodGenerator.reconcile_pods`` on dicts)."""
    upper = copy.deepcopy(dict(client))
    spec = reconcile_specs(as_map(base.get("spec")), as_map(upper.get("spec")))
    metadata = reconcile_metadata(metadata_of(base), metadata_of(upper))
    if spec:
        upper["spec"] = spec
    if metadata:
        upper["metadata"] = metadata
    return merge_fields(base, upper)
