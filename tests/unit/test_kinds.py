"""Status rules for custom kinds: the three shapes, their JSON form, evaluation, the registry."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from airflow_k8s_async._kube.kinds import (
    Condition,
    StatusRule,
    evaluate,
    register_kind,
    rule_for,
    rule_from_dict,
    rule_to_dict,
    unregister_kind,
)
from airflow_k8s_async._kube.states import ObjectState, Phase
from airflow_k8s_async.errors import ConfigurationError

CONDITION = {
    "condition": {"type": "Ready", "status": "True"},
    "failure_condition": {"type": "Failed", "status": "True"},
}
FIELD = {"field": "status.state", "success": ["COMPLETED"], "failure": ["FAILED", "ERROR"]}
CALLABLE = {"callable": "tests.unit.test_kinds:sleeper_state"}


def sleeper_state(obj: Mapping[str, Any]) -> ObjectState:
    """A module-level rule the way a DAG author writes one (importable by its path)."""
    left = obj.get("status", {}).get("left")
    if left == 0:
        return ObjectState(Phase.SUCCEEDED, "Slept", "done sleeping")
    return ObjectState(Phase.RUNNING, "Sleeping", f"{left} s left")


def phase_only(obj: Mapping[str, Any]) -> Phase:
    return Phase.FAILED


def wrong_answer(obj: Mapping[str, Any]) -> str:
    return "done"


def custom(status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Sleeper", "metadata": {"name": "s"}}
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    yield
    unregister_kind("example.com/v1", "Sleeper")


# --- JSON form ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [CONDITION, FIELD, CALLABLE, {"condition": {"type": "Ready", "status": "True"}}]
)
def test_round_trip_through_json(data: dict[str, Any]) -> None:
    rule = rule_from_dict(json.loads(json.dumps(data)))
    assert rule_to_dict(rule) == data
    assert rule_from_dict(rule_to_dict(rule)) == rule


def test_condition_status_defaults_to_true() -> None:
    assert rule_from_dict({"condition": {"type": "Ready"}}) == StatusRule(
        condition=Condition("Ready", "True")
    )
    assert rule_to_dict(StatusRule(condition=Condition("Done"))) == {
        "condition": {"type": "Done", "status": "True"}
    }


def test_field_rule_lists_become_tuples() -> None:
    rule = StatusRule(field="status.state", success=["OK"], failure=["BAD"])  # type: ignore[arg-type]
    assert rule.success == ("OK",)
    assert rule.failure == ("BAD",)
    assert hash(rule)  # frozen and hashable


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "a status rule needs exactly one of 'condition', 'field' or 'callable', not none"),
        (
            {"condition": {"type": "Ready"}, "field": "status.x", "success": ["a"]},
            "a status rule needs exactly one of 'condition', 'field' or 'callable', "
            "not ['condition', 'field']",
        ),
        (
            {"conditon": {"type": "Ready"}},
            "status rule: unknown keys ['conditon'] (known: ['callable', "
            "'condition', 'failure', 'failure_condition', 'field', 'success'])",
        ),
        (
            {"condition": "Ready"},
            "status rule 'condition' must be {'type': ..., 'status': 'True'}, not 'Ready'",
        ),
        (
            {"condition": {"type": "Ready", "reason": "x"}},
            "status rule 'condition': unknown keys ['reason'] (use type and status)",
        ),
        (
            {"field": "status.state"},
            "field rule 'status.state': give a field path (e.g. 'status.state') and the "
            "values that mean 'success' and/or 'failure'",
        ),
        (
            {"field": "status.state", "success": "OK"},
            "status rule 'success' must be a list of strings, not 'OK'",
        ),
        (
            {"field": "status.state", "success": ["X"], "failure": ["X"]},
            "field rule 'status.state': ['X'] both succeed and fail",
        ),
        ({"field": 3, "success": ["X"]}, "status rule 'field' must be a dotted path string, not 3"),
        ({"callable": "no_colon"}, "callable rule 'no_colon': use 'package.module:function'"),
        (
            {"failure_condition": {"type": "Failed"}, "callable": "a:b"},
            "'failure_condition' goes with 'condition'",
        ),
        ({"callable": "a:b", "success": ["x"]}, "'success' and 'failure' go with 'field'"),
    ],
)
def test_invalid_rules_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        rule_from_dict(data)
    assert str(info.value) == message


# --- evaluation ---------------------------------------------------------------------------------


def test_condition_rule() -> None:
    assert evaluate(CONDITION, custom()) == ObjectState(Phase.PENDING)
    assert evaluate(CONDITION, custom({"conditions": [cond("Ready", "False", "Starting")]})) == ObjectState(
        Phase.RUNNING
    )
    assert evaluate(
        CONDITION, custom({"conditions": [cond("Ready", "True", "AllGood", "ready")]})
    ) == ObjectState(Phase.SUCCEEDED, "AllGood", "ready")
    # Failure wins when both hold; a condition without a reason is named by its type.
    both = custom(
        {"conditions": [cond("Ready", "True"), {"type": "Failed", "status": "True", "message": "boom"}]}
    )
    assert evaluate(CONDITION, both) == ObjectState(Phase.FAILED, "Failed", "boom")


def test_condition_rule_without_failure_condition_never_fails() -> None:
    rule = {"condition": {"type": "Done", "status": "True"}}
    assert evaluate(rule, custom({"conditions": [cond("Failed", "True")]})) == ObjectState(Phase.RUNNING)


def test_field_rule() -> None:
    assert evaluate(FIELD, custom()) == ObjectState(Phase.PENDING)
    assert evaluate(FIELD, custom({"state": "QUEUED"})) == ObjectState(
        Phase.RUNNING, "QUEUED", "status.state is 'QUEUED'"
    )
    assert evaluate(FIELD, custom({"state": "COMPLETED"})) == ObjectState(
        Phase.SUCCEEDED, "COMPLETED", "status.state is 'COMPLETED'"
    )
    assert evaluate(FIELD, custom({"state": "ERROR", "message": "out of memory"})) == ObjectState(
        Phase.FAILED, "ERROR", "status.state is 'ERROR': out of memory"
    )
    assert evaluate(FIELD, custom({"state": "completed"})).phase is Phase.RUNNING  # case matters


def test_field_rule_booleans_numbers_and_list_indexes() -> None:
    done = {"field": "status.done", "success": ["true"], "failure": []}
    assert evaluate(done, custom({"done": True})).phase is Phase.SUCCEEDED
    assert evaluate(done, custom({"done": False})) == ObjectState(
        Phase.RUNNING, "false", "status.done is 'false'"
    )
    code = {"field": "status.runs.0.exitCode", "success": ["0"], "failure": ["1", "2"]}
    assert evaluate(code, custom({"runs": [{"exitCode": 2}]})).phase is Phase.FAILED
    assert evaluate(code, custom({"runs": [{"exitCode": 0}]})).phase is Phase.SUCCEEDED
    assert evaluate(code, custom({"runs": []})) == ObjectState(Phase.PENDING)


def test_callable_rule() -> None:
    assert evaluate(CALLABLE, custom({"left": 3})) == ObjectState(Phase.RUNNING, "Sleeping", "3 s left")
    assert evaluate(StatusRule(callable=CALLABLE["callable"]), custom({"left": 0})) == ObjectState(
        Phase.SUCCEEDED, "Slept", "done sleeping"
    )
    assert evaluate({"callable": "tests.unit.test_kinds:phase_only"}, custom()) == ObjectState(Phase.FAILED)


def test_callable_rule_errors() -> None:
    with pytest.raises(ConfigurationError) as info:
        evaluate({"callable": "tests.unit.test_kinds:wrong_answer"}, custom())
    assert str(info.value) == (
        "status rule callable 'tests.unit.test_kinds:wrong_answer' returned str, "
        "not airflow_k8s_async.kinds.ObjectState"
    )
    with pytest.raises(ConfigurationError) as info:
        evaluate({"callable": "tests.unit.no_such_module:f"}, custom())
    assert str(info.value) == (
        "status rule callable 'tests.unit.no_such_module:f' cannot be imported here: No module named "
        "'tests.unit.no_such_module' (its module must be importable in the triggerer: a package or "
        "plugins/, not a DAG file)"
    )
    with pytest.raises(ConfigurationError) as info:
        evaluate({"callable": "tests.unit.test_kinds:FIELD"}, custom())
    assert str(info.value) == "status rule callable 'tests.unit.test_kinds:FIELD' is a dict, not a function"


def test_no_rule_uses_the_built_in_rules() -> None:
    assert evaluate(None, custom({"phase": "Succeeded"})) == ObjectState(Phase.SUCCEEDED, "Succeeded", "")
    job = {"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [cond("Complete", "True")]}}
    assert evaluate(None, job) == ObjectState(Phase.SUCCEEDED, "Complete", "")


# --- registry -----------------------------------------------------------------------------------


def test_registry_round_trip() -> None:
    assert rule_for("example.com/v1", "Sleeper") is None
    registered = register_kind("example.com/v1", "Sleeper", FIELD)
    assert rule_for("example.com/v1", "Sleeper") == registered == rule_from_dict(FIELD)
    assert rule_for("example.com/v2", "Sleeper") is None
    unregister_kind("example.com/v1", "Sleeper")
    assert rule_for("example.com/v1", "Sleeper") is None


def test_register_a_function_stores_its_import_path() -> None:
    rule = register_kind("example.com/v1", "Sleeper", sleeper_state)
    assert rule_to_dict(rule) == {"callable": "tests.unit.test_kinds:sleeper_state"}
    assert evaluate(rule_to_dict(rule), custom({"left": 0})).phase is Phase.SUCCEEDED


def test_functions_the_triggerer_cannot_import_are_refused() -> None:
    def local(obj: Mapping[str, Any]) -> ObjectState:
        return ObjectState(Phase.PENDING)

    with pytest.raises(ConfigurationError, match="cannot be imported by the triggerer"):
        register_kind("example.com/v1", "Sleeper", local)
    with pytest.raises(ConfigurationError, match="cannot be imported by the triggerer"):
        register_kind("example.com/v1", "Sleeper", lambda obj: ObjectState(Phase.PENDING))
    dag_file_function = types.FunctionType(sleeper_state.__code__, {"__name__": "unusual_prefix_abc_my_dag"})
    with pytest.raises(ConfigurationError, match="cannot be imported by the triggerer"):
        register_kind("example.com/v1", "Sleeper", dag_file_function)
    assert rule_for("example.com/v1", "Sleeper") is None
