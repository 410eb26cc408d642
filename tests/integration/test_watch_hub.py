"""The watch hub against the real API server: sharing, broken connections, 410 Gone, token rotation.

Pods that a test moves through phases itself are never scheduled (see tests/support/kube.py);
pods that run for real use the test image (`kube.IMAGE`: `busybox:local` here, `$E2E_IMAGE` on
kind) on the real kubelet.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.hub import WatchHub
from airflow_k8s_async._kube.states import Phase, pod_state
from airflow_k8s_async._kube.subscription import DELETED, PODS, Subscription, WatchEvent
from tests.support import kube
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import until

LOCAL_CLUSTER = Path(__file__).resolve().parents[3] / "shared" / "k8s-local"


def terminal(event: WatchEvent) -> bool:
    return event.type == DELETED or pod_state(event.object).terminal


async def next_event(sub: Subscription, timeout: float = 60) -> WatchEvent:
    return await asyncio.wait_for(sub.__anext__(), timeout)


@contextlib.asynccontextmanager
async def proxied(kubeconfig: dict[str, Any]) -> AsyncIterator[tuple[TcpProxy, dict[str, Any]]]:
    """A TCP proxy in front of the API server, and a copy of ``kubeconfig`` that goes through it."""
    cluster = kubeconfig["clusters"][0]["cluster"]
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    proxy = await TcpProxy(target_host=host, target_port=int(port)).start()
    copy = yaml.safe_load(yaml.safe_dump(kubeconfig))
    for entry in copy["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    try:
        yield proxy, copy
    finally:
        await proxy.close()


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def test_200_pods_share_one_watch_and_every_subscriber_sees_its_terminal_phase(
    core: client.CoreV1Api, namespace: str
) -> None:
    names = [f"p{i:03d}" for i in range(200)]
    expected = {name: ("Failed" if i % 10 == 0 else "Succeeded") for i, name in enumerate(names)}

    def create_all() -> None:
        for name in names:
            core.create_namespaced_pod(namespace, kube.unscheduled_pod(name, suite="hub"))

    await in_thread(create_all)
    # Connections are counted at a proxy in front of the API server: exact, and blind to the
    # watches other processes on the cluster open and close meanwhile.
    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):
        cluster = ClusterConfig.from_kubeconfig_dict(kubeconfig)
        hub = WatchHub(linger=0, timeout_seconds=60)
        try:
            async with contextlib.AsyncExitStack() as stack:
                subs = [
                    await stack.enter_async_context(
                        hub.subscribe(cluster=cluster, resource=PODS, namespace=namespace, name=name)
                    )
                    for name in names
                ]
                firsts = await asyncio.gather(*(next_event(sub) for sub in subs))
                assert {pod_state(e.object).phase for e in firsts} == {Phase.PENDING}
                waiters = asyncio.gather(*(sub.wait_for(terminal, timeout=120) for sub in subs))

                def move_all() -> None:
                    for i, name in enumerate(names):
                        kube.set_phase(core, namespace, name, "Running")
                        kube.set_phase(
                            core, namespace, name, expected[name], exit_code=1 if i % 10 == 0 else 0
                        )

                await in_thread(move_all)
                finals = await waiters
                assert proxy.open_connections == 1, "200 subscribers must share exactly one connection"
                (stats,) = hub.watches.values()
                kube_client = await get_client(cluster)
        finally:
            await hub.close()
            await close_clients()
    seen = {e.object["metadata"]["name"]: e.object["status"]["phase"] for e in finals}
    assert seen == expected
    assert proxy.connections_opened == 1  # the LIST's connection carried the WATCH too
    assert (stats.lists, stats.watch_requests, stats.initial_gets, stats.reconnects) == (1, 1, 0, 0)
    assert kube_client.requests == {"GET": 2}  # one LIST, one WATCH: nothing per pod, no polling


async def test_cutting_every_connection_repeatedly_loses_no_terminal_transition(
    core: client.CoreV1Api, namespace: str
) -> None:
    fake = {f"f{i:02d}": ("Succeeded" if i % 3 else "Failed") for i in range(18)}
    real = {"r0": 0, "r1": 1, "r2": 0, "r3": 2}  # name -> exit code, each after a few seconds

    def create_all() -> None:
        for name in fake:
            core.create_namespaced_pod(namespace, kube.unscheduled_pod(name))
        for i, (name, code) in enumerate(real.items()):
            core.create_namespaced_pod(namespace, kube.running_pod(name, f"sleep {3 + 3 * i}; exit {code}"))

    def move(names: list[str]) -> None:
        for name in names:
            kube.set_phase(core, namespace, name, "Running")
            kube.set_phase(core, namespace, name, fake[name], exit_code=0 if fake[name] == "Succeeded" else 3)

    await in_thread(create_all)
    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):
        cluster = ClusterConfig.from_kubeconfig_dict(kubeconfig)
        hub = WatchHub(linger=0, timeout_seconds=60)
        try:
            async with contextlib.AsyncExitStack() as stack:
                subs = {
                    name: await stack.enter_async_context(
                        hub.subscribe(cluster=cluster, resource=PODS, namespace=namespace, name=name)
                    )
                    for name in [*fake, *real]
                }
                await asyncio.gather(*(next_event(sub) for sub in subs.values()))
                waiters = [sub.wait_for(terminal, timeout=180) for sub in subs.values()]
                finals = asyncio.gather(*waiters)
                cuts = 0
                batches = [list(fake)[i : i + 3] for i in range(0, len(fake), 3)]
                (stats,) = hub.watches.values()
                await until(lambda: stats.watch_streams > 0)
                for batch in batches:
                    streams_before = stats.watch_streams
                    cuts += proxy.cut()
                    proxy.refuse()  # these transitions happen while the hub cannot connect
                    refused = proxy.refused
                    await in_thread(move, batch)
                    await until(lambda n=refused: proxy.refused > n)  # it tried, and was refused
                    proxy.accept()
                    # Next round only once the watch is back, so that every cut breaks a watch.
                    await until(lambda n=streams_before: stats.watch_streams > n)
                done = await finals
        finally:
            await hub.close()
            await close_clients()
    states = {e.object["metadata"]["name"]: pod_state(e.object) for e in done}
    for name, phase in fake.items():
        assert states[name].phase == Phase(phase.lower()), (name, states[name])
    for name, code in real.items():
        assert states[name].exit_code == code, (name, states[name])
        assert states[name].phase == (Phase.SUCCEEDED if code == 0 else Phase.FAILED)
    assert cuts >= len(batches), "every round must have cut at least the watch connection"
    assert stats.reconnects >= len(batches)


def restart_api_server() -> None:
    """Kill the local cluster's kube-apiserver (as a crash would) and start it again."""
    home = Path(os.environ.get("K8S_LOCAL_HOME", "/var/cache/k8s-local"))
    pid = int((home / "run" / "kube-apiserver.pid").read_text())
    os.kill(pid, signal.SIGKILL)

    def exited() -> bool:
        with contextlib.suppress(OSError):
            return not Path(f"/proc/{pid}/cmdline").read_bytes()  # empty once it is a zombie
        return True

    kube.eventually(exited, timeout=30)
    subprocess.run(["bash", str(LOCAL_CLUSTER / "up.sh")], check=True, capture_output=True, timeout=300)


