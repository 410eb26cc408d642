"""Fixtures of the reliability tests: connections to the API server through a loopback proxy (TCP,
or HTTP with faults on cue)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.e2e.airflow_env import AirflowEnv
from tests.support import kube
from tests.support.armada_server import ArmadaTestServer, JobScript
from tests.support.http_faults import BackgroundHttpFaultProxy
from tests.support.tcp_proxy import BackgroundProxy


@contextlib.contextmanager
def proxied_connection(
    airflow: AirflowEnv, conn_id: str, path: Path, *, token: str | None = None
) -> Iterator[tuple[BackgroundProxy, dict[str, Any]]]:
    """The connection ``conn_id``: the test's kubeconfig (with ``token`` as its user's, if given)
    through a proxy, written to ``path``; yields the proxy and the kubeconfig written."""
    config = kube.kubeconfig_dict()
    server = urlparse(config["clusters"][0]["cluster"]["server"])
    with BackgroundProxy(target_host=server.hostname or "127.0.0.1", target_port=server.port or 443) as proxy:
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
        if token is not None:
            kube.with_token(config, token)
        with kubeconfig_connection(airflow, conn_id, path, config):
            yield proxy, config


@contextlib.contextmanager
def kubeconfig_connection(
    airflow: AirflowEnv, conn_id: str, path: Path, config: dict[str, Any]
) -> Iterator[None]:
    """The Kubernetes connection ``conn_id`` of ``config``, written to ``path``, while in the block."""
    path.write_text(yaml.safe_dump(config))
    extra = json.dumps({"kube_config_path": str(path)})
    body = {"connection_id": conn_id, "conn_type": "kubernetes", "extra": extra}
    airflow.api("POST", "/api/v2/connections", json=body, expect=(201,))
    try:
        yield
    finally:
        airflow.api("DELETE", f"/api/v2/connections/{conn_id}", expect=(204,))


@pytest.fixture
def faulty(airflow: AirflowEnv, tmp_path: Path) -> Iterator[BackgroundHttpFaultProxy]:
    """The connection ``kube_faulty``: through an HTTP proxy that answers 429/5xx bursts on cue."""
    config = kube.kubeconfig_dict()
    with BackgroundHttpFaultProxy(kubeconfig=config) as proxy:
        with kubeconfig_connection(
            airflow, "kube_faulty", tmp_path / "faulty.kubeconfig", proxy.kubeconfig(config)
        ):
            yield proxy


@pytest.fixture(scope="session")
def armada(airflow: AirflowEnv) -> Iterator[ArmadaTestServer]:
    """The Armada server of the reliability DAGs' Armada tasks, once they are parsed with its target:
    a job of scenario ``stall`` succeeds after 75 s, one of ``actions`` runs until cancelled."""
    scenarios = {
        "stall": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", 75.0))),
        "actions": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", 3600.0))),
    }
    server = ArmadaTestServer(scenarios=scenarios).start()
    airflow.set_variable("armada_e2e_target", server.target)
    for dag_id in ("reliability_stall", "reliability_actions"):
        airflow.wait_for_task_doc(dag_id, "armada", server.target)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _session_proxy(
    airflow: AirflowEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundProxy]:
    # One proxy (one port) for the whole session: the triggerer keeps a connection's lookup for a
    # minute, so a connection re-created with another port would be seen only after that.
    path = tmp_path_factory.mktemp("proxied") / "proxied.kubeconfig"
    with proxied_connection(airflow, "kube_proxied", path) as (proxy, _):
        yield proxy


@pytest.fixture
def proxied(_session_proxy: BackgroundProxy) -> Iterator[BackgroundProxy]:
    """The connection ``kube_proxied`` through a proxy the test may break; mended afterwards."""
    yield _session_proxy
    _session_proxy.release()
    _session_proxy.accept()
