"""A YAML body with several resources: a Job and a headless Service for its pods (how pods of a
distributed job find each other). The first resource is the one the task waits for. Every name gets
the task's prefix and one shared random suffix; the pods see all of them in
``KUBERNETES_JOB_OPERATOR_RESOURCES`` (so link resources by labels, not by their names in the body).
The Job's pod prints ``::kube_api:xcom={"said": 5}``: XCom ``said`` = 5; ``delete_policy="IfSucceeded"``
removes both resources when the Job succeeds and keeps them for a post-mortem when it fails.

Image and namespace: see ``example_pod.py`` (``K8S_ASYNC_EXAMPLE_IMAGE``,
``K8S_ASYNC_EXAMPLE_NAMESPACE``).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_k8s_async.operators.job import KubernetesJobOperator

IMAGE = os.environ.get("K8S_ASYNC_EXAMPLE_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
NAMESPACE = os.environ.get("K8S_ASYNC_EXAMPLE_NAMESPACE", "default")

BODY = """
apiVersion: batch/v1
kind: Job
metadata:
  name: greet
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        app: greet
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: {{ params.image }}
          imagePullPolicy: {{ params.pull }}
          command: ["sh", "-c"]
          args:
            - 'echo "resources: $KUBERNETES_JOB_OPERATOR_RESOURCES";
               for i in 1 2 3 4 5; do echo "hello from {{ dag.dag_id }} ($i/5)"; sleep 1; done;
               echo ::kube_api:xcom="{\\"said\\": 5}"'
---
apiVersion: v1
kind: Service
metadata:
  name: peers
spec:
  clusterIP: None
  selector:
    app: greet
  ports:
    - port: 7000
"""

with DAG(
    "example_yaml_job",
    schedule=None,
    params={"image": IMAGE, "pull": PULL},
    tags=["airflow-k8s-async", "example"],
):
    KubernetesJobOperator(task_id="greet", namespace=NAMESPACE, body=BODY, delete_policy="IfSucceeded")
