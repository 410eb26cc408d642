"""Harness smoke DAG: one task that defers to the standard provider's TimeDeltaTrigger.

A tiny operator rather than ``TimeDeltaSensor(deferrable=True)``: the sensor counts from the run's
``run_after``, so worker start-up eats into the wait; here the wait starts when the task defers and
its length comes from ``conf={"seconds": N}``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, BaseOperator


class DeferForSeconds(BaseOperator):
    def execute(self, context):
        seconds = float(context["params"]["seconds"])
        self.log.info("harness: deferring for %s s", seconds)
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=seconds)), method_name="resume")

    def resume(self, context, event=None):
        self.log.info("harness: resumed with event %s", event)
        return "resumed"


with DAG("harness_defer", schedule=None, params={"seconds": 5}):
    DeferForSeconds(task_id="wait")
