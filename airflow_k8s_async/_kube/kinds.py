"""Status rules for custom kinds: when a custom object is done, and whether it succeeded.

A rule is plain data, because it travels in trigger kwargs (JSON) from the worker to the triggerer.
It has one of three shapes::

    {"condition": {"type": "Ready", "status": "True"},          # succeeded when this condition holds
     "failure_condition": {"type": "Failed", "status": "True"}}  # failed when this one does (optional)
    {"field": "status.state", "success": ["COMPLETED"], "failure": ["FAILED", "ERROR"]}
    {"callable": "package.module:function"}   # function(obj: dict) -> airflow_k8s_async.kinds.ObjectState

Without a rule, :func:`states.object_state` decides (Pod, Job, and for other kinds the well-known
conditions, then ``status.phase``).

The registry (:func:`register_kind`) is for DAG authors: call it in the DAG file or a module it
imports. It is read on the **worker**, when the operator builds its trigger; the rule then travels
as data in the trigger kwargs, so the triggerer needs no registration. A ``callable`` rule is
imported in the triggerer, so its module must be importable there (a package or ``plugins/``, not
the DAG file itself).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from airflow_k8s_async._kube.mapping import as_list, as_map

from ..errors import ConfigurationError
from .states import ObjectState, Phase, object_state

_RULE_KEYS = frozenset({"condition", "failure_condition", "field", "success", "failure", "callable"})


@dataclass(frozen=True)
class Condition:
    """A condition in ``status.conditions`` matched by type and status."""

    type: str
    status: str = "True"


@dataclass(frozen=True)
class StatusRule:
    """One of: ``condition`` (+ ``failure_condition``), ``field`` + ``success``/``failure``, ``callable``.

    Field values are compared as strings; JSON ``true``/``false`` read as "true"/"false".
    """

    condition: Condition | None = None
    failure_condition: Condition | None = None
    field: str | None = None
    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    callable: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "success", tuple(self.success))
        object.__setattr__(self, "failure", tuple(self.failure))
        chosen = [k for k in ("condition", "field", "callable") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ConfigurationError(
                f"a status rule needs exactly one of 'condition', 'field' or 'callable', "
                f"not {chosen or 'none'}"
            )
        if self.failure_condition is not None and self.condition is None:
            raise ConfigurationError("'failure_condition' goes with 'condition'")
        if (self.success or self.failure) and self.field is None:
            raise ConfigurationError("'success' and 'failure' go with 'field'")
        if self.field is not None:
            if not self.field.strip(".") or not (self.success or self.failure):
                raise ConfigurationError(
                    f"field rule {self.field!r}: give a field path (e.g. 'status.state') and the values "
                    "that mean 'success' and/or 'failure'"
                )
            if both := set(self.success) & set(self.failure):
                raise ConfigurationError(f"field rule {self.field!r}: {sorted(both)} both succeed and fail")
        if self.callable is not None:
            module, _, name = self.callable.partition(":")
            if not module or not name:
                raise ConfigurationError(f"callable rule {self.callable!r}: use 'package.module:function'")


def _condition_from(value: Any, key: str) -> Condition:
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str) or not value["type"]:
        raise ConfigurationError(
            f"status rule {key!r} must be {{'type': ..., 'status': 'True'}}, not {value!r}"
        )
    extra = set(value) - {"type", "status"}
    if extra:
        raise ConfigurationError(f"status rule {key!r}: unknown keys {sorted(extra)} (use type and status)")
    return Condition(type=value["type"], status=str(value.get("status", "True")))


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigurationError(f"status rule {key!r} must be a list of strings, not {value!r}")
    return tuple(str(v) for v in value)


def rule_from_dict(data: Mapping[str, Any]) -> StatusRule:
    """A :class:`StatusRule` from its JSON form; ConfigurationError says what is wrong with it."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"a status rule must be a dict, not {type(data).__name__}")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise ConfigurationError(f"status rule: unknown keys {sorted(unknown)} (known: {sorted(_RULE_KEYS)})")
    fld = data.get("field")
    target = data.get("callable")
    if fld is not None and not isinstance(fld, str):
        raise ConfigurationError(f"status rule 'field' must be a dotted path string, not {fld!r}")
    if target is not None and not isinstance(target, str):
        raise ConfigurationError(f"status rule 'callable' must be 'package.module:function', not {target!r}")
    return StatusRule(
        condition=_condition_from(data["condition"], "condition") if "condition" in data else None,
        failure_condition=(
            _condition_from(data["failure_condition"], "failure_condition")
            if data.get("failure_condition") is not None
            else None
        ),
        field=fld,
        success=_strings(data.get("success", ()), "success"),
        failure=_strings(data.get("failure", ()), "failure"),
        callable=target,
    )


def rule_to_dict(rule: StatusRule) -> dict[str, Any]:
    """The JSON form of ``rule``, as it travels in trigger kwargs; :func:`rule_from_dict` reverses it."""
    if rule.condition is not None:
        data: dict[str, Any] = {"condition": {"type": rule.condition.type, "status": rule.condition.status}}
        if rule.failure_condition is not None:
            failure = rule.failure_condition
            data["failure_condition"] = {"type": failure.type, "status": failure.status}
        return data
    if rule.field is not None:
        return {"field": rule.field, "success": list(rule.success), "failure": list(rule.failure)}
    return {"callable": rule.callable}


# --- evaluation ----------------------------------------------------------------------------------


def _find_condition(obj: Mapping[str, Any], wanted: Condition) -> Mapping[str, Any] | None:
    for cond in as_list(as_map(obj.get("status")).get("conditions")):
        if cond.get("type") == wanted.type:
            if str(cond.get("status")) == wanted.status:
                return cond
    return None


