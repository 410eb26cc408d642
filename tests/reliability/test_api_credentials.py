"""The API server restarted, and the triggerer's token rotated, while tasks are deferred (real
Airflow, the real cluster): the tasks end as their pods do, every log line arrives once, nothing is
left behind. The connection goes through a loopback proxy, so that the test can cut its connections.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.reliability.test_api_outage import DAG_ID, TASKS, assert_complete, proxied, proxied_connection
from tests.reliability.test_user_actions import assert_nothing_left, deferred_and_watched_in
from tests.support import kube
from tests.support.tcp_proxy import BackgroundProxy

__all__ = ["proxied"]  # a fixture of this module too

ACCOUNT = "rotator"
# The local cluster of ../shared/k8s-local: its scripts restart a stopped API server.
K8S_LOCAL = Path(
    os.environ.get("K8S_LOCAL_DIR", Path(__file__).resolve().parents[3] / "shared" / "k8s-local")
)
K8S_LOCAL_HOME = Path(os.environ.get("K8S_LOCAL_HOME", "/var/cache/k8s-local"))
API_SERVER_PID = K8S_LOCAL_HOME / "run" / "kube-apiserver.pid"


def _watched(airflow: AirflowEnv, run_id: str) -> None:
    """Every task deferred, its trigger running, and its object seen running through the watch."""
    deferred_and_watched_in(airflow, DAG_ID, run_id, TASKS)
    for task in TASKS:
        airflow.eventually(lambda t=task: " is running" in airflow.task_log(DAG_ID, run_id, t), timeout=60)


def _token_of(core: client.CoreV1Api, namespace: str, secret: str) -> str:
    """A token of ACCOUNT in a token Secret of its own: deleting the Secret revokes the token."""
    body = {
        "metadata": {"name": secret, "annotations": {"kubernetes.io/service-account.name": ACCOUNT}},
        "type": "kubernetes.io/service-account-token",
    }
    core.create_namespaced_secret(namespace, body)

    def token() -> str | None:
        return (core.read_namespaced_secret(secret, namespace).data or {}).get("token")

    return base64.b64decode(kube.eventually(token, timeout=60)).decode()


@pytest.fixture
def rotating(
    airflow: AirflowEnv, kube_api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> Iterator[tuple[BackgroundProxy, Path, dict[str, object]]]:
    """``kube_proxied`` authenticated as a service account that administers the namespace."""
    core.create_namespaced_service_account(namespace, {"metadata": {"name": ACCOUNT}})
    binding = {
        "metadata": {"name": ACCOUNT},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
    }
    client.RbacAuthorizationV1Api(kube_api).create_namespaced_role_binding(namespace, binding)
    path = tmp_path / "rotating.kubeconfig"
    with proxied_connection(airflow, path, token=_token_of(core, namespace, "token-a")) as (proxy, config):
        yield proxy, path, config


def test_a_rotated_token_is_read_again_and_nothing_is_lost(
    airflow: AirflowEnv,
    kube_api: client.ApiClient,
    core: client.CoreV1Api,
    namespace: str,
    rotating: tuple[BackgroundProxy, Path, dict[str, object]],
) -> None:
    """The kubeconfig's token is replaced and the old one revoked while the tasks are deferred;
    their connections are then cut, so the next requests meet a 401: the triggerer reads the
    kubeconfig again (once) and carries on with the new token."""
    proxy, path, config = rotating
    run_id = run(airflow, DAG_ID, namespace)
    _watched(airflow, run_id)
    new_token = _token_of(core, namespace, "token-b")
    for entry in config["users"]:  # type: ignore[attr-defined]
        entry["user"] = {"token": new_token}
    path.write_text(yaml.safe_dump(config))
    core.delete_namespaced_secret("token-a", namespace)  # the old token is refused from now on
    assert proxy.cut() >= 1, "the triggerer held no connection through the proxy"
    for task in TASKS:
        log = assert_complete(airflow, run_id, task)
        assert "401" not in log and "Unauthorized" not in log, f"{task}: the rotation shows in the task log"
    assert "reloaded Kubernetes credentials" in airflow.logs_tail("triggerer", 2000)
    assert_nothing_left(airflow, kube_api, namespace)


def _restart_api_server() -> float:
    """SIGTERM the local cluster's API server and start it again with its own script; seconds
    from the signal until the API server answers again."""
    pid = int(API_SERVER_PID.read_text().strip())
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)  # as down.sh does after its grace period
    subprocess.run(["bash", str(K8S_LOCAL / "up.sh")], check=True, capture_output=True, timeout=300)
    return time.monotonic() - started


def test_an_api_server_restart_loses_nothing(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, proxied: BackgroundProxy
) -> None:
    if not (API_SERVER_PID.exists() and (K8S_LOCAL / "up.sh").exists()):
        pytest.skip(f"needs the local cluster of {K8S_LOCAL} (its API server is restarted)")
    run_id = run(airflow, DAG_ID, namespace)
    _watched(airflow, run_id)
    took = _restart_api_server()
    assert took < 120, f"the API server took {took:.0f}s to come back"
    for task in TASKS:
        log = assert_complete(airflow, run_id, task)
        assert log.count("Watch of ") <= 4, f"{task}: more than a lost/back pair per watch"
    assert_nothing_left(airflow, kube_api, namespace)
