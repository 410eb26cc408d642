"""Reading API and user bodies whose fields may be missing, of the wrong type, or an explicit null.

The API server sends ``"conditions": null`` (a CRD right after its creation, a Job before its first
status update), so ``body.get("conditions", [])`` returns ``None``. Every reader of a mapping or a
list inside a body goes through these two helpers instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

__all__ = ["ObjectMeta", "OwnerReference", "as_list", "as_map", "as_time", "metadata_of"]


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool


class ObjectMeta(TypedDict, total=False):
    """The metadata fields the code reads. Nothing checks a body against it: a field may be absent,
    and ``labels`` / ``annotations`` / ``ownerReferences`` may be an explicit null (read them
    through ``as_map`` / ``as_list``)."""

    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]


def as_map(value: object) -> dict[str, Any]:
    """``value`` when it is a dict (the same object, so callers may change it), a copy of another
    mapping, else an empty dict (``None``, a list, a string...)."""
    if isinstance(value, dict):
        return value
    return dict(value) if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[dict[str, Any]]:
    """The mappings in ``value`` when it is a list (dicts as the same objects), else an empty list."""
    if not isinstance(value, list):
        return []
    return [as_map(item) for item in value if isinstance(item, Mapping)]


def as_time(value: object) -> float | None:
    """An API timestamp (``2026-12-02T04:13:26Z``) as seconds since the epoch; None if it is not one."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def metadata_of(obj: Mapping[str, Any]) -> ObjectMeta:
    """``obj``'s metadata (an API object, a list or a body), typed; empty when missing or null. The
    same dict when it is one, so callers may change it."""
    return cast("ObjectMeta", as_map(obj.get("metadata")))
