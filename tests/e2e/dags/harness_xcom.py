"""Harness smoke DAG: one task that returns a value (key ``return_value``) and pushes another key."""

from __future__ import annotations

from airflow.sdk import DAG, get_current_context, task


@task
def push():
    get_current_context()["ti"].xcom_push(key="extra", value=[1, 2, 3])
    return {"answer": 42}


with DAG("harness_xcom", schedule=None):
    push()