@pytest.mark.skipif(
    not (LOCAL_CLUSTER / "up.sh").exists(), reason="restarts the API server of ../shared/k8s-local"
)
async def test_410_after_api_server_restart_relists_and_delivers_missed_changes(
    core: client.CoreV1Api, namespace: str
) -> None:
    for name in ("done", "removed"):
        await in_thread(core.create_namespaced_pod, namespace, kube.unscheduled_pod(name))
    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):
        cluster = ClusterConfig.from_kubeconfig_dict(kubeconfig)
        hub = WatchHub(linger=0, timeout_seconds=60)
        try:
            async with (
                hub.subscribe(cluster=cluster, resource=PODS, namespace=namespace, name="done") as done,
                hub.subscribe(cluster=cluster, resource=PODS, namespace=namespace, name="removed") as removed,
            ):
                await next_event(done)
                await next_event(removed)
                proxy.refuse()
                proxy.cut()
                # Any write moves etcd's revision past the hub's version (a busy cluster does this
                # all the time); a restarted API server starts its watch cache at the current
                # revision, so resuming from the hub's older version is answered with 410 Gone.
                await in_thread(core.create_namespaced_config_map, namespace, {"metadata": {"name": "bump"}})
                await in_thread(restart_api_server)
                await in_thread(kube.set_phase, core, namespace, "done", "Succeeded")
                await in_thread(
                    lambda: core.delete_namespaced_pod("removed", namespace, grace_period_seconds=0)
                )
                proxy.accept()
                finished = await done.wait_for(terminal, timeout=120)
                gone = await removed.wait_for(terminal, timeout=120)
                (stats,) = hub.watches.values()
        finally:
            await hub.close()
            await close_clients()
    assert finished.object["status"]["phase"] == "Succeeded"
    assert gone.type == DELETED
    assert stats.relists_after_gone >= 1 and stats.lists >= 2


