"""Run one job on Armada; the task defers while it runs and follows the pod's log.

The server and queue come from the environment: ARMADA_GRPC_TARGET (default localhost:50051),
ARMADA_QUEUE (default "default"), ARMADA_LOOKOUT_URL (optional). Image and namespace as in the other
examples (``K8S_ASYNC_EXAMPLE_IMAGE``, ``K8S_ASYNC_EXAMPLE_NAMESPACE``); ``ARMADA_IMAGE``, if set,
wins for the image, because Armada runs the job on its own executor clusters, which may not have
the image the Kubernetes examples use.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_k8s_async.armada import GrpcChannelArgs
from airflow_k8s_async.operators.armada import ArmadaOperator

TARGET = os.environ.get("ARMADA_GRPC_TARGET", "localhost:50051")
QUEUE = os.environ.get("ARMADA_QUEUE", "default")
LOOKOUT = os.environ.get("ARMADA_LOOKOUT_URL")
IMAGE = os.environ.get("ARMADA_IMAGE") or os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", "busybox:local")
NAMESPACE = os.environ.get("K8S_ASYNC_EXAMPLE_NAMESPACE", "default")

with DAG("example_armada", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["example"]):
    ArmadaOperator(
        task_id="hello_armada",
        name="hello-armada",
        channel_args=GrpcChannelArgs(TARGET),
        armada_queue=QUEUE,
        job_request={
            "priority": 1,
            "namespace": NAMESPACE,
            "pod_spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": IMAGE,
                        "args": [
                            "sh",
                            "-c",
                            "for i in 1 2 3; do echo step $i of {{ run_id }}; sleep 5; done",
                        ],
                        "resources": {
                            "requests": {"cpu": {"string": "100m"}, "memory": {"string": "64Mi"}},
                            "limits": {"cpu": {"string": "100m"}, "memory": {"string": "64Mi"}},
                        },
                    }
                ],
            },
        },
        job_set_prefix="example-",
        lookout_url_template=f"{LOOKOUT}/?sb=<job_id>" if LOOKOUT else None,
        container_logs="main",
        reattach_policy="running_or_succeeded",
        retries=1,
    )
