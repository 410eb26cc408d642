"""A pod whose output streams into the task log while the task is deferred, and whose result
(``/airflow/xcom/return.json``) becomes the task's XCom, read by a second pod through Jinja.

Runs on the local cluster as is (image ``busybox:local``, never pulled). Elsewhere (kind, a real
cluster) set ``K8S_ASYNC_EXAMPLE_IMAGE`` (e.g. ``busybox:1.36``) and, if not ``default``,
``K8S_ASYNC_EXAMPLE_NAMESPACE``; the cluster is the ``kubernetes_default`` connection.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_k8s_async.operators.pod import KubernetesPodOperator

IMAGE = os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
NAMESPACE = os.environ.get("K8S_ASYNC_EXAMPLE_NAMESPACE", "default")

with DAG("example_pod", schedule=None, tags=["airflow-k8s-async", "example"]):
    count = KubernetesPodOperator(
        task_id="count",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        xcom_sidecar_image=IMAGE,
        cmds=["sh", "-c"],
        arguments=[
            "for i in 1 2 3 4 5 6 7 8 9 10; do echo counted $i; sleep 1; done; "
            'echo \'{"counted": 10, "by": "\'$HOSTNAME\'"}\' > /airflow/xcom/return.json'
        ],
        do_xcom_push=True,
    )
    report = KubernetesPodOperator(
        task_id="report",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=["echo \"the first pod counted {{ ti.xcom_pull(task_ids='count')['counted'] }}\""],
    )
    count >> report