def service_account_token(
    core: client.CoreV1Api, namespace: str, account: str, *, not_secret: str = ""
) -> tuple[str, str]:
    def find() -> tuple[str, str] | None:
        sa = core.read_namespaced_service_account(account, namespace)
        for ref in sa.secrets or []:
            if ref.name == not_secret:
                continue
            secret = core.read_namespaced_secret(ref.name, namespace)
            if secret.data and secret.data.get("token"):
                return ref.name, base64.b64decode(secret.data["token"]).decode()
        return None

    return kube.eventually(find, timeout=60)


async def test_401_after_token_rotation_recovers_requests_and_watches(
    kube_api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "rotator"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "rotator-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "rotator", "namespace": namespace}],
        },
    )
    core.create_namespaced_pod(namespace, kube.unscheduled_pod("watched"))
    old_secret, old_token = service_account_token(core, namespace, "rotator")

    async with proxied(kube.kubeconfig_dict()) as (proxy, admin_config):
        path = tmp_path / "kubeconfig"

        def write_config(token: str) -> None:
            config = yaml.safe_load(yaml.safe_dump(admin_config))
            config["users"] = [{"name": "rotator", "user": {"token": token}}]
            for context in config["contexts"]:
                context["context"]["user"] = "rotator"
            path.write_text(yaml.safe_dump(config))

        write_config(old_token)
        cluster = ClusterConfig(config_file=str(path))
        hub = WatchHub(linger=0, timeout_seconds=60)
        try:
            async with hub.subscribe(
                cluster=cluster, resource=PODS, namespace=namespace, name="watched"
            ) as sub:
                assert pod_state((await next_event(sub)).object).phase == Phase.PENDING
                # Rotate: the old token's secret goes, the token controller issues a new one.
                core.delete_namespaced_secret(old_secret, namespace)
                _, new_token = await in_thread(
                    lambda: service_account_token(core, namespace, "rotator", not_secret=old_secret)
                )
                write_config(new_token)
                kube_client = await get_client(cluster)
                old_config = client.Configuration()
                old_config.host = kube_api.configuration.host
                old_config.ssl_ca_cert = kube_api.configuration.ssl_ca_cert
                old_config.api_key = {"BearerToken": f"Bearer {old_token}"}
                old_api = client.CoreV1Api(client.ApiClient(old_config))

                def old_token_rejected() -> bool:
                    try:
                        old_api.list_namespaced_pod(namespace)
                    except client.ApiException as exc:
                        return exc.status == 401
                    return False

                # The API server caches successful token checks for a few seconds.
                await in_thread(lambda: kube.eventually(old_token_rejected, timeout=60, interval=1))
                # Requests recover...
                listed = await kube_client.request("GET", PODS.path(namespace=namespace))
                assert [p["metadata"]["name"] for p in listed["items"]] == ["watched"]
                assert kube_client.credential_reloads == 1
                # ...and so does the watch, when its connection is re-made with the new token.
                proxy.cut()
                await in_thread(kube.set_phase, core, namespace, "watched", "Succeeded")
                event = await sub.wait_for(terminal, timeout=60)
                assert event.object["status"]["phase"] == "Succeeded"
        finally:
            await hub.close()
            await close_clients()
