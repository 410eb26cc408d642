"""Custom kinds: how the Job operator and the resource trigger tell that an object is done.

A rule travels as data in the trigger's kwargs: a condition, a field with success and failure
values, or the import path of a function of the object that returns an :class:`ObjectState` (or a
:class:`Phase`), imported in the triggerer::

    from airflow_k8s_async.kinds import register_kind

    register_kind("example.io/v1", "Sleeper", {"field": "status.state", "success": ["Done"]})
"""

from __future__ import annotations

from airflow_k8s_async._kube.kinds import Condition, StatusRule, register_kind, rule_for, unregister_kind
from airflow_k8s_async._kube.states import ObjectState, Phase

__all__ = [
    "Condition",
    "ObjectState",
    "Phase",
    "StatusRule",
    "register_kind",
    "rule_for",
    "unregister_kind",
]
