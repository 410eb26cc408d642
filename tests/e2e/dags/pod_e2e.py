"""End-to-end DAGs for KubernetesPodOperator; each test passes its namespace in the run's conf.

Image ``busybox:local`` (never pulled) runs on the local cluster; elsewhere set ``E2E_IMAGE``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.secret import Secret
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL

IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
NAMESPACE = "{{ dag_run.conf['namespace'] }}"
COMMON: dict[str, Any] = {
    "namespace": NAMESPACE,
    "image": IMAGE,
    "image_pull_policy": "Never" if IMAGE.endswith(":local") else "IfNotPresent",
    "xcom_sidecar_image": IMAGE,
    "termination_grace_period": 1,
    "cmds": ["sh", "-c"],
}


class CrashBeforeDefer(KubernetesPodOperator):
    """Dies like a lost worker on its first try, after creating the pod and before deferring."""

    def execute(self, context: Any) -> Any:
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)

    def defer(self, **kwargs: Any) -> Any:
        if self._first_try:
            os._exit(1)
        return super().defer(**kwargs)


with DAG("pod_success", schedule=None):
    produced = KubernetesPodOperator(
        task_id="run",
        arguments=[
            "for i in 1 2 3 4 5 6 7 8; do echo progress-$i; sleep 1; done; "
            'echo \'{"rows": 42, "ok": true}\' > /airflow/xcom/return.json'
        ],
        do_xcom_push=True,
        **COMMON,
    )
    # A downstream task reads the value as a mapping (a value stored as a JSON string fails here).
    produced >> KubernetesPodOperator(
        task_id="check", arguments=["echo rows={{ ti.xcom_pull(task_ids='run')['rows'] }}"], **COMMON
    )

with DAG("pod_exit3", schedule=None):
    KubernetesPodOperator(task_id="run", arguments=["echo failing now; exit 3"], **COMMON)

with DAG("pod_skip3", schedule=None):
    KubernetesPodOperator(task_id="run", arguments=["exit 3"], skip_on_exit_code=3, **COMMON)

with DAG("pod_missing_image", schedule=None):
    KubernetesPodOperator(
        task_id="run",
        arguments=["true"],
        **{**COMMON, "image": "no-such-image:1", "image_pull_policy": "Never"},
    )

with DAG("pod_long", schedule=None):
    KubernetesPodOperator(task_id="run", arguments=["echo started; sleep 600"], **COMMON)

with DAG("pod_restart", schedule=None):
    KubernetesPodOperator(
        task_id="run",
        arguments=["for i in $(seq 1 25); do echo tick-$i; sleep 1; done"],
        **COMMON,
    )

with DAG("pod_crash_adopt", schedule=None, default_args={"retries": 1, "retry_delay": timedelta(seconds=1)}):
    CrashBeforeDefer(
        task_id="run",
        arguments=["echo adopted; sleep 10"],
        on_finish_action="keep_pod",
        **COMMON,
    )

with DAG("pod_inline", schedule=None):
    KubernetesPodOperator(
        task_id="run",
        arguments=["echo inline-run; echo '[1, 2]' > /airflow/xcom/return.json"],
        deferrable=False,
        do_xcom_push=True,
        **COMMON,
    )

# Callbacks leave a marker file each (the dag-processor or a worker runs them, on this machine).
MARKERS = os.environ.get("E2E_MARKERS", "/tmp/airflow-k8s-async-e2e-markers")


def mark(what: str) -> Any:
    def callback(context: Any) -> None:
        ti = context["ti"]
        folder = os.path.join(MARKERS, ti.dag_id, ti.run_id.replace(":", "_"))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{what}-{ti.try_number}"), "w") as marker:
            marker.write(what)

    return callback


with DAG("pod_success_callback", schedule=None):
    # on_success_callback runs on a worker: this task resumes there on success.
    KubernetesPodOperator(
        task_id="run",
        arguments=["echo ok; echo '7' > /airflow/xcom/return.json"],
        do_xcom_push=True,
        on_success_callback=mark("success"),
        **COMMON,
    )

with DAG("pod_retry_then_fail", schedule=None):
    # Ended in the triggerer both times (Airflow >= 3.3 retries a TaskFailedEvent itself); the retry
    # and failure callbacks run through the dag-processor.
    KubernetesPodOperator(
        task_id="run",
        arguments=["echo attempt; exit 5"],
        retries=1,
        retry_delay=timedelta(seconds=1),
        on_retry_callback=mark("retry"),
        on_failure_callback=mark("failure"),
        **COMMON,
    )

# start_from_trigger=True: the task never runs on a worker; the triggerer renders the templates,
# creates the pod and ends the task.
if AIRFLOW_HAS_TRIGGER_ON_KILL:  # Airflow 3.3+: the triggerer renders templates
    with DAG("pod_start_in_triggerer", schedule=None):
        KubernetesPodOperator(
            task_id="run",
            arguments=[
                "echo run {{ run_id }} in {{ dag_run.conf['namespace'] }}; sleep 3; "
                'echo \'{"started": "{{ ti.task_id }}"}\' > /airflow/xcom/return.json'
            ],
            do_xcom_push=True,
            start_from_trigger=True,
            **COMMON,
        ) >> KubernetesPodOperator(  # the default way: a template's xcom_pull needs a worker
            task_id="check",
            arguments=["echo started={{ ti.xcom_pull(task_ids='run')['started'] }}"],
            **COMMON,
        )

    with DAG("pod_start_restart", schedule=None):
        for index in range(5):
            KubernetesPodOperator(
                task_id=f"run{index}",
                arguments=["for i in $(seq 1 20); do echo tick-$i; sleep 1; done"],
                start_from_trigger=True,
                on_finish_action="keep_pod",  # kept, so the test can count every pod made
                **COMMON,
            )

    with DAG("pod_start_fails", schedule=None):
        KubernetesPodOperator(
            task_id="run",
            arguments=["echo about to fail; exit 4"],
            start_from_trigger=True,
            **COMMON,
        )

# 200 pods that exit within 1-2 s of starting, every fourth with exit code 3: the fast ends that
# hit apache/airflow#71580 when tasks resume on a worker right after deferring.
SHORT_PODS = int(os.environ.get("E2E_SHORT_PODS", "200"))
with DAG("pod_short_burst", schedule=None, max_active_tasks=64):
    KubernetesPodOperator.partial(task_id="run", **COMMON).expand(
        arguments=[[f"sleep 1; echo short-{i}; exit {3 if i % 4 == 0 else 0}"] for i in range(SHORT_PODS)]
    )

# A burst as the container exits, then its XCom: through the real triggerer's supervisor into the
# task log (slower there than in a test loop), every line once and in order, and the value.
BURST_LINES = 20_000
with DAG("pod_burst_at_exit", schedule=None):
    KubernetesPodOperator(
        task_id="run",
        do_xcom_push=True,
        arguments=[
            f"sleep 3; seq 1 {BURST_LINES}; echo '{{\"lines\": {BURST_LINES}}}' > /airflow/xcom/return.json"
        ],
        **COMMON,
    )

# The Secret "e2e-app" (made by the test, key "password") as an env var, as files and through
# env_from; the container proves it has the value, never prints it, and fails: the failure path
# (pod spec, events, last lines) must not show it either.
with DAG("pod_secrets", schedule=None):
    KubernetesPodOperator(
        task_id="run",
        arguments=[
            'test -n "$APP_PASSWORD" && test -s /etc/app/password && test -n "$password" '
            "&& echo has-the-secret; exit 3"
        ],
        secrets=[
            Secret("env", "APP_PASSWORD", "e2e-app", "password"),
            Secret("volume", "/etc/app", "e2e-app"),
        ],
        env_from=[{"secretRef": {"name": "e2e-app"}}],
        log_events_on_failure=True,
        **COMMON,
    )

# The connection "kube_mirror" names the XCom sidecar's image in its extras (the provider's
# xcom_sidecar_container_image), as air-gapped installs do; the tasks name none. Here the default
# image cannot be pulled, so only the connection's makes them succeed: on a worker, and started
# in the triggerer.
MIRRORED = {k: v for k, v in COMMON.items() if k != "xcom_sidecar_image"}
with DAG("pod_sidecar_from_connection", schedule=None):
    for task_id, started in (("worker", False), ("started", True)):
        if started and not AIRFLOW_HAS_TRIGGER_ON_KILL:
            continue
        KubernetesPodOperator(
            task_id=task_id,
            kubernetes_conn_id="kube_mirror",
            arguments=['echo \'{"sidecar": "mirrored"}\' > /airflow/xcom/return.json'],
            do_xcom_push=True,
            start_from_trigger=started,
            **MIRRORED,
        )
