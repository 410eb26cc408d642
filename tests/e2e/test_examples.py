"""The example DAGs run as shipped: a real Airflow 3 whose DAG folder is ``example_dags/``, on the
real cluster, every Kubernetes example at once in a namespace of its own."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv, kubernetes_connection
from tests.support.kube import IMAGE, create_namespace, delete_namespace

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
SLEEPER_CRD = "sleepers.examples.airflow-k8s-async.io"


@pytest.fixture(scope="module")
def examples(
    kube_api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AirflowEnv, str]]:
    namespace = create_namespace(kube_api, "e2e-examples")
    overrides = {
        **kubernetes_connection(),
        "K8S_ASYNC_EXAMPLE_NAMESPACE": namespace,
        # The examples' own variable if set, else the image the other tests run (kind: $E2E_IMAGE).
        "K8S_ASYNC_EXAMPLE_IMAGE": os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", IMAGE),
    }
    env = AirflowEnv(home=tmp_path_factory.mktemp("examples_home"), dags_folder=EXAMPLES, overrides=overrides)
    env.start()
    try:
        yield env, namespace
    finally:
        env.stop()
        delete_namespace(kube_api, namespace)
        try:  # example_custom_kind installs its CRD; leave the cluster as the suite found it
            client.ApiextensionsV1Api(kube_api).delete_custom_resource_definition(SLEEPER_CRD)
        except client.ApiException as error:
            if error.status != 404:
                raise


def test_every_kubernetes_example_succeeds(examples: tuple[AirflowEnv, str], core: client.CoreV1Api) -> None:
    env, namespace = examples
    dag_ids = ["example_pod", "example_yaml_job", "example_parallel_job", "example_custom_kind"]
    runs = {}
    for dag_id in dag_ids:
        env.wait_for_dag(dag_id, timeout=120)
        runs[dag_id] = env.trigger(dag_id)
    states = {dag_id: env.wait_for_run(dag_id, run_id, timeout=300) for dag_id, run_id in runs.items()}
    assert states == dict.fromkeys(dag_ids, "success"), env.logs_tail("scheduler", 80)

    assert env.xcom("example_pod", runs["example_pod"], "count")["counted"] == 10
    assert "the first pod counted 10" in env.task_log("example_pod", runs["example_pod"], "report")
    assert env.xcom("example_yaml_job", runs["example_yaml_job"], "greet", key="said") == 5
    greet = env.task_log("example_yaml_job", runs["example_yaml_job"], "greet")
    assert "hello from example_yaml_job (5/5)" in greet, greet
    shards = env.task_log("example_parallel_job", runs["example_parallel_job"], "shards")
    hosts = {line.split("shard ", 1)[1].split()[0] for line in shards.splitlines() if "step 6" in line}
    assert len(hosts) == 3, shards
    sleeper = env.task_log("example_custom_kind", runs["example_custom_kind"], "sleeper")
    assert "Sleeper" in sleeper and "Done" in sleeper, sleeper
    assert re.search(r"resources: greet-greet-\w+ greet-peers-\w+", greet), greet
    # The multi-resource body was deleted on success (delete_policy="IfSucceeded").
    managed = "app.kubernetes.io/managed-by=airflow-k8s-async"
    services = lambda: core.list_namespaced_service(namespace, label_selector=managed).items  # noqa: E731
    assert env.eventually(lambda: not services(), timeout=60)
