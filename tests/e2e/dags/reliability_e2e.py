"""DAGs of the reliability tests (tests/reliability): tasks that stay deferred long enough for a
triggerer to be stalled, killed or replaced under them. Each run passes its namespace in conf."""

from __future__ import annotations

import json
import os

from airflow.sdk import DAG, Variable

from airflow_k8s_async.armada import GrpcChannelArgs
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL

IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
NAMESPACE = "{{ dag_run.conf['namespace'] }}"
TICKS = "for i in $(seq 1 {n}); do echo tick-$i; sleep 1; done"


def spec(script: str, *, indent: str) -> str:
    """A pod spec running ``script`` in busybox, as YAML indented by ``indent``."""
    lines = [
        "restartPolicy: Never",
        "terminationGracePeriodSeconds: 1",
        "containers:",
        "  - name: main",
        f"    image: {IMAGE}",
        f"    imagePullPolicy: {PULL}",
        f'    command: ["sh", "-c", {json.dumps(script)}]',
    ]
    return "\n".join(indent + line for line in lines)


def long_tasks(*, seconds: int, conn_id: str = "kubernetes_default", xcom: bool = False) -> None:
    """A pod task, a Job task and a YAML body led by a pod (with a ConfigMap), each ``seconds`` long;
    with ``xcom``, the pod task returns ``{"ticks": seconds}`` through the sidecar."""
    script = TICKS.format(n=seconds)
    common = {"namespace": NAMESPACE, "kubernetes_conn_id": conn_id}
    returns = f"; echo '{{\"ticks\": {seconds}}}' > /airflow/xcom/return.json" if xcom else ""
    KubernetesPodOperator(
        task_id="pod",
        **common,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c", script + returns],
        termination_grace_period=1,
        do_xcom_push=xcom,
        xcom_sidecar_image=IMAGE,
    )
    KubernetesJobOperator(
        task_id="job",
        **common,
        body=f"""
apiVersion: batch/v1
kind: Job
metadata:
  name: work
spec:
  backoffLimit: 0
  template:
    spec:
{spec(script, indent="      ")}
""",
    )
    KubernetesJobOperator(
        task_id="body",
        **common,
        body=f"""
apiVersion: v1
kind: Pod
metadata:
  name: led
spec:
{spec(script, indent="  ")}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: led-config
data:
  key: value
""",
    )


# The test's Armada server, set by the test before it runs the DAG (read when the DAG is parsed:
# the task's doc says which target it was parsed with, so the test can wait for that).
ARMADA_TARGET = Variable.get("armada_e2e_target", default="127.0.0.1:1")


def armada_task(*, scenario: str) -> None:
    """An Armada task whose job does what the test server's ``scenario`` says."""
    ArmadaOperator(
        task_id="armada",
        name="armada",
        channel_args=GrpcChannelArgs(ARMADA_TARGET),
        armada_queue="reliability",
        job_request={
            "namespace": "default",
            "labels": {"scenario": scenario},
            "pod_spec": {"containers": [{"name": "main", "image": IMAGE}]},
        },
        job_set_prefix=f"{scenario}-",
        doc_md=f"Armada target {ARMADA_TARGET}",
    )


with DAG("reliability_stall", schedule=None):
    long_tasks(seconds=75)
    armada_task(scenario="stall")

with DAG("reliability_actions", schedule=None):
    long_tasks(seconds=600)  # ended by the test's action (mark, clear, delete the run)
    armada_task(scenario="actions")

with DAG("reliability_api_outage", schedule=None):
    # Through a proxy the test breaks: its connection is created by the test (kube_proxied).
    long_tasks(seconds=100, conn_id="kube_proxied")

with DAG("reliability_http_faults", schedule=None):
    # Through a proxy that answers bursts of 429/500/503 on cue (kube_faulty, made by the test).
    long_tasks(seconds=100, conn_id="kube_faulty", xcom=True)

with DAG("reliability_rotation", schedule=None):
    # Through a proxy, as a service account whose token the test rotates (kube_rotating).
    long_tasks(seconds=100, conn_id="kube_rotating")

RESTART_TASKS = 50
# Long enough for all 50 to defer (a worker start each) and the triggerer to restart twice before
# the first ends.
RESTART_SECONDS = 240

with DAG("reliability_restart_many", schedule=None, max_active_tasks=RESTART_TASKS):
    # Each pod logs a tick a second, then returns its index as its XCom.
    KubernetesPodOperator.partial(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        termination_grace_period=1,
        do_xcom_push=True,
        xcom_sidecar_image=IMAGE,
    ).expand(
        arguments=[
            [TICKS.format(n=RESTART_SECONDS) + f"; echo '{{\"index\": {i}}}' > /airflow/xcom/return.json"]
            for i in range(RESTART_TASKS)
        ]
    )

# Started in the triggerer, through the proxy the test holds: killed while the pod and the Job
# are being created (their requests wait in the proxy).
if AIRFLOW_HAS_TRIGGER_ON_KILL:  # Airflow 3.3+: tasks start in the triggerer
    with DAG("reliability_start_kill", schedule=None):
        KubernetesPodOperator(
            task_id="pod",
            namespace=NAMESPACE,
            kubernetes_conn_id="kube_proxied",
            image=IMAGE,
            image_pull_policy=PULL,
            cmds=["sh", "-c", "sleep 600"],
            termination_grace_period=1,
            start_from_trigger=True,
        )
        KubernetesJobOperator(
            task_id="job",
            namespace=NAMESPACE,
            kubernetes_conn_id="kube_proxied",
            image=IMAGE,
            image_pull_policy=PULL,
            cmds=["sh", "-c"],
            arguments=["sleep 600"],
            start_from_trigger=True,
        )
