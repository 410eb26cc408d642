"""The DAGs of ``bench/slots.py``, copied into a throwaway dags folder once per contender as
``slots_<contender>.py`` (never parsed elsewhere): each copy defines that contender's DAG only and
imports only its operator, as a user's DAG file would, so a worker's parse costs what it costs
users. ``BENCH_SLOTS_TASKS`` pod tasks; every pod counts for ``BENCH_SLOTS_SECONDS`` seconds, one
log line a second, then writes an XCom (logs on, XCom on).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

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


def make(contender: str, i: int) -> Any:
    if contender == "cncf":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator as Cncf

        return Cncf(task_id=f"t{i}", arguments=command(i), deferrable=True, **COMMON)
    from airflow_k8s_async.operators.pod import KubernetesPodOperator

    start = contender == "ours_start"
    return KubernetesPodOperator(
        task_id=f"t{i}", arguments=command(i), xcom_sidecar_image=IMAGE, start_from_trigger=start, **COMMON
    )


CONTENDER = Path(__file__).stem.removeprefix("slots_")  # this copy's contender
if CONTENDER in ("cncf", "ours", "ours_start"):
    with DAG(f"slots_{CONTENDER}", schedule=None, max_active_tasks=TASKS) as dag:
        for index in range(TASKS):
            make(CONTENDER, index)
