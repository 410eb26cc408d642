"""The demo (``bash scripts/demo.sh``): pods and a Job that wait in the triggerer, not on workers.

``prepare`` counts with its output streaming into the task log and returns an XCom; six ``shards``
(one mapped task) and a two-pod ``batch`` Job run at the same time, all deferred: while they run,
no worker slot is held. ``report`` reads the XCom through Jinja. Image and namespace: see
``example_pod.py`` (``K8S_ASYNC_EXAMPLE_IMAGE``, ``K8S_ASYNC_EXAMPLE_NAMESPACE``).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator

IMAGE = os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
NAMESPACE = os.environ.get("K8S_ASYNC_EXAMPLE_NAMESPACE", "default")
POD = {
    "namespace": NAMESPACE,
    "image": IMAGE,
    "image_pull_policy": PULL,
    "cmds": ["sh", "-c"],
    "termination_grace_period": 1,
}

with DAG("k8s_async_demo", schedule=None, tags=["airflow-k8s-async", "demo"]) as dag:
    prepare = KubernetesPodOperator(
        task_id="prepare",
        arguments=[
            "for i in 1 2 3 4 5 6 7 8; do echo preparing step $i/8; sleep 1; done; "
            "echo '{\"shards\": 6}' > /airflow/xcom/return.json"
        ],
        do_xcom_push=True,
        xcom_sidecar_image=IMAGE,
        **POD,
    )
    # Different lengths, so the shards do not all finish in the same second.
    shards = KubernetesPodOperator.partial(task_id="shards", **POD).expand(
        arguments=[
            [f'for i in $(seq 1 {seconds}); do echo "shard {n} second $i/{seconds}"; sleep 1; done']
            for n, seconds in enumerate((14, 18, 22, 26, 30, 34), start=1)
        ]
    )
    batch = KubernetesJobOperator(
        task_id="batch",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=['for i in $(seq 1 20); do echo "batch pod $HOSTNAME step $i/20"; sleep 1; done'],
        parallelism=2,
        completions=2,
        backoff_limit=0,
        termination_grace_period=1,
    )
    report = KubernetesPodOperator(
        task_id="report",
        arguments=["echo \"done: {{ ti.xcom_pull(task_ids='prepare')['shards'] }} shards and a batch Job\""],
        **POD,
    )
    prepare >> [shards, batch] >> report
