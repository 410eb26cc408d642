"""The task decorators end to end, written as a provider user writes them, with the one-line alias:
``@task.kubernetes`` runs a function in a pod (an image with Python: ``E2E_PYTHON_IMAGE``, built
locally as ``python:local``), ``@task.kubernetes_cmd`` runs the command a function returns."""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG

from airflow_k8s_async.decorators import task

IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
PYTHON_IMAGE = os.environ.get("E2E_PYTHON_IMAGE", "python:local")
NAMESPACE = "{{ dag_run.conf['namespace'] }}"


def pull(image: str) -> str:
    return "Never" if image.endswith(":local") else "IfNotPresent"


with DAG("decorated_tasks", schedule=None):

    @task.kubernetes(
        image=PYTHON_IMAGE,
        image_pull_policy=pull(PYTHON_IMAGE),
        namespace=NAMESPACE,
        do_xcom_push=True,
        xcom_sidecar_image=IMAGE,
        termination_grace_period=1,
    )
    def squares(n: int, *, label: str) -> dict[str, Any]:
        import platform

        print(f"{label}: computing in Python {platform.python_version()}")
        return {"label": label, "squares": [i * i for i in range(n)]}

    @task.kubernetes_cmd(
        image=IMAGE, image_pull_policy=pull(IMAGE), namespace=NAMESPACE, termination_grace_period=1
    )
    def report(result: dict[str, Any]) -> list[str]:
        return ["sh", "-c", f"echo last-square={result['squares'][-1]} of {result['label']}"]

    report(squares(4, label="{{ run_id }}"))
