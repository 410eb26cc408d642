"""Our triggers, with the keywords our operators give them (operators/pod.py, operators/job.py).

Differences from the operators' defaults, the same for every run:
- ``get_logs=False``: in control-plane mode there are no containers, so a log stream would only
  meet "no host assigned" errors; the provider's trigger reads no logs while deferred either;
- startup/schedule timeouts of an hour, so that slow creation of 10000 objects never ends a wait
  early (they only arm a timer, they add no requests).
"""

from __future__ import annotations

from typing import Any

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.hub import get_hub
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger

KINDS = ("pod", "job")
TIMEOUT = 3600


def make_triggers(*, kind: str, namespace: str, objects: dict[str, str], conn_id: str) -> dict[str, Any]:
    if kind == "pod":
        return {
            name: KubernetesPodTrigger(
                pod_name=name,
                pod_namespace=namespace,
                pod_uid=uid,
                base_container_name="base",
                get_logs=False,
                do_xcom_push=False,
                startup_timeout=TIMEOUT,
                schedule_timeout=TIMEOUT,
                deadline=None,
                on_kill_action="delete_pod",
                kubernetes_conn_id=conn_id,
                config_file=None,
                cluster_context=None,
                in_cluster=None,
            )
            for name, uid in objects.items()
        }
    return {
        name: KubernetesJobTrigger(
            job_name=name,
            job_namespace=namespace,
            job_uid=uid,
            get_logs=False,
            startup_timeout=TIMEOUT,
            deadline=None,
            resources=[
                {
                    "path": f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                    "uid": uid,
                    "kind": "Job",
                    "name": name,
                }
            ],
            delete_on_kill=True,
            kubernetes_conn_id=conn_id,
            config_file=None,
            cluster_context=None,
            in_cluster=None,
        )
        for name, uid in objects.items()
    }


def outcome(payload: dict[str, Any]) -> str:
    return str(payload.get("status"))


async def close() -> None:
    """What the triggerer's loop ends with: the shared watches, then the clients."""
    await get_hub().close()
    await close_clients()
