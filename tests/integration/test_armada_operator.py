"""ArmadaOperator's worker side against the in-process Armada server (real gRPC on loopback, no
cluster): the three forms of ``job_request``, ``deferrable=False`` waiting inline, and what a
reattach policy callable receives. ``execute`` runs as Airflow runs it: templates rendered first,
then ``execute(context)`` on a thread with no running event loop."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
from airflow.sdk.exceptions import TaskDeferred
from armada_client.armada.submit_pb2 import JobSubmitRequestItem
from armada_client.typings import JobState

from airflow_k8s_async.armada import GrpcChannelArgs
from airflow_k8s_async.operators.armada import ArmadaJobFailedError, ArmadaOperator
from airflow_k8s_async.operators.armadastart import client_id_of
from airflow_k8s_async.operators.sync import run_sync
from tests.support.armada_server import ArmadaTestServer, JobScript

SCENARIOS = {
    "quick": JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.1), ("SUCCEEDED", 0.3))),
    # Outlasts the operator's short wait below, so a deferrable task would defer.
    "slow": JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.1), ("SUCCEEDED", 4.0))),
    "fail": JobScript(
        steps=(("QUEUED", 0.1), ("RUNNING", 0.1), ("FAILED", 0.3)),
        error="container main exited with 137\nOOMKilled: used 3Gi of a 2Gi limit",
    ),
}


@pytest.fixture
def server() -> Iterator[ArmadaTestServer]:
    srv = ArmadaTestServer(scenarios=SCENARIOS).start()
    yield srv
    srv.stop()


def context(*, try_number: int = 1, retries: int = 0) -> dict[str, Any]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="armada_it",
        task_id="job",
        run_id="manual__it",
        try_number=try_number,
        max_tries=retries,
        map_index=-1,
        start_date=None,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    return {"ti": ti, "run_id": "manual__it"}


def operator(server: ArmadaTestServer, job_request: Any, **kwargs: Any) -> ArmadaOperator:
    return ArmadaOperator(
        task_id="job",
        name="job",
        channel_args=GrpcChannelArgs(server.target),
        armada_queue="q",
        job_request=job_request,
        job_set_prefix="it-",
        **{"wait_before_defer_seconds": 2.0, **kwargs},
    )


def run(op: ArmadaOperator, ctx: dict[str, Any]) -> dict[str, Any]:
    """What the task runner does: render the template fields, then execute."""
    op.render_template_fields(ctx)  # type: ignore[arg-type]
    return op.execute(ctx)  # type: ignore[arg-type]


def container(args: list[str]) -> dict[str, Any]:
    return {"containers": [{"name": "main", "image": "busybox:local", "args": args}]}


def test_a_request_item_message_is_rendered_submitted_and_awaited_inline(server: ArmadaTestServer) -> None:
    message = JobSubmitRequestItem(priority=2, namespace="team-a", labels={"scenario": "slow"})
    message.labels["run"] = "{{ run_id }}"
    message.pod_spec.containers.add(name="main", image="busybox:local", args=["echo", "{{ ti.task_id }}"])
    ctx = context()
    result = run(operator(server, message, deferrable=False), ctx)
    [job] = server.jobs.values()
    assert result == {
        "armada_queue": "q",
        "job_id": job.job_id,
        "job_set_id": "it-manual__it",
        "job_state": "SUCCEEDED",
        "links": {},
    }
    # Jinja rendered inside the message; the submitted item is the message plus our annotations.
    assert (job.item.priority, job.item.namespace, job.item.labels["run"]) == (2, "team-a", "manual__it")
    assert list(job.item.pod_spec.containers[0].args) == ["echo", "job"]
    assert job.item.annotations["armadaproject.io/externalJobUri"] == "airflow://armada_it/job/manual__it/-1"
    assert ctx["ti"].pushed["job_context"]["armada_job_id"] == job.job_id
    calls = server.counts().calls
    assert calls["SubmitJobs"] == 1 and "CancelJobs" not in calls


def test_deferrable_operator_defers_the_same_job_the_inline_one_waits_for(server: ArmadaTestServer) -> None:
    """The contrast to the test above: the same slow job makes a deferrable task defer."""
    request = {"namespace": "default", "labels": {"scenario": "slow"}, "pod_spec": container(["true"])}
    with pytest.raises(TaskDeferred) as deferred:
        run(operator(server, request), context())
    [job] = server.jobs.values()
    assert deferred.value.trigger.serialize()[1]["job_id"] == job.job_id


def test_a_callable_request_gets_the_context_and_a_jinja_env(server: ArmadaTestServer) -> None:
    seen: list[tuple[Any, Any]] = []

    def build(ctx: Any, jinja_env: Any) -> JobSubmitRequestItem:
        seen.append((ctx, jinja_env))
        item = JobSubmitRequestItem(namespace="default", labels={"scenario": "quick"})
        item.labels["try"] = str(ctx["ti"].try_number)
        item.labels["rendered"] = "{{ ti.dag_id }}"  # Jinja still renders what the callable returns
        item.pod_spec.containers.add(name="main", image="busybox:local")
        return item

    ctx = context()
    result = run(operator(server, build), ctx)
    [(given, env)] = seen
    assert given is ctx and isinstance(env, jinja2.Environment)
    [job] = server.jobs.values()
    assert result["job_id"] == job.job_id and result["job_state"] == "SUCCEEDED"
    assert (job.item.labels["try"], job.item.labels["rendered"]) == ("1", "armada_it")


def test_a_reattach_callable_gets_a_job_state_and_the_job_errors_text(server: ArmadaTestServer) -> None:
    """armada-airflow hands a policy ``JobState`` members: a migrated callable compares with them."""
    calls: list[tuple[Any, str]] = []

    def reattach_if_oom(state: JobState, reason: str) -> bool:
        calls.append((state, reason))
        return state == JobState.FAILED and "OOMKilled" in reason

    request = {"namespace": "default", "labels": {"scenario": "fail"}, "pod_spec": container(["false"])}
    first = operator(server, dict(request), reattach_policy=reattach_if_oom, retries=1)
    with pytest.raises(ArmadaJobFailedError) as failed:
        run(first, context(try_number=1, retries=1))
    assert "OOMKilled: used 3Gi of a 2Gi limit" in str(failed.value)  # GetJobErrors, not the event
    assert calls == [(JobState.FAILED, "container main exited with 137\nOOMKilled: used 3Gi of a 2Gi limit")]
    [job_id] = server.job_ids()

    # Try 2 finds try 1's job; the callable says reattach, so nothing new is submitted.
    second = operator(server, dict(request), reattach_policy=reattach_if_oom, retries=1)
    with pytest.raises(ArmadaJobFailedError):
        run(second, context(try_number=2, retries=1))
    assert server.job_ids() == [job_id]
    assert calls[1] == calls[0] and type(calls[1][0]) is JobState
    assert server.counts().calls["SubmitJobs"] == 1


def test_a_start_in_the_triggerer_run_twice_submits_one_job(server: ArmadaTestServer) -> None:
    """``start_from_trigger``: after a triggerer restart the same try's start runs again; it finds
    the job by its client_id (and Armada would deduplicate a second submission on it)."""
    op = operator(server, {"namespace": "default", "labels": {"scenario": "slow"}, "pod_spec": container([])})
    ctx = context()
    item = op._request_item(ctx, "it-manual__it")  # type: ignore[arg-type]
    item.client_id = client_id_of(ctx["ti"])
    first, _ = run_sync(lambda: op._submitter().job_for(ctx, "it-manual__it", item, again=True))  # type: ignore[arg-type]
    again, _ = run_sync(lambda: op._submitter().job_for(ctx, "it-manual__it", item, again=True))  # type: ignore[arg-type]
    assert again.job_id == first.job_id and server.counts().calls["SubmitJobs"] == 1
    # Without the lookup, Armada's own deduplication answers the first job's id.
    answered, _ = run_sync(lambda: op._submitter().job_for(ctx, "it-manual__it", item))  # type: ignore[arg-type]
    assert answered.job_id == first.job_id and len(server.jobs) == 1
    # The next try has its own client_id: a new job.
    retry = context(try_number=2)
    item.client_id = client_id_of(retry["ti"])
    other, _ = run_sync(lambda: op._submitter().job_for(retry, "it-manual__it", item, again=True))  # type: ignore[arg-type]
    assert other.job_id != first.job_id and len(server.jobs) == 2
