"""Triggers of one triggerer look their connection up once, not once each.

In the triggerer every lookup is a round trip to its supervisor, which re-reads the trigger table
each time it wakes (the benchmark's real-triggerer mode measured ~19 CPU s for 1000 triggers
starting at once). Airflow's ``BaseHook.aget_connection`` is wrapped only to count the calls.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk import BaseHook

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.triggers.common import shared_target

NO_OVERRIDES: dict[str, Any] = {"config_file": None, "cluster_context": None, "in_cluster": None}


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = BaseHook.aget_connection

    async def counting(conn_id: str) -> Any:
        calls.append(conn_id)
        return await original(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(counting))
    for conn_id, extra in (("k8s_one", {"namespace": "one"}), ("k8s_two", {"namespace": "two"})):
        value = {"conn_type": "kubernetes", "extra": {**extra, "in_cluster": False}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
    monkeypatch.setenv("AIRFLOW_CONN_K8S_BROKEN", json.dumps({"conn_type": "kubernetes", "extra": "{nope"}))
    return calls


async def test_triggers_starting_together_share_one_lookup_per_connection(lookups: list[str]) -> None:
    ones = await asyncio.gather(
        *(shared_target(kubernetes_conn_id="k8s_one", **NO_OVERRIDES) for _ in range(50))
    )
    two = await shared_target(kubernetes_conn_id="k8s_two", **NO_OVERRIDES)
    assert {t.namespace for t in ones} == {"one"} and two.namespace == "two"
    assert lookups == ["k8s_one", "k8s_two"]


async def test_a_failed_lookup_is_not_kept(lookups: list[str]) -> None:
    for _ in range(2):
        with pytest.raises(ConfigurationError):
            await shared_target(kubernetes_conn_id="k8s_broken", **NO_OVERRIDES)
    assert lookups == ["k8s_broken", "k8s_broken"]
