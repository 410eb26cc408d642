"""The cncf.kubernetes provider's triggers (pinned in bench/requirements-cncf.txt), as its
operators build them with their defaults: pod poll 2 s, startup check 5 s with the pod's events
listed while it is Pending, Job poll 10 s; the connection's extras are handed over as the pod
operator does. Startup/schedule timeouts of an hour, as for ours.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from airflow.providers.cncf.kubernetes.triggers.job import KubernetesJobTrigger
from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger

from bench.workload import job_pod_name

KINDS = ("pod", "job")
TIMEOUT = 3600


def _connection_extras(conn_id: str) -> dict[str, Any]:
    # what the operator reads from the connection before deferring (invoke_defer_method)
    value = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
    return dict(value.get("extra") or {})


def make_triggers(*, kind: str, namespace: str, objects: dict[str, str], conn_id: str) -> dict[str, Any]:
    if kind == "pod":
        extras = _connection_extras(conn_id)
        started = datetime.datetime.now(tz=datetime.timezone.utc)
        return {
            name: KubernetesPodTrigger(
                pod_name=name,
                pod_namespace=namespace,
                trigger_start_time=started,
                kubernetes_conn_id=conn_id,
                connection_extras=extras,
                cluster_context=None,
                config_dict=None,
                in_cluster=None,
                poll_interval=2,
                get_logs=True,
                startup_timeout=TIMEOUT,
                startup_check_interval=5,
                log_events_on_startup=True,
                schedule_timeout=TIMEOUT,
                base_container_name="base",
                on_finish_action="delete_pod",
                on_kill_action="delete_pod",
                termination_grace_period=None,
                last_log_time=None,
                logging_interval=None,
                trigger_kwargs={},
            )
            for name in objects
        }
    return {
        name: KubernetesJobTrigger(
            job_name=name,
            job_namespace=namespace,
            pod_names=[job_pod_name(name)],  # what the operator passes; read only with do_xcom_push
            pod_namespace=namespace,
            base_container_name="base",
            kubernetes_conn_id=conn_id,
            cluster_context=None,
            config_file=None,
            in_cluster=None,
            poll_interval=10.0,
            get_logs=True,
            do_xcom_push=False,
        )
        for name in objects
    }


def outcome(payload: dict[str, Any]) -> str:
    status = str(payload.get("status"))
    return "failed" if status == "error" else status  # the Job trigger says "error" for a failed Job
