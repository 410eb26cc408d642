"""What the bench kubelet creates and how it moves it: Pods and Jobs, as plain dicts.

Nothing real ever touches these objects, even on a cluster with a node, scheduler and
controller-manager:
- pods name a scheduler nobody serves and no node, so only the bench kubelet changes them;
- Jobs have ``parallelism: 0``, so the Job controller creates no pod, and their template names
  that scheduler too. The controller still syncs a Job's status: it keeps ``startTime`` and the
  terminal conditions the bench writes, and recomputes ``active`` from the (zero) pods, so the
  bench never writes ``active``.
- Every Job has one pod, as a real Job has, created and moved by the bench kubelet: it carries the
  labels the Job controller gives its pods (``controller-uid``, ``job-name``), which is how a Job
  trigger finds them, but the Job's (manual) selector names a label the pod lacks, so the
  controller neither adopts nor deletes it. The pod ends first, then the Job, as with a real
  controller; detection counts from the Job's terminal patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE

NO_SCHEDULER = "airflow-k8s-async-bench-none"
BENCH_LABEL = "airflow-k8s-async/bench"
JOB_SELECTOR_LABEL = "airflow-k8s-async/bench-job"  # on the Job's template, never on its pod
CONTAINER = "base"
POD_COLLECTION = "/api/v1/namespaces/{namespace}/pods"


def job_pod_name(job: str) -> str:
    return f"{job}-pod"


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
            return _pod(name, _labels())
        own = {JOB_SELECTOR_LABEL: name}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": _labels()},
            "spec": {
                "parallelism": 0,
                "backoffLimit": 0,
                "manualSelector": True,
                "selector": {"matchLabels": own},
                "template": {"metadata": {"labels": {**_labels(), **own}}, "spec": _pod_spec()},
            },
        }

    def companion(self, name: str, uid: str) -> tuple[str, dict[str, Any]] | None:
        """The pod of Job ``name`` (collection template, body); a pod workload has none."""
        if self.kind != "job":
            return None
        labels = {**_labels(), "controller-uid": uid, "job-name": name}
        return POD_COLLECTION, _pod(job_pod_name(name), labels)

    def patches(
        self, name: str, *, terminal: bool, fails: bool = False
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The status patches of one move, in order, as (collection template, name, body); the
        last one is the object's own (its send time starts the detection latency)."""
        pod = _pod_terminal_status(fails=fails) if terminal else _pod_running_status()
        if self.kind == "pod":
            return [(self.collection, name, pod)]
        job = _job_terminal_status(fails=fails) if terminal else {"status": {"startTime": _now()}}
        return [(POD_COLLECTION, job_pod_name(name), pod), (self.collection, name, job)]


def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": _pod_spec(),
    }


def _job_terminal_status(*, fails: bool) -> dict[str, Any]:
    now = _now()
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


def _pod_running_status() -> dict[str, Any]:
    now = _now()
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


def _pod_terminal_status(*, fails: bool) -> dict[str, Any]:
    now = _now()
    terminated = {
        "exitCode": 1 if fails else 0,
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
    "pod": Workload(kind="pod", collection=POD_COLLECTION),
    "job": Workload(kind="job", collection="/apis/batch/v1/namespaces/{namespace}/jobs"),
}
