"""Run one job on Armada; the task defers while it runs and follows the pod's log.

The server and queue come from the environment: ARMADA_GRPC_TARGET (default localhost:50051),
ARMADA_QUEUE (default "default"), ARMADA_LOOKOUT_URL (optional), ARMADA_IMAGE (busybox:local).
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
IMAGE = os.environ.get("ARMADA_IMAGE", "busybox:local")

with DAG("example_armada", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["example"]):
    ArmadaOperator(
        task_id="hello_armada",
        name="hello-armada",
        channel_args=GrpcChannelArgs(TARGET),
        armada_queue=QUEUE,
        job_request={
            "priority": 1,
            "namespace": "default",
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
