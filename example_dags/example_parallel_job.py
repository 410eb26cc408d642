"""A Job with three pods at once: every pod's lines reach the task log, each tagged with its pod,
while the task is deferred; the task ends when the Job does (``completions`` reached, or
``backoffLimit`` exceeded, naming the failing pod's exit code).

Written with the cncf.kubernetes provider's keywords (``cmds``, ``arguments``, ``parallelism``,
``completions``): a DAG written for the provider's KubernetesJobOperator changes only its import.
Image and namespace: see ``example_pod.py``.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_k8s_async.operators.job import KubernetesJobOperator

IMAGE = os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
NAMESPACE = os.environ.get("K8S_ASYNC_EXAMPLE_NAMESPACE", "default")

with DAG("example_parallel_job", schedule=None, tags=["airflow-k8s-async", "example"]):
    KubernetesJobOperator(
        task_id="shards",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=['for i in 1 2 3 4 5 6; do echo "shard $HOSTNAME step $i"; sleep 2; done'],
        parallelism=3,
        completions=3,
        backoff_limit=0,
        termination_grace_period=1,
    )
