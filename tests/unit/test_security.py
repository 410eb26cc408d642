"""Trigger rows hold no credentials, and exactly the kwargs docs/security.md lists.

Each trigger is built the way its operator builds it before deferring (after resolving the
connection, as ``execute`` does), from a connection whose kubeconfig holds a token, a client
certificate and a key (and for Armada, a bearer-token auth and a token retriever that could read a
token); the serialized kwargs are then checked as the database would store them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.module_loading import import_string

from airflow_k8s_async.armada import BearerTokenAuth, EnvTokenRetriever, FileTokenRetriever, GrpcChannelArgs
from airflow_k8s_async.armada.auth import token_retriever_from
from airflow_k8s_async.armada.model import RunningJobContext
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.armadastart import ArmadaStartTrigger
from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.jobstart import KubernetesJobStartTrigger
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.operators.starting import OperatorStartTrigger
from airflow_k8s_async.secret import Secret
from airflow_k8s_async.triggers.armada import ArmadaJobTrigger
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger
from airflow_k8s_async.triggers.resource import KubernetesResourceTrigger

SECURITY = Path(__file__).parents[2] / "docs" / "security.md"
TOKEN = "tok-0123456789-abcdef-secret"
CERT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n").decode()
KEY = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n").decode()
KUBECONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [
        {"name": "c", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": CERT}}
    ],
    "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "ctx",
    "users": [
        {"name": "u", "user": {"token": TOKEN, "client-certificate-data": CERT, "client-key-data": KEY}}
    ],
}
CONN_ID = "k8s_with_secrets"
# Anything that would mean a credential travelled: the values themselves, and the shapes of one.
FORBIDDEN = [TOKEN, CERT, KEY, "BEGIN CERTIFICATE", "PRIVATE KEY", "client-key", "client-certificate"]
FORBIDDEN_KEYS = re.compile(r"token|password|secret|kube_config\b|kubeconfig|cert|key_data", re.IGNORECASE)
# A key that names a credential's source, not the credential: its value is checked like any other.
DESCRIPTION_KEYS = {"k8s_token_retriever"}
# Where the Armada test's tokens live: the variable holds TOKEN (so a retriever that was called and
# stored its answer would be caught); the file is never read while the trigger is built.
TOKEN_VARIABLE = "ARMADA_POD_LOG_TOKEN"
TOKEN_FILE = "/var/run/secrets/armada/token"


@pytest.fixture(autouse=True)
def _connection(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"kube_config": yaml.safe_dump(KUBECONFIG), "namespace": "team-a"}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "kubernetes", "extra": extra})
    )
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)


def context() -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", try_number=1, map_index=-1, start_date=None)
    return {"ti": ti, "run_id": "r"}


def created(api_version: str, kind: str, plural: str) -> dict[str, Any]:
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": "x-1",
        "namespace": "team-a",
        "uid": "0000-1111",
        "path": f"{prefix}/namespaces/team-a/{plural}/x-1",
    }


def pod_trigger() -> KubeTrigger:
    operator = KubernetesPodOperator(
        task_id="t",
        kubernetes_conn_id=CONN_ID,
        image="busybox",
        do_xcom_push=True,
        execution_timeout=timedelta(minutes=5),
    )
    assert operator._target().cluster.config_dict is not None  # the connection's kubeconfig was read
    operator._pod_ref = ("team-a", "p-1", "0000-1111")
    return operator._trigger(context(), log_positions={"p-1/base": [1700000000, 5, 1]})  # type: ignore[arg-type]


def resource_trigger(api_version: str, kind: str, plural: str) -> KubeTrigger:
    operator = KubernetesJobOperator(
        task_id="t", kubernetes_conn_id=CONN_ID, image="busybox", execution_timeout=timedelta(minutes=5)
    )
    assert operator._target().cluster.config_dict is not None
    run = operator._new_run(operator._target())
    run.created = [created(api_version, kind, plural), created("v1", "ConfigMap", "configmaps")]
    return operator._run_trigger(run, context())  # type: ignore[arg-type]


def armada_trigger() -> ArmadaJobTrigger:
    operator = ArmadaOperator(
        task_id="t",
        name="n",
        channel_args=GrpcChannelArgs(
            "armada.example.com:443",
            auth=BearerTokenAuth(token_retriever=FileTokenRetriever(path=TOKEN_FILE)),
        ),
        armada_queue="q",
        job_request={
            "namespace": "team-a",
            "pod_spec": {"containers": [{"name": "main", "image": "busybox"}]},
        },
        container_logs="main",
        k8s_token_retriever=EnvTokenRetriever(variable=TOKEN_VARIABLE),
        kubernetes_conn_id=CONN_ID,
        lookout_url_template="https://lookout.example.com/?sb=<job_id>",
        extra_links={"dashboard": re.compile(r"https://dash\.example\.com/\S+")},
        execution_timeout=timedelta(minutes=5),
    )
    item = operator._request_item(context(), "set-1")  # type: ignore[arg-type]
    job = RunningJobContext(
        armada_queue="q", job_id="job-1", job_set_id="set-1", submit_time=datetime.now(timezone.utc)
    )
    return operator._trigger(context(), job, item, log_position=[1700000000, 5, 1])  # type: ignore[arg-type]


def started_trigger(operator: Any) -> KubeTrigger:
    """The trigger ``start_from_trigger`` defers to, as Airflow builds it from the operator's args."""
    args = operator.start_trigger_args
    assert args is not None
    trigger_class = import_string(args.trigger_cls)
    return trigger_class(**(args.trigger_kwargs or {}))  # type: ignore[no-any-return]