def _by_conditions(rule: StatusRule, obj: Mapping[str, Any]) -> ObjectState:
    assert rule.condition is not None
    for phase, wanted in ((Phase.FAILED, rule.failure_condition), (Phase.SUCCEEDED, rule.condition)):
        cond = _find_condition(obj, wanted) if wanted is not None else None
        if cond is not None:
            return ObjectState(
                phase, str(cond.get("reason") or cond.get("type")), str(cond.get("message") or "")
            )
    return ObjectState(Phase.RUNNING if obj.get("status") else Phase.PENDING)


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _by_field(rule: StatusRule, obj: Mapping[str, Any]) -> ObjectState:
    assert rule.field is not None
    value = _lookup(obj, rule.field)
    if value is None:
        return ObjectState(Phase.PENDING)
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    message = f"{rule.field} is {text!r}"
    detail = as_map(obj.get("status")).get("message")
    if detail:
        message += f": {detail}"
    if text in rule.failure:
        return ObjectState(Phase.FAILED, text, message)
    if text in rule.success:
        return ObjectState(Phase.SUCCEEDED, text, message)
    return ObjectState(Phase.RUNNING, text, message)


@cache
def _import(target: str) -> Callable[[Mapping[str, Any]], Any]:
    module_name, _, name = target.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"status rule callable {target!r} cannot be imported here: {exc} (its module must be "
            "importable in the triggerer: a package or plugins/, not a DAG file)"
        ) from exc
    if not callable(found):
        raise ConfigurationError(
            f"status rule callable {target!r} is a {type(found).__name__}, not a function"
        )
    return found  # type: ignore[no-any-return]


def evaluate(
    rule: StatusRule | Mapping[str, Any] | None, obj: Mapping[str, Any], *, main_container: str | None = None
) -> ObjectState:
    """The state of ``obj`` by ``rule`` (or its JSON form); no rule: :func:`states.object_state`."""
    if rule is None:
        return object_state(obj, main_container=main_container)
    if not isinstance(rule, StatusRule):
        rule = rule_from_dict(rule)
    if rule.condition is not None:
        return _by_conditions(rule, obj)
    if rule.field is not None:
        return _by_field(rule, obj)
    assert rule.callable is not None
    state = _import(rule.callable)(obj)
    if isinstance(state, Phase):
        return ObjectState(state)
    if not isinstance(state, ObjectState):
        raise ConfigurationError(
            f"status rule callable {rule.callable!r} returned {type(state).__name__}, "
            "not airflow_k8s_async.kinds.ObjectState"
        )
    return state


# --- registry (read on the worker) ---------------------------------------------------------------

_REGISTRY: dict[tuple[str, str], StatusRule] = {}


def _as_rule(rule: StatusRule | Mapping[str, Any] | Callable[[Mapping[str, Any]], Any]) -> StatusRule:
    if isinstance(rule, StatusRule):
        return rule
    if isinstance(rule, Mapping):
        return rule_from_dict(rule)
    module, qualname = getattr(rule, "__module__", None), getattr(rule, "__qualname__", "")
    if not module or "<" in qualname or module == "__main__" or module.startswith("unusual_prefix_"):
        raise ConfigurationError(
            f"status rule function {rule!r} cannot be imported by the triggerer: define it at the top "
            "level of a module on its path (a package or plugins/, not a DAG file) or pass "
            "{'callable': 'package.module:function'}"
        )
    return StatusRule(callable=f"{module}:{qualname}")


def register_kind(
    api_version: str,
    kind: str,
    rule: StatusRule | Mapping[str, Any] | Callable[[Mapping[str, Any]], Any],
) -> StatusRule:
    """Use ``rule`` for objects of this apiVersion and kind in this process; returns it as a StatusRule.

    ``rule`` may be a :class:`StatusRule`, its dict form, or a module-level function (which becomes
    a ``callable`` rule). The operator reads the registry on the worker and copies the rule into its
    trigger's kwargs.
    """
    parsed = _as_rule(rule)
    _REGISTRY[(api_version, kind)] = parsed
    return parsed


def unregister_kind(api_version: str, kind: str) -> None:
    _REGISTRY.pop((api_version, kind), None)


def rule_for(api_version: str, kind: str) -> StatusRule | None:
    """The registered rule for this apiVersion and kind, or None (then the built-in rules decide)."""
    return _REGISTRY.get((api_version, kind))


# Built-in kinds that never report an end (no status, or one that only tracks a steady state): a
# task that waits on one of them without a rule would wait forever. Keyed by (API group, kind).
_NEVER_FINISH = frozenset(
    {
        *(("", kind) for kind in ("ConfigMap", "Secret", "Service", "ServiceAccount", "Endpoints")),
        *(("", kind) for kind in ("LimitRange", "ResourceQuota", "PersistentVolumeClaim", "Namespace")),
        *(("apps", kind) for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")),
        *(("rbac.authorization.k8s.io", kind) for kind in ("Role", "RoleBinding")),
        *(("rbac.authorization.k8s.io", kind) for kind in ("ClusterRole", "ClusterRoleBinding")),
        ("networking.k8s.io", "NetworkPolicy"),
        ("networking.k8s.io", "Ingress"),
        ("policy", "PodDisruptionBudget"),
    }
)


def never_finishes(api_version: str, kind: str) -> bool:
    """Whether objects of this kind never end by themselves and no rule is registered for them."""
    group = api_version.rpartition("/")[0]
    return (group, kind) in _NEVER_FINISH and rule_for(api_version, kind) is None
