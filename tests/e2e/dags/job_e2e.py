"""End-to-end DAGs for KubernetesJobOperator; each test passes its namespace in the run's conf."""

from __future__ import annotations

import json
import os
import signal
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_k8s_async.operators.job import KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL

IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
PULL = "Never" if IMAGE.endswith(":local") else "IfNotPresent"
NAMESPACE = "{{ dag_run.conf['namespace'] }}"


def job(script: str, *, extra_spec: str = "", name: str = "work") -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  {extra_spec}
  template:
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: {IMAGE}
          imagePullPolicy: {PULL}
          command: ["sh", "-c", {json.dumps(script)}]
"""


SERVICE = """
---
apiVersion: v1
kind: Service
metadata:
  name: work-svc
spec:
  selector:
    app: work
  ports:
    - port: 80
"""

with DAG("job_two_docs", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body=job("echo two-docs; echo ::kube_api:xcom='{\"a\": 2}'; sleep 8") + SERVICE,
        delete_policy="IfSucceeded",
    )

with DAG("job_exit2", schedule=None):
    KubernetesJobOperator(
        task_id="run", namespace=NAMESPACE, body=job("echo failing; exit 2", extra_spec="backoffLimit: 0")
    )

with DAG("job_parallel", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body=job('echo "line from $HOSTNAME"; sleep 8', extra_spec="parallelism: 3\n  completions: 3"),
    )

with DAG("job_bad_yaml", schedule=None):
    KubernetesJobOperator(task_id="run", namespace=NAMESPACE, body="apiVersion: v1\nkind: [Pod\n")

with DAG("job_second_rejected", schedule=None):
    # Valid locally, rejected by the API server (port out of range): the Job must be deleted again.
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body=job("sleep 60") + SERVICE.replace("port: 80", "port: 99999"),
    )

with DAG("job_long", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body=job("echo started; sleep 600", extra_spec="parallelism: 2\n  completions: 2"),
    )

with DAG("job_custom_kind", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body="""
apiVersion: e2e.airflow-k8s-async.io/v1
kind: Sleeper
metadata:
  name: nap
spec:
  seconds: 1
