"""Fixtures on the real cluster named by $KUBECONFIG (the local cluster in CI, kind elsewhere).

A pytest plugin (see tests/conftest.py), shared by the integration and end-to-end tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kubernetes import client

from airflow_k8s_async._kube.cluster import ClusterConfig
from tests.support import kube


@pytest.fixture(scope="session")
def kube_api() -> client.ApiClient:
    if not os.environ.get("KUBECONFIG"):
        message = 'no cluster: run eval "$(../shared/k8s-local/up.sh)" or point KUBECONFIG at kind'
        (pytest.fail if os.environ.get("CI") else pytest.skip)(message)
    api = kube.api_client()
    client.VersionApi(api).get_code()  # reachable, or the whole suite fails here with the reason
    return api


@pytest.fixture(scope="session")
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture
def namespace(kube_api: client.ApiClient) -> Iterator[str]:
    name = kube.create_namespace(kube_api, "it")
    yield name
    kube.delete_namespace(kube_api, name)


@pytest.fixture
def cluster(kube_api: client.ApiClient) -> ClusterConfig:
    return ClusterConfig(config_file=str(kube.kubeconfig_path()))


@pytest.fixture(autouse=True)
def _kubernetes_min_version(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("kubernetes_min_version")
    if marker is None:
        return
    wanted = tuple(int(p) for p in str(marker.args[0]).split("."))
    info = client.VersionApi(request.getfixturevalue("kube_api")).get_code()
    have = (int(info.major), int("".join(ch for ch in info.minor if ch.isdigit())))
    if have < wanted:
        pytest.skip(f"needs Kubernetes >= {marker.args[0]}; the cluster is {info.major}.{info.minor}")