def job_start_trigger() -> KubeTrigger:
    """A Job task started in the triggerer: its keywords travel (the connection is read there)."""
    operator = KubernetesJobOperator(
        task_id="t",
        kubernetes_conn_id=CONN_ID,
        image="busybox",
        secrets=[Secret("env", "PASSWORD", "db-credentials", "password")],
        start_from_trigger=True,
    )
    return started_trigger(operator)


def armada_start_trigger() -> KubeTrigger:
    """An Armada task started in the triggerer: the channel's auth and the retriever as descriptions."""
    operator = ArmadaOperator(
        task_id="t",
        name="n",
        channel_args=GrpcChannelArgs(
            "armada.example.com:443",
            auth=BearerTokenAuth(token_retriever=FileTokenRetriever(path=TOKEN_FILE)),
        ),
        armada_queue="q",
        job_request={
            "namespace": "team-a",
            "pod_spec": {"containers": [{"name": "main", "image": "busybox"}]},
        },
        k8s_token_retriever=EnvTokenRetriever(variable=TOKEN_VARIABLE),
        kubernetes_conn_id=CONN_ID,
        start_from_trigger=True,
    )
    return started_trigger(operator)


def pod_start_trigger() -> KubeTrigger:
    """A pod started in the triggerer: its trigger stores the whole pod body, secret references too."""
    operator = KubernetesPodOperator(
        task_id="t",
        kubernetes_conn_id=CONN_ID,
        image="busybox",
        secrets=[Secret("env", "PASSWORD", "app-secret", "password")],
        env_from=[{"secretRef": {"name": "app-env"}}],
        start_from_trigger=True,
    )
    return started_trigger(operator)


BUILDERS: dict[type, Callable[[], KubeTrigger]] = {
    KubernetesPodTrigger: pod_trigger,
    KubernetesJobTrigger: lambda: resource_trigger("batch/v1", "Job", "jobs"),
    KubernetesResourceTrigger: lambda: resource_trigger("example.io/v1", "Sleeper", "sleepers"),
    KubernetesJobStartTrigger: job_start_trigger,
    ArmadaJobTrigger: armada_trigger,
    ArmadaStartTrigger: armada_start_trigger,
}


def documented_keys(name: str) -> set[str]:
    row = next(line for line in SECURITY.read_text().splitlines() if line.startswith(f"| `{name}` |"))
    return set(re.findall(r"`(\w+)`", row.split("|")[2]))


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda c: c.__name__)
def test_stored_kwargs_are_exactly_the_documented_ones(cls: type) -> None:
    trigger = BUILDERS[cls]()
    assert type(trigger) is cls
    _, kwargs = trigger.serialize()
    assert set(kwargs) == documented_keys(cls.__name__)


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda c: c.__name__)
def test_no_stored_value_carries_a_credential(cls: type) -> None:
    _, kwargs = BUILDERS[cls]().serialize()
    stored = json.dumps(kwargs)  # what the trigger table holds
    assert kwargs["kubernetes_conn_id"] == CONN_ID  # the triggerer resolves the id itself
    for needle in FORBIDDEN:
        assert needle not in stored, f"{needle!r} in the stored kwargs of {cls.__name__}"
    assert not [k for k in kwargs if FORBIDDEN_KEYS.search(k) and k not in DESCRIPTION_KEYS]


def test_every_trigger_class_is_checked() -> None:
    """A new trigger class cannot miss these checks."""

    def concrete(cls: type) -> set[type]:
        found = {sub for sub in cls.__subclasses__() if not sub.__name__.startswith("_")}
        return found.union(*(concrete(sub) for sub in found))

    assert concrete(KubeTrigger) - {OperatorStartTrigger} == set(BUILDERS)


def test_a_pod_started_in_the_triggerer_stores_references_not_credentials() -> None:
    _, kwargs = pod_start_trigger().serialize()
    stored = json.dumps(kwargs)
    assert "app-secret" in stored and "app-env" in stored  # references: the kubelet resolves them
    for needle in FORBIDDEN:
        assert needle not in stored, f"{needle!r} in the stored kwargs of a pod started in the triggerer"


def test_armada_stores_where_the_tokens_live_not_the_tokens() -> None:
    _, kwargs = armada_trigger().serialize()
    auth = kwargs["channel_args"]["auth"]
    assert auth["classpath"].endswith(".BearerTokenAuth")
    retriever_classpath, retriever_kwargs = auth["kwargs"]["token_retriever"]
    assert retriever_classpath.endswith(".FileTokenRetriever") and retriever_kwargs == {"path": TOKEN_FILE}
    assert kwargs["k8s_token_retriever"][1] == {"variable": TOKEN_VARIABLE}
    # Rebuilt as the triggerer rebuilds it, the retriever reads the token there, when called.
    retriever = token_retriever_from(kwargs["k8s_token_retriever"])
    assert retriever is not None and retriever.get_token() == TOKEN


def test_the_check_would_see_a_credential() -> None:
    """Guards the test: a kubeconfig in the kwargs is caught by the same checks."""
    trigger = KubernetesPodTrigger(pod_name="p", pod_namespace="n", resources=[{"kubeconfig": KUBECONFIG}])
    stored = json.dumps(trigger.serialize()[1])
    assert any(needle in stored for needle in FORBIDDEN)
