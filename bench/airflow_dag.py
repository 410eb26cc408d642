"""The DAG of the triggerer mode (copied into a throwaway dags folder; never parsed elsewhere).

One task mapped over the bench objects, one task instance per object: the task instances that
``bench.triggerer_db seed`` puts into the deferred state, each waiting on its own trigger. The
operator never runs: the seed writes what its deferral would have written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator

DAG_ID = "bench_triggerer"  # bench/triggerer_db.py looks these up
TASK_ID = "wait"


class BenchWaitOperator(BaseOperator):
    """Stands for the contender's operator, deferred on its trigger for ``name``."""

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context: Any) -> None:
        raise RuntimeError("bench task instances are created deferred; a worker never runs them")


# the names the bench kubelet created, in schedule order: map index i waits on object i
NAMES = sorted(json.loads(Path(os.environ["BENCH_OBJECTS"]).read_text()))

with DAG(DAG_ID, schedule=None, catchup=False, max_active_tasks=len(NAMES) or 1):
    BenchWaitOperator.partial(task_id=TASK_ID).expand(name=NAMES)
