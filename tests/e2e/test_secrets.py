"""Secret values and tokens stay out of task logs (real Airflow, the real cluster).

A pod task takes a Secret as an env var, as files and through ``env_from``; a Job task mounts it
with ``mount_files_from_secret``. Both prove they have the value and fail on purpose, so the failure
path runs too (the pod's events and its last lines go into the task log). The value
must be in no log. The Airflow here runs as the service accounts of deploy/rbac, which may not read
Secrets at all; the ``airflow`` fixture checks at the end that no log holds their tokens.
"""

from __future__ import annotations

import base64
import json
import uuid

from kubernetes import client, config

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.support.airflow_fixture import tokens_in_logs

DAGS = ("pod_secrets", "job_secrets")


def test_secret_values_reach_the_containers_and_no_log(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    value = f"pw-{uuid.uuid4().hex}"
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "e2e-app"}, "stringData": {"password": value}}
    )
    runs = {dag_id: run(airflow, dag_id, namespace) for dag_id in DAGS}
    needles = (value, base64.b64encode(value.encode()).decode())
    for dag_id, run_id in runs.items():
        state = airflow.wait_for_task_state(dag_id, run_id, "run", {"failed"}, timeout=180)
        assert state == "failed"
        log = airflow.task_log(dag_id, run_id, "run")
        assert "has-the-secret" in log, "the container did not get the Secret"
        assert "Pod event:" in log, "the failure path ran: the pod's events are in the log"
        assert not any(needle in log for needle in needles), f"the Secret's value is in the log of {dag_id}"
    assert not tokens_in_logs(airflow.home, needles)


def can_i(airflow: AirflowEnv, kind: str, verb: str, resource: str) -> bool:
    """Whether the Kubernetes connection of Airflow's ``kind`` of process may ``verb`` ``resource``."""
    env = {**airflow.env, **airflow.component_overrides.get(kind, {})}
    path = json.loads(env["AIRFLOW_CONN_KUBERNETES_DEFAULT"])["extra"]["kube_config_path"]
    review = {"spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": "default"}}}
    with config.new_client_from_config(path) as api:
        answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


def test_the_airflow_here_runs_as_the_shipped_service_accounts(airflow: AirflowEnv) -> None:
    """Guards the identity the e2e tests run as: each may do its part, and may not read Secrets."""
    assert can_i(airflow, "scheduler", "create", "pods")
    assert can_i(airflow, "triggerer", "watch", "pods")
    assert not can_i(airflow, "scheduler", "get", "secrets")
    assert not can_i(airflow, "triggerer", "get", "secrets")
    assert not can_i(airflow, "triggerer", "create", "serviceaccounts")
