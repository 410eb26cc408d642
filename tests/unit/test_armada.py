"""Armada pieces that are pure: channel args serialization, reattach policies, event -> state."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from armada_client.armada import event_pb2

from airflow_k8s_async._armada.states import TERMINAL, event_update, state_name
from airflow_k8s_async.armada import BearerTokenAuth, EnvTokenRetriever, FileTokenRetriever, GrpcChannelArgs
from airflow_k8s_async.armada.policies import external_job_uri, policy
from airflow_k8s_async.errors import ConfigurationError


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
    assert policy(name)(state, "") is expected


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
