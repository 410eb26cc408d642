"""Trigger kwargs are declared once, as keyword-only dataclass fields; ``serialize()`` is derived.

The triggerer stores ``serialize()`` as JSON and builds the trigger again from it, on another
process or after a restart: that must give the same trigger, for every class.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from airflow.sdk.module_loading import import_string

from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.events import STATUSES, Event
from tests.unit.test_security import BUILDERS
from tests.unit.test_security import _connection as _connection  # the builders' connection (autouse)


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda c: c.__name__)
def test_a_trigger_built_again_from_its_stored_kwargs_is_the_same(cls: type[KubeTrigger]) -> None:
    trigger = BUILDERS[cls]()
    classpath, kwargs = trigger.serialize()
    stored = json.loads(json.dumps(kwargs))  # what the trigger table gives back
    again = import_string(classpath)(**stored)
    assert type(again) is cls
    assert json.loads(json.dumps(again.serialize()[1])) == stored


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda c: c.__name__)
def test_the_stored_kwargs_are_the_fields(cls: type[KubeTrigger]) -> None:
    assert dataclasses.is_dataclass(cls)
    written = [
        klass.__name__ for klass in cls.__mro__ if "serialize" in vars(klass) and klass is not KubeTrigger
    ]
    assert not written[:-1], f"{written} write their kwargs out again"  # (the last: BaseTrigger)
    _, kwargs = BUILDERS[cls]().serialize()
    assert list(kwargs) == [field.name for field in dataclasses.fields(cls)]


def test_a_field_change_is_seen() -> None:
    """Guards the test itself: a value changed after building is stored."""
    trigger = next(iter(BUILDERS.values()))()
    trigger.finish = {"ends": ["success"]}
    assert trigger.serialize()[1]["finish"] == {"ends": ["success"]}


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda c: c.__name__)
def test_every_event_has_the_common_keys_and_a_known_status(cls: type[KubeTrigger]) -> None:
    trigger = BUILDERS[cls]()
    for event in (trigger._event("failed", reason="R", message="M"), trigger._timeout_event()):
        assert Event.__required_keys__ <= set(event), set(Event.__required_keys__) - set(event)  # type: ignore[attr-defined]
        assert event["status"] in STATUSES and isinstance(event["kind"], str) and event["reason"]
        json.dumps(event)  # what Airflow stores
