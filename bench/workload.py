"""What the bench kubelet creates and how it moves it: Pods and Jobs, as plain dicts.

Nothing real ever touches these objects, even on a cluster with a node, scheduler and
controller-manager:
- pods name a scheduler nobody serves and no node, so only the bench kubelet changes them;
- Jobs have ``parallelism: 0``, so the Job controller creates no pod, and their template names
  that scheduler too. The controller still syncs a Job's status: it keeps ``startTime`` and the
  terminal conditions the bench writes, and recomputes ``active`` from the (zero) pods, so the
  bench never writes ``active``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE

NO_SCHEDULER = "airflow-k8s-async-bench-none"
BENCH_LABEL = "airflow-k8s-async/bench"
CONTAINER = "base"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _labels() -> dict[str, str]:
    # the ownership label: our triggers watch through it, as on objects our operators create
    return {MANAGED_BY_KEY: MANAGED_BY_VALUE, BENCH_LABEL: "1"}


def _pod_spec() -> dict[str, Any]:
    return {
        "schedulerName": NO_SCHEDULER,
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": CONTAINER, "image": "busybox:local", "imagePullPolicy": "Never"}],
    }


@dataclass(frozen=True)
class Workload:
    kind: str  # "pod" or "job"
    collection: str  # path template with {namespace}

    def path(self, namespace: str, name: str | None = None) -> str:
        base = self.collection.format(namespace=namespace)
        return base if name is None else f"{base}/{name}"

    def body(self, name: str) -> dict[str, Any]:
        if self.kind == "pod":
            return {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": _labels()},
                "spec": _pod_spec(),
            }
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": _labels()},
            "spec": {
                "parallelism": 0,
                "backoffLimit": 0,
                "template": {"metadata": {"labels": _labels()}, "spec": _pod_spec()},
            },
        }

    def running_status(self) -> dict[str, Any]:
        now = _now()
        if self.kind == "job":
            return {"status": {"startTime": now}}
        return {
            "status": {
                "phase": "Running",
                "startTime": now,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "lastTransitionTime": now},
                ],
                "containerStatuses": [_container(ready=True, state={"running": {"startedAt": now}})],
            }
        }

    def terminal_status(self, *, fails: bool) -> dict[str, Any]:
        now = _now()
        if self.kind == "job":
            counts: dict[str, Any]
            if fails:
                condition = {
                    "type": "Failed",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
                counts = {"failed": 1}
            else:
                condition = {"type": "Complete"}
                counts = {"succeeded": 1, "completionTime": now}
            condition.update(status="True", lastProbeTime=now, lastTransitionTime=now)
            return {"status": {**counts, "conditions": [condition]}}
        code = 1 if fails else 0
        terminated = {
            "exitCode": code,
            "reason": "Error" if fails else "Completed",
            "startedAt": now,
            "finishedAt": now,
        }
        return {
            "status": {
                "phase": "Failed" if fails else "Succeeded",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "False", "lastTransitionTime": now},
                    {"type": "Ready", "status": "False", "lastTransitionTime": now},
                ],
                "containerStatuses": [_container(ready=False, state={"terminated": terminated})],
            }
        }


def _container(*, ready: bool, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": "busybox:local",
        "imageID": "",
        "ready": ready,
        "restartCount": 0,
        "state": state,
    }


WORKLOADS = {
    "pod": Workload(kind="pod", collection="/api/v1/namespaces/{namespace}/pods"),
    "job": Workload(kind="job", collection="/apis/batch/v1/namespaces/{namespace}/jobs"),
}
