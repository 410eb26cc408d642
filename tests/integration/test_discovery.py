"""API discovery against the real API server: core and batch kinds, CRDs (namespaced and
cluster-scoped, with an irregular plural), the cache, and kinds the cluster does not know."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_async._kube.client import KubeClient, close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.discovery import resolve, resolve_all
from airflow_k8s_async._kube.subscription import JOBS, PODS, Resource
from airflow_k8s_async.errors import ConfigurationError
from tests.support import kube

InstallCrd = Callable[..., str]


@pytest.fixture
async def kube_client(kube_api: client.ApiClient) -> AsyncIterator[KubeClient]:
    yield await get_client(ClusterConfig(config_file=os.environ["KUBECONFIG"]))
    await close_clients()


@pytest.fixture
def group() -> str:
    """A group of its own per test, so runs never share (or trip over) each other's CRDs."""
    return f"t{uuid.uuid4().hex[:8]}.airflow-k8s-async.test"


@pytest.fixture
def install_crd(kube_api: client.ApiClient, group: str) -> Iterator[InstallCrd]:
    # Raw JSON both ways: the generated models reject a CRD status whose conditions are still null.
    ext: Any = client.ApiextensionsV1Api(kube_api)
    installed: list[str] = []

    def install(*, kind: str, plural: str, scope: str) -> str:
        name = f"{plural}.{group}"
        body = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": group,
                "scope": scope,
                "names": {
                    "kind": kind,
                    "plural": plural,
                    "singular": kind.lower(),
                    "listKind": f"{kind}List",
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        ext.create_custom_resource_definition(body, _preload_content=False)
        installed.append(name)

        def established() -> bool:
            crd: dict[str, Any] = json.loads(
                ext.read_custom_resource_definition(name, _preload_content=False).data
            )
            conditions = crd.get("status", {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        kube.eventually(established, timeout=60)
        return name

    yield install
    for name in installed:
        ext.delete_custom_resource_definition(name)


async def test_core_and_batch_kinds(kube_client: KubeClient) -> None:
    assert await resolve(kube_client, api_version="v1", kind="Pod") == PODS
    assert await resolve(kube_client, api_version="batch/v1", kind="Job") == JOBS
    assert await resolve(kube_client, api_version="v1", kind="Service") == Resource(
        group="", version="v1", plural="services", kind="Service", namespaced=True
    )
    assert await resolve(kube_client, api_version="v1", kind="ConfigMap") == Resource(
        group="", version="v1", plural="configmaps", kind="ConfigMap", namespaced=True
    )
    # The server's plural, not kind + "s"; and scope from the server.
    assert await resolve(kube_client, api_version="v1", kind="Endpoints") == Resource(
        group="", version="v1", plural="endpoints", kind="Endpoints", namespaced=True
    )
    assert await resolve(kube_client, api_version="v1", kind="Namespace") == Resource(
        group="", version="v1", plural="namespaces", kind="Namespace", namespaced=False
    )
    assert await resolve(
        kube_client, api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole"
    ) == Resource(
        group="rbac.authorization.k8s.io",
        version="v1",
        plural="clusterroles",
        kind="ClusterRole",
        namespaced=False,
    )


async def test_answers_are_cached_per_api_version(kube_client: KubeClient) -> None:
    before = kube_client.requests["GET"]
    await resolve(kube_client, api_version="apps/v1", kind="Deployment")
    await resolve(kube_client, api_version="apps/v1", kind="StatefulSet")
    await resolve(kube_client, api_version="apps/v1", kind="DaemonSet")
    assert kube_client.requests["GET"] - before == 1


async def test_custom_kinds(
    kube_client: KubeClient, install_crd: InstallCrd, group: str, namespace: str
) -> None:
    install_crd(kind="Sleeper", plural="sleepers", scope="Namespaced")
    install_crd(kind="Proxy", plural="proxies", scope="Cluster")
    api_version = f"{group}/v1"
    sleeper = await resolve(kube_client, api_version=api_version, kind="Sleeper")
    proxy = await resolve(kube_client, api_version=api_version, kind="Proxy")
    assert sleeper == Resource(group=group, version="v1", plural="sleepers", kind="Sleeper", namespaced=True)
    assert proxy == Resource(group=group, version="v1", plural="proxies", kind="Proxy", namespaced=False)

    # The resolved paths are the ones the API server serves.
    name = f"p-{namespace}"
    body = {"apiVersion": api_version, "metadata": {"name": "s"}, "spec": {"seconds": 1}}
    await kube_client.request("POST", sleeper.path(namespace=namespace), body={**body, "kind": "Sleeper"})
    await kube_client.request(
        "POST", proxy.path(namespace=namespace), body={**body, "kind": "Proxy", "metadata": {"name": name}}
    )
    got = await kube_client.request("GET", sleeper.path(namespace=namespace, name="s"))
    assert (got["kind"], got["metadata"]["namespace"]) == ("Sleeper", namespace)
    got = await kube_client.request("GET", proxy.path(name=name))
    assert got["kind"] == "Proxy"
    assert "namespace" not in got["metadata"]  # cluster-scoped: the namespace given was not used
    assert proxy.path(namespace=namespace, name=name) == f"/apis/{group}/v1/proxies/{name}"


async def test_resolve_all(kube_client: KubeClient, install_crd: InstallCrd, group: str) -> None:
    install_crd(kind="Proxy", plural="proxies", scope="Cluster")
    resources = [
        {"apiVersion": "batch/v1", "kind": "Job"},
        {"apiVersion": "v1", "kind": "Service"},
        {"apiVersion": f"{group}/v1", "kind": "Proxy"},
        {"apiVersion": "batch/v1", "kind": "Job"},
    ]
    resolved = await resolve_all(kube_client, resources=resources)
    assert list(resolved) == [("batch/v1", "Job"), ("v1", "Service"), (f"{group}/v1", "Proxy")]
    assert [r.plural for r in resolved.values()] == ["jobs", "services", "proxies"]
    assert [r.namespaced for r in resolved.values()] == [True, True, False]


async def test_a_crd_installed_after_a_miss_is_found(
    kube_client: KubeClient, install_crd: InstallCrd, group: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        await resolve(kube_client, api_version=f"{group}/v1", kind="Proxy")
    assert str(info.value) == (
        f"kind Proxy not found in apiVersion {group}/v1 on the cluster (is the CRD installed?)"
    )
    install_crd(kind="Proxy", plural="proxies", scope="Cluster")
    # The cached miss is not final: a lookup that misses asks the server again. (Discovery may
    # trail the Established condition by a moment, hence the short retry.)
    found = None
    for _ in range(50):
        try:
            found = await resolve(kube_client, api_version=f"{group}/v1", kind="Proxy")
            break
        except ConfigurationError:
            await asyncio.sleep(0.2)
    assert found is not None
    assert found.plural == "proxies"


async def test_unknown_kinds(kube_client: KubeClient) -> None:
    with pytest.raises(ConfigurationError) as info:
        await resolve(kube_client, api_version="v1", kind="Sleeper")
    assert str(info.value) == "kind Sleeper not found in apiVersion v1 on the cluster (is the CRD installed?)"
    with pytest.raises(ConfigurationError) as info:
        await resolve(kube_client, api_version="v1", kind="pod")
    assert str(info.value) == (
        "kind pod not found in apiVersion v1 on the cluster (is the CRD installed?); did you mean Pod?"
    )
    with pytest.raises(ConfigurationError) as info:
        await resolve(kube_client, api_version="nope.example.com/v1", kind="Thing")
    assert str(info.value) == (
        "kind Thing not found in apiVersion nope.example.com/v1 on the cluster (is the CRD installed?)"
    )
    with pytest.raises(ConfigurationError) as info:
        await resolve(kube_client, api_version="batch/v1/x", kind="Job")
    assert str(info.value) == "apiVersion 'batch/v1/x' is malformed: use 'v1' or 'group/version'"
