"""How a task ends (``triggers/finish.py``): one set of rules for the triggerer and the worker, and
the operators' choice of which outcomes the triggerer may end without a worker."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, Asset

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL
from airflow_k8s_async.triggers.finish import ENDS, FinishPlan, deletes_at_end, finish_intent, outcome
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger


def _event(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "name": "p",
        "namespace": "ns",
        "uid": "u",
        "reason": "",
        "message": "",
        **extra,
    }


def test_plan_round_trips_through_json_and_refuses_nonsense() -> None:
    plan = FinishPlan(
        ends=("success", "failed"), action="IfSucceeded", skip_exit_codes=(3,), return_value=True
    )
    assert FinishPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert FinishPlan.from_dict(None) == FinishPlan()  # a trigger stored before plans: always resume
    with pytest.raises(ValueError, match="action='delete'"):
        FinishPlan(action="delete")
    with pytest.raises(ValueError, match="not outcomes"):
        FinishPlan(ends=("succeeded",))  # type: ignore[arg-type]


def test_a_malformed_plan_makes_the_task_resume_and_never_breaks_the_triggerer() -> None:
    # A plan the triggerer cannot read (e.g. written by a newer version during an upgrade): building
    # the trigger must not raise (Airflow 3.3 would stop the whole trigger runner), the task resumes.
    broken = KubernetesPodTrigger(pod_name="p", pod_namespace="ns", finish={"action": "remove"})
    assert broken._plan() == FinishPlan()
    trigger = KubernetesPodTrigger(pod_name="p", pod_namespace="ns", finish={"ends": ["success"]})
    assert trigger.serialize()[1]["finish"]["ends"] == ["success"]
    assert KubernetesPodTrigger(**trigger.serialize()[1]).serialize() == trigger.serialize()


def test_pod_outcomes() -> None:
    plan = FinishPlan(skip_exit_codes=(3,), return_value=True)
    success = outcome(_event("success", xcom={"a": 1}), plan=plan)
    assert (success.state, success.xcoms) == ("success", {"return_value": {"a": 1}})
    assert outcome(_event("success", xcom=None), plan=plan).xcoms == {}  # nothing pushed, as on a worker
    assert outcome(_event("success", xcom={"a": 1}), plan=FinishPlan()).xcoms == {}  # do_xcom_push off
    skipped = outcome(_event("failed", exit_code=3), plan=plan)
    assert skipped.state == "skipped" and "exited with code 3" in skipped.message
    failed = outcome(_event("failed", exit_code=4, reason="Error", last_log_lines=["boom"]), plan=plan)
    assert failed.state == "failed" and not failed.timeout
    assert "exit code 4 (Error)" in failed.message and failed.message.endswith("Last log lines:\nboom")
    timeout = outcome(_event("timeout", reason="Timeout", exit_code=3), plan=plan)
    assert timeout.state == "failed" and timeout.timeout  # a timeout is never a skip
    assert outcome(_event("error", reason="KubeForbiddenError"), plan=plan).state == "failed"


def test_job_outcomes_push_the_job_and_kube_api_xcoms() -> None:
    lines = [
        {"name": "xcom", "value": '{"a": 2}', "pod": "j-1", "container": "main"},
        {"name": "other", "value": "x", "pod": "j-1", "container": "main"},
        {"name": "xcom", "value": '{"b": [1]}', "pod": "j-2", "container": "main"},
    ]
    result = outcome(
        _event("success", kind="Job", job={"metadata": {}}, kube_api_events=lines), plan=FinishPlan()
    )
    assert result.state == "success"
    assert result.xcoms == {"job": {"metadata": {}}, "a": 2, "b": [1]}
    failed = outcome(_event("failed", kind="Job", kube_api_events=lines[:1]), plan=FinishPlan())
    assert failed.state == "failed" and failed.xcoms == {"a": 2}  # pushed on failure too, as before
    bad = [{"name": "xcom", "value": "[1, 2]", "pod": "j-1", "container": "main"}]
    broken = outcome(_event("success", kind="Job", kube_api_events=bad), plan=FinishPlan())
    assert broken.state == "failed" and "j-1/main" in broken.message and "JSON object" in broken.message


@pytest.mark.parametrize(
    ("action", "status", "phase", "deleted"),
    [
        ("delete_pod", "failed", "Failed", True),
        ("delete_succeeded_pod", "success", "Succeeded", True),
        ("delete_succeeded_pod", "failed", "Failed", False),
        ("delete_active_pod", "failed", "Running", True),
        ("delete_active_pod", "failed", "Failed", False),
        ("keep_pod", "success", "Succeeded", False),
        ("keep_pod", "timeout", "Running", False),
        ("delete_succeeded_pod", "timeout", "Running", True),  # a pod that outlived its task
        ("Always", "failed", None, True),
        ("IfSucceeded", "success", None, True),
        ("IfSucceeded", "failed", None, False),
        ("IfFailed", "timeout", None, True),
        ("Never", "failed", None, False),
    ],
)
def test_deletes_at_end(action: str, status: str, phase: str | None, deleted: bool) -> None:
    assert deletes_at_end(action, _event(status, phase=phase)) is deleted


RUNNING_JOB = {"kind": "Job", "status": {"active": 1}}
FAILED_JOB = {"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True"}]}}


@pytest.mark.parametrize(
    ("action", "status", "reason", "job", "deleted"),
    [
        ("IfSucceeded", "timeout", "Timeout", RUNNING_JOB, True),  # would run on after its task
        ("IfSucceeded", "failed", "StartupTimeout", RUNNING_JOB, True),  # its pod retries for ever
        ("IfSucceeded", "failed", "ErrImageNeverPull", RUNNING_JOB, True),
        ("IfSucceeded", "timeout", "Timeout", None, True),  # timed out before the Job was seen
        ("IfSucceeded", "failed", "BackoffLimitExceeded", FAILED_JOB, False),  # ended: kept to debug
        ("Never", "timeout", "Timeout", RUNNING_JOB, False),  # explicitly kept
        ("IfSucceeded", "error", "KubeForbiddenError", None, False),
    ],
)
def test_a_job_still_running_at_the_end_is_deleted_unless_never(
    action: str, status: str, reason: str, job: dict[str, Any] | None, deleted: bool
) -> None:
    event = {**_event(status), "kind": "Job", "reason": reason, **({"job": job} if job else {})}
    assert deletes_at_end(action, event) is deleted


@pytest.mark.parametrize(
    ("status", "phase", "deleted"),
    [
        ("timeout", "Running", True),
        ("failed", "Pending", True),
        ("failed", "Failed", False),
        ("timeout", None, True),
    ],
)
def test_a_body_led_by_a_pod_still_running_at_the_end_is_deleted_unless_never(
    status: str, phase: str | None, deleted: bool
) -> None:
    event = _event(status, phase=phase)  # the pod trigger's event for a Job operator's body
    assert deletes_at_end("IfSucceeded", event) is deleted
    assert deletes_at_end("Never", event) is False


def test_the_finish_intent_names_what_is_deleted_or_kept_and_why() -> None:
    pod = {**_event("failed"), "name": "p-1", "namespace": "ns"}
    said = "Once Airflow has stored the end: delete Pod p-1 (on_finish_action=delete_pod)"
    assert finish_intent("delete_pod", pod) == said
    kept = "keep Pod p-1 (on_finish_action=delete_succeeded_pod)"
    assert finish_intent("delete_succeeded_pod", pod).endswith(kept)
    created = [{"kind": "Job", "name": "j"}, {"kind": "Service", "name": "s"}]
    job = {**pod, "kind": "Job", "resources": created}
    assert "delete Job j, Service s (delete_policy=IfFailed)" in finish_intent("IfFailed", job)
    assert "keep Job j, Service s (delete_policy=IfSucceeded)" in finish_intent("IfSucceeded", job)


def _pod(**kwargs: Any) -> KubernetesPodOperator:
    with DAG(dag_id=f"finish_{len(kwargs)}_{id(kwargs)}", schedule=None, start_date=datetime(2026, 1, 1)):
        return KubernetesPodOperator(task_id="t", image="busybox", **kwargs)


def test_a_plain_pod_task_ends_every_outcome_in_the_triggerer() -> None:
    op = _pod(do_xcom_push=True, skip_on_exit_code=[3, 4], on_finish_action="delete_succeeded_pod")
    plan = FinishPlan.from_dict(op._finish_plan(try_number=1))
    assert plan == FinishPlan(
        ends=ENDS, action="delete_succeeded_pod", skip_exit_codes=(3, 4), return_value=True
    )
    assert plan.why == {}


@pytest.mark.parametrize(
    ("kwargs", "resumes"),
    [
        ({"on_success_callback": lambda ctx: None}, {"success"}),
        ({"on_skipped_callback": lambda ctx: None}, {"skipped"}),
        ({"email": "a@example.com", "email_on_failure": True}, {"failed"}),
        ({"outlets": [Asset("s3://bucket/out")]}, set(ENDS)),
        ({"multiple_outputs": True}, set(ENDS)),
    ],
)
def test_outcomes_that_need_a_worker_resume_there(kwargs: dict[str, Any], resumes: set[str]) -> None:
    plan = FinishPlan.from_dict(_pod(**kwargs)._finish_plan(try_number=1))
    assert set(plan.ends) == set(ENDS) - resumes
    assert set(plan.why) == resumes  # said in the task log when the trigger resumes
    assert all(plan.resume_reason(end) for end in resumes)


def test_retries_before_airflow_3_3_resume_failures_on_a_worker() -> None:
    op = _pod(retries=2)
    ends = set(FinishPlan.from_dict(op._finish_plan(try_number=1)).ends)
    assert ("failed" in ends) is AIRFLOW_HAS_TRIGGER_ON_KILL  # 3.3 retries a TaskFailedEvent itself
    last_try = set(FinishPlan.from_dict(op._finish_plan(try_number=3)).ends)
    assert last_try == set(ENDS)


def test_a_downstream_task_mapped_over_the_xcom_resumes_on_a_worker() -> None:
    with DAG(dag_id="finish_mapped", schedule=None, start_date=datetime(2026, 1, 1)):
        op = KubernetesPodOperator(task_id="t", image="busybox", do_xcom_push=True)
        KubernetesPodOperator.partial(task_id="m", image="busybox").expand(arguments=op.output)
    assert FinishPlan.from_dict(op._finish_plan(try_number=1)).ends == ()


def test_job_callables_resume_on_a_worker() -> None:
    with DAG(dag_id="finish_job", schedule=None, start_date=datetime(2026, 1, 1)):
        plain = KubernetesJobOperator(task_id="plain", image="busybox", delete_policy="Always")
        custom = KubernetesJobOperator(
            task_id="custom", image="busybox", parse_xcom_event=lambda value: {"v": value}
        )
    assert FinishPlan.from_dict(plain._finish_plan(try_number=1)) == FinishPlan(ends=ENDS, action="Always")
    assert FinishPlan.from_dict(custom._finish_plan(try_number=1)).ends == ()


@pytest.mark.parametrize("value", ["3", [3, "4"], 3.5, True, {"a": 1}])
def test_skip_on_exit_code_of_the_wrong_type_is_refused_at_parse_time(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="skip_on_exit_code"):
        _pod(skip_on_exit_code=value)


async def test_a_loop_that_stopped_running_for_seconds_is_known_to_have_stalled() -> None:
    """What tells a hand-over (this triggerer stalled, another took its triggers) from a kill."""
    import time as clock

    from airflow_k8s_async.triggers.stalls import STALL_SECONDS, LoopStalls

    stalls = LoopStalls(asyncio.get_running_loop())
    try:
        assert not stalls.stalled_recently()
        clock.sleep(STALL_SECONDS + 1.5)  # noqa: ASYNC251  (the loop blocked, as under SIGSTOP)
        assert stalls.stalled_recently()
    finally:
        stalls._task.cancel()
