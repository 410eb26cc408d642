"""The DAGs of ``bench/slots.py`` (copied into a throwaway dags folder; never parsed elsewhere).

One DAG per contender, ``BENCH_SLOTS_TASKS`` pod tasks each; every pod counts for
``BENCH_SLOTS_SECONDS`` seconds, one log line a second, then writes an XCom (logs on, XCom on).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator as CncfPodOperator
from airflow.sdk import DAG

from airflow_k8s_async.operators.pod import KubernetesPodOperator

TASKS = int(os.environ.get("BENCH_SLOTS_TASKS", "20"))
SECONDS = int(os.environ.get("BENCH_SLOTS_SECONDS", "10"))
IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
COMMON: dict[str, Any] = {
    "namespace": "{{ dag_run.conf['namespace'] }}",
    "image": IMAGE,
    "image_pull_policy": "Never" if IMAGE.endswith(":local") else "IfNotPresent",
    "cmds": ["sh", "-c"],
    "do_xcom_push": True,
    "termination_grace_period": 1,
}


def command(i: int) -> list[str]:
    count = f"for s in $(seq 1 {SECONDS}); do echo task {i} second $s; sleep 1; done"
    return [f"{count}; echo '{{\"task\": {i}}}' > /airflow/xcom/return.json"]


CONTENDERS: dict[str, Any] = {
    "cncf": lambda i: CncfPodOperator(task_id=f"t{i}", arguments=command(i), deferrable=True, **COMMON),
    "ours": lambda i: KubernetesPodOperator(
        task_id=f"t{i}", arguments=command(i), xcom_sidecar_image=IMAGE, **COMMON
    ),
    "ours_start": lambda i: KubernetesPodOperator(
        task_id=f"t{i}", arguments=command(i), xcom_sidecar_image=IMAGE, start_from_trigger=True, **COMMON
    ),
}

for contender, make in CONTENDERS.items():
    with DAG(f"slots_{contender}", schedule=None, max_active_tasks=TASKS) as dag:
        for index in range(TASKS):
            make(index)
    globals()[f"slots_{contender}"] = dag
