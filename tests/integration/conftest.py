"""Integration fixtures; the cluster fixtures come from tests/support/cluster_fixtures.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.hub import WatchHub


@pytest.fixture
async def hub() -> AsyncIterator[WatchHub]:
    hub = WatchHub(linger=0, timeout_seconds=60)
    yield hub
    await hub.close()
    await close_clients()
