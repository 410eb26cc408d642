"""The API server restarted, and the triggerer's token rotated, while tasks are deferred (real
Airflow, the real cluster): the tasks end as their pods do, every log line arrives once, nothing is
left behind. The connection goes through a loopback proxy, so that the test can cut its connections.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.reliability.conftest import proxied_connection
from tests.reliability.test_api_outage import DAG_ID, TASKS, assert_complete
from tests.reliability.test_user_actions import assert_nothing_left, deferred_and_watched_in
from tests.support import kube
from tests.support.tcp_proxy import BackgroundProxy

ACCOUNT = "rotator"
ROTATION_DAG = "reliability_rotation"
RELOADED = "reloaded Kubernetes credentials"
# The local cluster of ../shared/k8s-local: its scripts restart a stopped API server.
K8S_LOCAL = Path(
    os.environ.get("K8S_LOCAL_DIR", Path(__file__).resolve().parents[3] / "shared" / "k8s-local")
)
K8S_LOCAL_HOME = Path(os.environ.get("K8S_LOCAL_HOME", "/var/cache/k8s-local"))
API_SERVER_PID = K8S_LOCAL_HOME / "run" / "kube-apiserver.pid"


def _watched(airflow: AirflowEnv, dag_id: str, run_id: str) -> None:
    """Every task deferred, its trigger running, and its object seen running through the watch."""
    deferred_and_watched_in(airflow, dag_id, run_id, TASKS)
    for task in TASKS:
        airflow.eventually(lambda t=task: " is running" in airflow.task_log(dag_id, run_id, t), timeout=60)


def _refused(token: str, namespace: str) -> bool:
    """Whether the API server answers ``token`` with 401."""
    configuration = client.Configuration()
    kubeconfig = kube.kubeconfig_dict()
    for entry in kubeconfig["users"]:
        entry["user"] = {"token": token}
    config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        try:
            client.CoreV1Api(api).list_namespaced_pod(namespace, limit=1)
        except client.ApiException as exc:
            return exc.status == 401
    return False


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
    """``kube_rotating`` (the rotation DAG's) through a proxy, authenticated as a service account
    that administers the namespace."""
    core.create_namespaced_service_account(namespace, {"metadata": {"name": ACCOUNT}})
    binding = {
        "metadata": {"name": ACCOUNT},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
    }
    client.RbacAuthorizationV1Api(kube_api).create_namespaced_role_binding(namespace, binding)
    path = tmp_path / "rotating.kubeconfig"
    token = _token_of(core, namespace, "token-a")
    with proxied_connection(airflow, "kube_rotating", path, token=token) as (proxy, written):
        yield proxy, path, written


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
    proxy, path, written = rotating
    old_token = written["users"][0]["user"]["token"]  # type: ignore[index]
    run_id = run(airflow, ROTATION_DAG, namespace)
    _watched(airflow, ROTATION_DAG, run_id)
    new_token = _token_of(core, namespace, "token-b")
    for entry in written["users"]:  # type: ignore[attr-defined]
        entry["user"] = {"token": new_token}
    path.write_text(yaml.safe_dump(written))
    core.delete_namespaced_secret("token-a", namespace)
    # The API server refuses the old token once its token cache has seen the deletion (~10 s).
    assert kube.eventually(lambda: _refused(old_token, namespace), timeout=60)
    assert proxy.cut() >= 1, "the triggerer held no connection through the proxy"
    reloads = 0
    for task in TASKS:
        log = assert_complete(airflow, run_id, task, dag_id=ROTATION_DAG)
        shown = re.search(r"HTTP 401|Unauthorized", log)
        assert not shown, f"{task}: the rotation shows in the task log: {shown}"
        reloads += log.count(RELOADED)
    # Once for the whole process: in the log of the task whose request met the 401 first, or in
    # the triggerer's own (a shared watch's request).
    reloads += airflow.logs_tail("triggerer", 5000).count(RELOADED)
    assert reloads == 1, f"the credentials were reloaded {reloads} times"
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
    _watched(airflow, DAG_ID, run_id)
    took = _restart_api_server()
    assert took < 120, f"the API server took {took:.0f}s to come back"
    for task in TASKS:
        log = assert_complete(airflow, run_id, task)
        assert log.count("Watch of ") <= 4, f"{task}: more than a lost/back pair per watch"
    assert_nothing_left(airflow, kube_api, namespace)
