"""DAGs for the ArmadaOperator end-to-end tests; the test Armada server's address comes from the
Airflow Variable ``armada_e2e_target`` (set by the test), the outcome from the run's conf."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Variable
from armada_client.armada.submit_pb2 import JobSubmitRequestItem
from armada_client.typings import JobState

from airflow_k8s_async.armada import GrpcChannelArgs
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL

TARGET = Variable.get("armada_e2e_target", default="127.0.0.1:1")
START = datetime(2024, 1, 1)


def request(scenario: str) -> dict[str, Any]:
    return {
        "priority": 1,
        "namespace": "default",
        "labels": {"scenario": scenario},
        "pod_spec": {
            "containers": [{"name": "main", "image": "busybox:local", "args": ["echo", "hello"]}],
        },
    }


def armada(task_id: str, scenario: str, **kwargs: Any) -> ArmadaOperator:
    return ArmadaOperator(
        task_id=task_id,
        name=task_id,
        channel_args=GrpcChannelArgs(TARGET),
        armada_queue="e2e",
        job_request=request(scenario),
        job_set_prefix="e2e-",
        lookout_url_template="http://lookout.invalid/jobs/<job_id>",
        **kwargs,
    )


with DAG("armada_job", schedule=None, start_date=START, catchup=False):
    armada(
        "job",
        "{{ dag_run.conf.get('scenario', 'ok') }}",
        container_logs="main",
        job_acknowledgement_timeout=20,
        extra_links={"docs": "http://docs.invalid/{{ dag.dag_id }}"},
    )


class RetriedArmadaOperator(ArmadaOperator):
    """Try 1 fails after its job has FAILED (whatever the policy says of that failure), so try 2
    meets that job and reattach_policy decides: reattach (and fail with it) or submit anew."""

    def execute_complete(self, context: Any, event: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("try 1 fails after its Armada job ended (e2e)")
        return super().execute_complete(context, event)


def request_of_this_try(context: Any, jinja_env: Any) -> JobSubmitRequestItem:
    """A callable job_request (armada-airflow's form): the message, its scenario named by the try."""
    item = JobSubmitRequestItem(priority=1, namespace="default")
    item.labels["scenario"] = f"try-{context['ti'].try_number}"
    item.pod_spec.containers.add(name="main", image="busybox:local", args=["echo", "hello"])
    return item


def reattach_if_oom_killed(state: JobState, termination_reason: str) -> bool:
    """A migrated armada-airflow policy: it compares with JobState and reads GetJobErrors' text."""
    return state == JobState.FAILED and "OOMKilled" in termination_reason


POLICIES: dict[str, Any] = {
    "never": "never",
    "always": "always",
    "running_or_succeeded": "running_or_succeeded",
    "callable": reattach_if_oom_killed,
}
for name, chosen in POLICIES.items():
    with DAG(f"armada_reattach_{name}", schedule=None, start_date=START, catchup=False):
        RetriedArmadaOperator(
            task_id="job",
            name="job",
            channel_args=GrpcChannelArgs(TARGET),
            armada_queue="e2e",
            # try 1's job fails, try 2's succeeds (when one is submitted)
            job_request=request_of_this_try if callable(chosen) else request("try-{{ ti.try_number }}"),
            reattach_policy=chosen,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )

with DAG("armada_inline", schedule=None, start_date=START, catchup=False):
    armada("job", "inline", deferrable=False)

with DAG("armada_many", schedule=None, start_date=START, catchup=False, max_active_tasks=100):
    ArmadaOperator.partial(
        task_id="job",
        name="job",
        channel_args=GrpcChannelArgs(TARGET),
        armada_queue="e2e",
        job_set_prefix="many-",
        wait_before_defer_seconds=0,  # the jobs wait for the test's release: no early end to catch
    ).expand(job_request=[request(f"many-{i}") for i in range(100)])

with DAG("armada_dry_run", schedule=None, start_date=START, catchup=False):
    armada("job", "ok", dry_run=True)

# start_from_trigger=True: the job is submitted from the triggerer; no worker runs the task. The
# target is fixed when the DAG is parsed: the task's doc says which, so the test can wait for it.
if AIRFLOW_HAS_TRIGGER_ON_KILL:  # Airflow 3.3+: tasks start in the triggerer
    with DAG("armada_start", schedule=None, start_date=START, catchup=False):
        armada(
            "job",
            "{{ dag_run.conf.get('scenario', 'pod') }}",
            container_logs="main",
            job_acknowledgement_timeout=20,
            extra_links={"docs": "http://docs.invalid/{{ dag.dag_id }}"},
            start_from_trigger=True,
            doc_md=f"Armada target {TARGET}",
        )