""",
        status_rule={"field": "status.state", "success": ["Done"], "failure": ["Broken"]},
        delete_policy="Never",
    )

with DAG("job_body_file", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body_filepath="bodies/templated_job.yaml",
        jinja_job_args={"image": IMAGE, "pull": PULL, "message": "rendered-ok"},
    )

with DAG("job_legacy", schedule=None):
    KubernetesLegacyJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=['echo "legacy $GREETING"; echo ::kube_api:xcom=\'{"legacy": true}\''],
        env_vars={"GREETING": "{{ dag.dag_id }}"},
        parallelism=2,
        completions=2,
        delete_policy="Always",
    )

with DAG("job_secret_files", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        command=["sh", "-c", "echo secret says $(cat /etc/e2e/greeting)"],
        mount_files_from_secret={"e2e-files": {"greeting": "/etc/e2e/greeting"}},
    )

with DAG("job_indexed", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body=job(
            'echo "index $JOB_COMPLETION_INDEX"',
            extra_spec="completionMode: Indexed\n  completions: 3\n  parallelism: 3",
        ),
    )

with DAG("job_provider_style", schedule=None):
    # Written for the cncf provider's KubernetesJobOperator: only the import changed.
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=['echo "provider style $WHO"'],
        env_vars={"WHO": "{{ dag.dag_id }}"},
        completions=2,
        parallelism=2,
        backoff_limit=0,
    )

with DAG("job_no_wait", schedule=None):
    # The cncf provider's wait_until_job_complete=False: the task ends once the Job is created.
    KubernetesLegacyJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c", "sleep 600"],
        termination_grace_period=1,
        wait_until_job_complete=False,
    )

with DAG("job_template_file", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        job_template_file="bodies/job_template.yaml",
        full_job_spec={"spec": {"parallelism": 2, "template": {"spec": {"containers": []}}}},
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=['echo "templated $FROM_TEMPLATE $KW"'],
        env_vars={"KW": "keyword-env"},
        delete_policy="Never",
    )

with DAG("job_legacy_keep", schedule=None):
    # airflow-kubernetes-job-operator's is_delete_operator_pod=False: delete_policy Never.
    KubernetesLegacyJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c", "echo kept"],
        is_delete_operator_pod=False,
    )

with DAG("job_kill_foreground", schedule=None):
    KubernetesLegacyJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        # sh ignores SIGTERM while sleep runs: the pod stays Terminating for the grace period
        cmds=["sh", "-c", "trap '' TERM; echo started; sleep 600"],
        termination_grace_period=20,
        on_kill_propagation_policy="Foreground",
    )


def provider_job(*, work: str, on_finish_action: str) -> KubernetesJobOperator:
    """A task written for the cncf provider's KubernetesJobOperator, keywords of its pod operator
    included; only the import differs. ``container_logs`` names the helper: its log is shown, the
    work container's is not, and the work container's exit code decides."""
    return KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        image=IMAGE,
        image_pull_policy=PULL,
        cmds=["sh", "-c"],
        arguments=[work],
        base_container_name="work",
        pod_template_dict={
            "spec": {
                "containers": [
                    {"name": "work"},
                    {
                        "name": "helper",
                        "image": IMAGE,
                        "imagePullPolicy": PULL,
                        "command": ["sh", "-c", "echo helper line from the helper container"],
                    },
                ]
            }
        },
        termination_grace_period=1,
        backoff_limit=0,
        wait_until_job_complete=True,  # the provider's default is False
        get_logs=True,
        container_logs=["helper"],
        on_finish_action=on_finish_action,
        startup_timeout_seconds=90,
        schedule_timeout_seconds=90,
        poll_interval=1,
        logging_interval=5,
        log_events_on_failure=True,
        reattach_on_restart=True,
        skip_on_exit_code=99,
    )


with DAG("job_provider_pod_keywords", schedule=None):
    provider_job(work="echo work line from the work container; sleep 8", on_finish_action="keep_pod")

with DAG("job_provider_pod_keywords_fail", schedule=None):
    provider_job(work="echo work line from the work container; exit 3", on_finish_action="delete_pod")


# start_from_trigger=True: the task never runs on a worker; the triggerer builds the operator,
# renders its templates, creates the resources and ends the task.
if AIRFLOW_HAS_TRIGGER_ON_KILL:  # Airflow 3.3+: the triggerer renders templates
    CONFIG = """
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  run: "{{ run_id }}"
"""
    with DAG("job_start_in_triggerer", schedule=None):
        KubernetesJobOperator(
            task_id="run",
            namespace=NAMESPACE,
            body=job(
                "echo run {{ run_id }} in {{ dag_run.conf['namespace'] }}; sleep 3; "
                'echo ::kube_api:xcom=\'{"started": "{{ ti.task_id }}"}\''
            )
            + CONFIG,
            start_from_trigger=True,
        )

    with DAG("job_start_fails", schedule=None):
        KubernetesJobOperator(
            task_id="run",
            namespace=NAMESPACE,
            image=IMAGE,
            image_pull_policy=PULL,
            cmds=["sh", "-c"],
            arguments=["echo about to fail; exit 4"],
            backoff_limit=0,
            start_from_trigger=True,
        )

    TICKS = "for i in $(seq 1 20); do echo tick-$i; sleep 1; done"
    with DAG("job_start_restart", schedule=None):
        for index in range(2):
            KubernetesJobOperator(
                task_id=f"run{index}",
                namespace=NAMESPACE,
                image=IMAGE,
                image_pull_policy=PULL,
                cmds=["sh", "-c"],
                arguments=[TICKS],
                delete_policy="Never",  # kept, so the test can count every object made
                start_from_trigger=True,
            )
        KubernetesLegacyJobOperator(
            task_id="legacy",
            namespace=NAMESPACE,
            image=IMAGE,
            image_pull_policy=PULL,
            cmds=["sh", "-c"],
            arguments=[TICKS],
            # the job-operator's body: a Job template (the keywords' pod goes over it) and a ConfigMap
            body="apiVersion: batch/v1\nkind: Job\nmetadata: {name: legacy}\nspec: {backoffLimit: 0}\n"
            + CONFIG,
            delete_policy="Never",
            start_from_trigger=True,
        )

    with DAG("job_start_killed", schedule=None):
        KubernetesJobOperator(
            task_id="run",
            namespace=NAMESPACE,
            body=job("echo started; sleep 600") + CONFIG,
            start_from_trigger=True,
        )


class KilledBeforeDefer(KubernetesJobOperator):
    """SIGKILLed like a lost worker on its first try, after creating the Job and before deferring."""

    def execute(self, context: Any) -> Any:
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)

    def defer(self, **kwargs: Any) -> Any:
        if self._first_try:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().defer(**kwargs)


with DAG(
    "job_worker_killed", schedule=None, default_args={"retries": 1, "retry_delay": timedelta(seconds=1)}
):
    KilledBeforeDefer(
        task_id="run",
        namespace=NAMESPACE,
        body=job("echo try {{ ti.try_number }}; sleep 20") + SERVICE,
        delete_policy="IfFailed",  # kept at success, so the test sees which Jobs are left
    )

# The Secret "e2e-app" mounted as a file (mount_files_from_secret); the Job fails on purpose.
with DAG("job_secrets", schedule=None):
    KubernetesJobOperator(
        task_id="run",
        namespace=NAMESPACE,
        body=job("test -s /etc/app/pw && echo has-the-secret; exit 3", extra_spec="backoffLimit: 0"),
        mount_files_from_secret={"e2e-app": {"password": "/etc/app/pw"}},
        log_events_on_failure=True,
    )
