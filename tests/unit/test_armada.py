"""Armada pieces that are pure: channel args serialization, reattach policies, event -> state."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from armada_client.armada import event_pb2
from armada_client.typings import JobState

from airflow_k8s_async._armada.states import ALL_STATES, TERMINAL, as_job_state, event_update, state_name
from airflow_k8s_async.armada import (
    BearerTokenAuth,
    EnvTokenRetriever,
    FileTokenRetriever,
    GrpcChannelArgs,
    RunningJobContext,
)
from airflow_k8s_async.armada.policies import external_job_uri, policy
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.armada import (
    ArmadaJobFailedError,
    ArmadaJobFailedFatalError,
    ArmadaOperator,
)


def test_channel_args_round_trip_with_auth_description(tmp_path: Any) -> None:
    token = tmp_path / "token"
    token.write_text("secret-value\n")
    args = GrpcChannelArgs(
        "armada.example:443",
        options=[("grpc.max_receive_message_length", 1 << 24)],
        compression=grpc.Compression.Gzip,
        auth=BearerTokenAuth(token_retriever=FileTokenRetriever(path=str(token))),
    )
    data = args.serialize()
    text = json.dumps(data)
    assert "secret-value" not in text
    again = GrpcChannelArgs.deserialize(json.loads(text), GrpcChannelArgs.__version__)
    assert again == args
    assert again.spec() == args.spec()
    assert isinstance(again.auth, BearerTokenAuth)
    assert again.auth.token_retriever.get_token() == "secret-value"  # rebuilt where it is used


def test_channel_args_version_1_layout_and_newer_versions() -> None:
    old = GrpcChannelArgs.deserialize(
        {"target": "h:1", "options": None, "compression": None, "auth": None}, 1
    )
    assert old.target == "h:1" and old.auth is None and old.spec().auth is None
    with pytest.raises(TypeError, match="version 3"):
        GrpcChannelArgs.deserialize({"target": "h:1"}, 3)


def test_auth_without_a_description_is_refused_clearly() -> None:
    class Plugin(grpc.AuthMetadataPlugin):  # type: ignore[misc]
        def __call__(self, context: Any, callback: Any) -> None:
            callback((("authorization", "Bearer x"),), None)

    with pytest.raises(ConfigurationError, match="cannot travel to the triggerer"):
        GrpcChannelArgs("h:1", auth=Plugin()).serialize()
    with pytest.raises(ConfigurationError, match="target"):
        GrpcChannelArgs("")


def test_env_token_retriever_says_which_variable_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    with pytest.raises(ConfigurationError, match="NO_SUCH_TOKEN_VAR"):
        EnvTokenRetriever(variable="NO_SUCH_TOKEN_VAR").get_token()


@pytest.mark.parametrize(
    ("name", "state", "expected"),
    [
        ("never", "RUNNING", False),
        ("always", "FAILED", True),
        ("ALWAYS", "REJECTED", True),
        ("running_or_succeeded", "RUNNING", True),
        ("running_or_succeeded", "SUCCEEDED", True),
        ("running_or_succeeded", "CANCELLED", True),
        ("running_or_succeeded", "PREEMPTED", True),
        ("running_or_succeeded", "FAILED", False),
        ("running_or_succeeded", "REJECTED", False),
    ],
)
def test_reattach_policies(name: str, state: str, expected: bool) -> None:
    # The operator hands policies JobState members (as armada-airflow); names keep working too.
    assert policy(name)(JobState[state], "") is expected
    assert policy(name)(state, "") is expected


def test_every_state_name_we_use_is_a_job_state_member() -> None:
    assert [as_job_state(name).name for name in ALL_STATES] == list(ALL_STATES)
    assert as_job_state("LEASED") is JobState.LEASED
    assert as_job_state("no such state") is JobState.UNKNOWN


def test_running_job_context_state_is_a_job_state_and_job_state_its_name() -> None:
    job = RunningJobContext(
        armada_queue="q",
        job_id="j",
        job_set_id="js",
        submit_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        job_state="RUNNING",
    )
    assert job.state is JobState.RUNNING  # what armada-airflow code compares with
    assert job.job_state == "RUNNING"
    assert job.to_xcom()["armada_job_state"] == "RUNNING"
    assert RunningJobContext.from_xcom(job.to_xcom()).state is JobState.RUNNING


def failed_event(state: str, message: str) -> dict[str, Any]:
    return {"status": "failed", "state": state, "message": message, "job_id": "j", "queue": "q"}


def test_a_callable_policy_decides_on_a_job_state_whether_a_failure_is_final() -> None:
    """armada-airflow fails for good when the policy would take over the same ended job."""
    seen: list[tuple[Any, str]] = []

    def reattach_failed(state: JobState, reason: str) -> bool:
        seen.append((state, reason))
        return state == JobState.FAILED

    op = ArmadaOperator(
        task_id="t",
        name="t",
        channel_args=GrpcChannelArgs("armada:50051"),
        armada_queue="q",
        job_request={},
        reattach_policy=reattach_failed,
    )
    ctx: Any = {"ti": SimpleNamespace(xcom_push=lambda key, value: None)}
    with pytest.raises(ArmadaJobFailedFatalError, match="exit 3"):
        op.execute_complete(ctx, failed_event("FAILED", "exit 3"))
    with pytest.raises(ArmadaJobFailedError) as preempted:
        op.execute_complete(ctx, failed_event("PREEMPTED", "by job x"))
    assert not isinstance(preempted.value, ArmadaJobFailedFatalError)
    assert seen == [(JobState.FAILED, "exit 3"), (JobState.PREEMPTED, "by job x")]


def test_unknown_policy_and_external_uri() -> None:
    with pytest.raises(ConfigurationError, match="running_or_succeeded"):
        policy("sometimes")
    ti = SimpleNamespace(dag_id="d", task_id="t", map_index=-1)
    assert external_job_uri({"ti": ti, "run_id": "manual__1"}) == "airflow://d/t/manual__1/-1"


def message(kind: str, **fields: Any) -> event_pb2.EventStreamMessage:
    msg = event_pb2.EventStreamMessage(id="7")
    getattr(msg.message, kind).CopyFrom(type(getattr(msg.message, kind))(job_id="j", **fields))
    return msg


@pytest.mark.parametrize(
    ("kind", "fields", "state"),
    [
        ("submitted", {}, "SUBMITTED"),
        ("queued", {}, "QUEUED"),
        ("leased", {"cluster_id": "c"}, "LEASED"),
        ("lease_returned", {}, "QUEUED"),
        ("pending", {"cluster_id": "c"}, "PENDING"),
        ("running", {"cluster_id": "c", "pod_namespace": "ns"}, "RUNNING"),
        ("succeeded", {}, "SUCCEEDED"),
        ("failed", {"reason": "boom"}, "FAILED"),
        ("failed", {"cause": event_pb2.Cause.Value("Rejected")}, "REJECTED"),
        ("cancelled", {"reason": "by x"}, "CANCELLED"),
        ("preempted", {}, "PREEMPTED"),
    ],
)
def test_event_to_state(kind: str, fields: dict[str, Any], state: str) -> None:
    update = event_update(message(kind, **fields))
    assert update is not None
    assert (update.job_id, update.state, update.message_id) == ("j", state, "7")
    assert update.terminal is (state in TERMINAL)


def test_events_that_change_no_state_and_merging() -> None:
    assert event_update(message("utilisation")) is None
    assert event_update(message("cancelling")) is None
    running = event_update(message("running", cluster_id="c", pod_namespace="ns", pod_name="p"))
    done = event_update(message("succeeded"))
    assert running is not None and done is not None
    merged = running.merged(done)
    assert (merged.state, merged.cluster, merged.namespace, merged.pod_name) == ("SUCCEEDED", "c", "ns", "p")
    assert state_name(2) == "RUNNING" and state_name(999) == "UNKNOWN"
