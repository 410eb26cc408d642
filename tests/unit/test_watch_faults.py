"""The watch hub's failure rules, against a scripted API (faults the real server won't show on cue).

The same rules are proven on the real API server in tests/integration/test_watch_hub.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from airflow_k8s_async._kube import watch
from airflow_k8s_async._kube.client import KubeClient, close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.hub import WatchHub
from airflow_k8s_async._kube.subscription import DELETED, PODS, WatchEvent
from airflow_k8s_async.errors import KubeForbiddenError, KubeUnauthorizedError
from tests.support.waiting import until
from tests.unit.fake_api import HANG, FakeApi, pod, pod_list, status


def kubeconfig(url: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
        "current-context": "fake",
    }


@pytest.fixture
async def api(kmock: kmock.RawHandler) -> FakeApi:
    return FakeApi(kmock)


@pytest.fixture
def cluster(kmock: kmock.RawHandler) -> ClusterConfig:
    return ClusterConfig.from_kubeconfig_dict(kubeconfig(str(kmock.url).rstrip("/"), "t0"))


@pytest.fixture
async def hub() -> AsyncIterator[WatchHub]:
    hub = WatchHub(linger=0, timeout_seconds=5)
    yield hub
    await hub.close()
    await close_clients()


async def next_event(sub: Any, timeout: float = 5) -> WatchEvent:
    return await asyncio.wait_for(sub.__anext__(), timeout)


async def test_410_error_event_relists_and_delivers_missed_changes(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.extend(
        [
            pod_list(10, pod("a", 5, "Running"), pod("b", 6, "Running")),
            # After the 410: "a" finished and "b" was deleted while the hub was not watching.
            pod_list(30, pod("a", 25, "Succeeded")),
        ]
    )
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
    api.watches.extend([[gone], [HANG]])
    async with (
        hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub_a,
        hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="b") as sub_b,
    ):
        first = await next_event(sub_a)
        assert first.object["status"]["phase"] == "Running"
        assert (await next_event(sub_a)).object["status"]["phase"] == "Succeeded"
        assert (await next_event(sub_b)).type != DELETED
        assert (await next_event(sub_b)).type == DELETED
        await until(lambda: len(api.watch_queries) >= 2)
        (stats,) = hub.watches.values()
    assert stats.lists == 2 and stats.relists_after_gone == 1
    # The second watch resumes from the new list's version, not the expired one.
    assert [q["resourceVersion"] for q in api.watch_queries[:2]] == ["10", "30"]
    assert all(q["allowWatchBookmarks"] == "true" for q in api.watch_queries)


async def test_http_410_on_watch_request_relists(api: FakeApi, cluster: ClusterConfig, hub: WatchHub) -> None:
    api.lists.extend([pod_list(10, pod("a", 5)), pod_list(40, pod("a", 33, "Failed"))])
    api.watches.extend([[status(410, "Expired", "too old resource version")], [HANG]])
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        event = await sub.wait_for(lambda e: e.object["status"]["phase"] == "Failed", timeout=5)
    assert event.object["metadata"]["resourceVersion"] == "33"
    assert len(api.list_queries) == 2


async def test_server_timeout_rewatches_from_last_version_without_listing(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.append(pod_list(10, pod("a", 5)))
    bookmark = {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "17"}}}
    api.watches.extend(
        [
            [{"type": "MODIFIED", "object": pod("a", 12, "Running")}],  # then the stream ends
            [bookmark],
            [{"type": "MODIFIED", "object": pod("a", 20, "Succeeded")}, HANG],
        ]
    )
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        await sub.wait_for(lambda e: e.object["status"]["phase"] == "Succeeded", timeout=5)
        (stats,) = hub.watches.values()
    assert [q["resourceVersion"] for q in api.watch_queries[:3]] == ["10", "12", "17"]
    assert stats.lists == 1 and stats.bookmarks == 1 and stats.reconnects == 0


async def test_a_watch_answered_at_once_with_nothing_is_asked_again_after_a_backoff(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    """A proxy or server that ends each watch at once with a 200 and no body: no busy loop."""
    api.lists.append(pod_list(10, pod("a", 5)))
    api.watches.extend([[] for _ in range(1000)])
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        await next_event(sub)
        await asyncio.sleep(2.0)  # the measure: how many watch requests in two seconds
        (stats,) = hub.watches.values()
        asked = len(api.watch_queries)
    assert 2 <= asked <= 8, f"{asked} watch requests in 2 s"
    assert stats.empty_streams >= asked - 1 and stats.lists == 1


async def test_429_honours_retry_after(api: FakeApi, cluster: ClusterConfig, hub: WatchHub) -> None:
    throttled = kmock.Response(
        status=429, headers={"Retry-After": "1"}, payload={"kind": "Status", "code": 429}
    )
    api.lists.extend([throttled, pod_list(10, pod("a", 5, "Succeeded"))])
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        event = await next_event(sub)
    assert event.object["status"]["phase"] == "Succeeded"
    assert len(api.list_queries) == 2
    assert loop.time() - started >= 0.9  # waited as told, not the 0.2 s first backoff step


async def test_watch_5xx_reconnects_from_same_version(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.append(pod_list(10, pod("a", 5)))
    api.watches.extend(
        [
            [status(500, "InternalError")],
            [status(503, "ServiceUnavailable")],
            [{"type": "MODIFIED", "object": pod("a", 11, "Succeeded")}, HANG],
        ]
    )
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        await sub.wait_for(lambda e: e.object["status"]["phase"] == "Succeeded", timeout=10)
    # The client retries 5xx itself for idempotent GETs; either way the version is kept.
    assert {q["resourceVersion"] for q in api.watch_queries} == {"10"}
    assert len(api.list_queries) == 1


async def test_403_reaches_subscribers_and_ends_the_watch(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.append(status(403, "Forbidden", 'pods is forbidden: User "u" cannot list resource "pods"'))
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        with pytest.raises(KubeForbiddenError, match="cannot list resource") as info:
            await next_event(sub)
        assert "grant the missing permission" in str(info.value)
        await asyncio.sleep(0)
        assert not hub.watches  # a new subscriber would start afresh


async def test_a_watch_that_worked_rides_out_a_starting_api_servers_403(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    """An API server that has just started answers 403 (and 401) until its RBAC and token caches
    have synced (seen on the local cluster: about a second): a watch that worked goes on."""
    denied = status(403, "Forbidden", 'pods is forbidden: User "u" cannot watch resource "pods"')
    api.lists.append(pod_list(10, pod("a", 5)))
    succeeded = {"type": "MODIFIED", "object": pod("a", 12, "Succeeded")}
    api.watches.extend([[status(500, "InternalError")], [denied], [denied], [succeeded, HANG]])
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        await sub.wait_for(lambda e: e.object["status"]["phase"] == "Succeeded", timeout=30)


async def test_a_403_that_lasts_past_the_grace_ends_the_watch(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "DENIED_GRACE_SECONDS", 1.0)
    denied = status(403, "Forbidden", 'pods is forbidden: User "u" cannot watch resource "pods"')
    api.lists.append(pod_list(10, pod("a", 5)))
    api.watches.extend([[denied]] * 50)
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        await next_event(sub)
        with pytest.raises(KubeForbiddenError, match="cannot watch resource"):
            await sub.wait_for(lambda e: False, timeout=30)


async def test_missing_object_gets_one_get_then_deleted(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.append(pod_list(10, pod("other", 5)))
    api.gets["late"] = pod("late", 12, "Running")
    async with (
        hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="gone", uid="uid-gone") as gone,
        hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="late") as late,
    ):
        event = await next_event(gone)
        assert event.type == DELETED and event.object["metadata"]["uid"] == "uid-gone"
        event = await next_event(late)
        assert event.object["status"]["phase"] == "Running"
        (stats,) = hub.watches.values()
        assert stats.initial_gets == 2


async def test_stale_and_duplicate_events_are_dropped(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.append(pod_list(10, pod("a", 8, "Running")))
    api.watches.append(
        [
            {"type": "MODIFIED", "object": pod("a", 8, "Running")},  # duplicate of the list
            {"type": "MODIFIED", "object": pod("a", 7, "Pending")},  # older than what was seen
            {"type": "MODIFIED", "object": pod("a", 9, "Succeeded")},
            HANG,
        ]
    )
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as sub:
        phases = [(await next_event(sub)).object["status"]["phase"] for _ in range(2)]
    assert phases == ["Running", "Succeeded"]


async def test_uid_filter_ignores_a_recreated_namesake(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    api.lists.append(pod_list(10, pod("a", 8, "Running", uid="old")))
    api.watches.append(
        [
            {"type": "DELETED", "object": pod("a", 11, "Running", uid="old")},
            {"type": "ADDED", "object": pod("a", 12, "Pending", uid="new")},
            HANG,
        ]
    )
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a", uid="old") as sub:
        assert (await next_event(sub)).object["metadata"]["uid"] == "old"
        event = await next_event(sub)
        assert event.type == DELETED
        with pytest.raises(asyncio.TimeoutError):
            await next_event(sub, timeout=0.3)


async def test_one_watch_for_many_subscribers_and_closed_by_the_last(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    pods = [pod(f"p{i}", 100 + i, "Running") for i in range(50)]
    api.lists.append(pod_list(200, *pods))
    api.watches.append(
        [*({"type": "MODIFIED", "object": pod(f"p{i}", 300 + i, "Succeeded")} for i in range(50)), HANG]
    )

    async def wait_one(i: int) -> str:
        async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name=f"p{i}") as sub:
            event = await sub.wait_for(lambda e: e.object["status"]["phase"] == "Succeeded", timeout=10)
            return str(event.object["metadata"]["name"])

    names = await asyncio.gather(*(wait_one(i) for i in range(50)))
    assert names == [f"p{i}" for i in range(50)]
    assert len(api.list_queries) == 1 and len(api.watch_queries) == 1
    await asyncio.sleep(0)
    assert not hub.watches  # linger=0: the last subscriber closed it


async def test_linger_keeps_the_watch_for_a_quick_successor(api: FakeApi, cluster: ClusterConfig) -> None:
    api.lists.append(pod_list(10, pod("a", 5, "Running"), pod("b", 6, "Running")))
    hub = WatchHub(linger=5, timeout_seconds=5)
    try:
        for name in ("a", "b"):
            async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name=name) as sub:
                await next_event(sub)
        assert len(api.list_queries) == 1 and len(hub.watches) == 1
    finally:
        await hub.close()
        await close_clients()


async def test_labels_subscription_sees_only_its_objects(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    mine = pod("m", 5, "Running")
    mine["metadata"]["labels"] = {"job-name": "j1"}
    theirs = pod("t", 6, "Running")
    theirs["metadata"]["labels"] = {"job-name": "j2"}
    api.lists.append(pod_list(10, mine, theirs))
    async with hub.subscribe(
        cluster=cluster, resource=PODS, namespace="ns", labels={"job-name": "j1"}
    ) as sub:
        event = await next_event(sub)
        assert event.object["metadata"]["name"] == "m"
        assert [o["metadata"]["name"] for o in sub.current()] == ["m"]
        assert "managedFields" not in event.object["metadata"]  # slimmed in the cache


async def test_401_reloads_credentials_once_and_retries(
    api: FakeApi, kmock: kmock.RawHandler, tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    url = str(kmock.url).rstrip("/")
    path.write_text(yaml.safe_dump(kubeconfig(url, "old-token")))
    cluster = ClusterConfig(config_file=str(path))
    api.lists.append(pod_list(10))
    client = await get_client(cluster)
    try:
        assert await client.request("GET", "/api/v1/namespaces/ns/pods") == pod_list(10)
        # The token rotates: the server accepts only the new one, and the file now holds it.
        api.accepted_token = "new-token"
        path.write_text(yaml.safe_dump(kubeconfig(url, "new-token")))
        assert await client.request("GET", "/api/v1/namespaces/ns/pods") == pod_list(10)
        assert client.credential_reloads == 1
        assert api.tokens[-2:] == ["Bearer old-token", "Bearer new-token"]
        # A token that stays wrong is a clear error, after exactly one more reload.
        api.accepted_token = "revoked-everywhere"
        with pytest.raises(KubeUnauthorizedError, match="check the connection's credentials"):
            await client.request("GET", "/api/v1/namespaces/ns/pods")
        assert client.credential_reloads == 2
    finally:
        await close_clients()


async def test_one_client_per_cluster_and_loop(cluster: ClusterConfig) -> None:
    first = await get_client(cluster)
    again, *_ = await asyncio.gather(*(get_client(cluster) for _ in range(20)))
    other = await get_client(ClusterConfig.from_kubeconfig_dict(kubeconfig("http://127.0.0.1:1", "x")))
    try:
        assert first is again and other is not first
        assert isinstance(first, KubeClient)
    finally:
        await close_clients()


async def test_late_subscribers_find_the_cache_through_its_indexes(
    api: FakeApi, cluster: ClusterConfig, hub: WatchHub
) -> None:
    """A subscriber that joins a running watch gets the current object by uid or name, not a stale one."""
    api.lists.append(pod_list(10, pod("a", 8, "Running", uid="old"), pod("b", 9, "Running", uid="b1")))
    api.watches.append(
        [
            {"type": "DELETED", "object": pod("a", 11, "Running", uid="old")},
            {"type": "ADDED", "object": pod("a", 12, "Pending", uid="new")},
            HANG,
        ]
    )
    async with hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="b") as first:
        assert (await next_event(first)).object["metadata"]["uid"] == "b1"
        (watch,) = hub._watches.values()
        await until(lambda: "new" in watch.objects)
        async with (
            hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="a") as by_name,
            hub.subscribe(cluster=cluster, resource=PODS, namespace="ns", name="b", uid="b1") as by_uid,
        ):
            event = await next_event(by_name)
            assert (event.type, event.object["metadata"]["uid"]) == ("ADDED", "new")
            with pytest.raises(asyncio.TimeoutError):
                await next_event(by_name, timeout=0.3)  # nothing of the deleted "old"
            assert (await next_event(by_uid)).object["metadata"]["uid"] == "b1"
            assert [o["metadata"]["uid"] for o in by_name.current()] == ["new"]
            assert watch.stats.initial_gets == 0  # found in the cache: no GET


async def test_a_cancelled_first_caller_of_get_client_cancels_only_its_own_wait() -> None:
    """Many triggers start at once and ask for the client; the first one is killed meanwhile."""
    version = "client.authentication.k8s.io/v1beta1"
    credential = json.dumps({"apiVersion": version, "kind": "ExecCredential", "status": {"token": "t"}})
    config = kubeconfig("http://127.0.0.1:1", "unused")
    config["users"][0]["user"] = {  # a slow credential plugin: the connection takes a second
        "exec": {
            "apiVersion": version,
            "command": "sh",
            "args": ["-c", f"sleep 1; echo '{credential}'"],
        }
    }
    cluster = ClusterConfig.from_kubeconfig_dict(config)
    first = asyncio.create_task(get_client(cluster))
    await asyncio.sleep(0)  # the first caller has started the connection
    others = [asyncio.create_task(get_client(cluster)) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    try:
        clients = await asyncio.wait_for(asyncio.gather(*others), 10)
        assert all(isinstance(c, KubeClient) and c is clients[0] for c in clients)
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await close_clients()
