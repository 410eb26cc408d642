"""``start_from_trigger`` for ArmadaOperator, without a server: what travels with the trigger, what
is refused at parse time (naming the keyword), and that the triggerer rebuilds and renders the
operator as a worker would."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from armada_client.armada.submit_pb2 import JobSubmitRequestItem

from airflow_k8s_async.armada import BearerTokenAuth, EnvTokenRetriever, FileTokenRetriever, GrpcChannelArgs
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.armadastart import ArmadaStartTrigger, client_id_of
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL

pytestmark = pytest.mark.skipif(
    not AIRFLOW_HAS_TRIGGER_ON_KILL, reason="start_from_trigger needs Airflow >= 3.3"
)

REQUEST = {
    "namespace": "team-a",
    "labels": {"run": "{{ run_id }}"},
    "pod_spec": {
        "containers": [{"name": "main", "image": "busybox", "args": ["echo", "{{ dag_run.conf['x'] }}"]}]
    },
}


def _in_dag(**kwargs: Any) -> ArmadaOperator:
    with DAG(dag_id=f"armada_start_{id(kwargs)}", schedule=None, start_date=datetime(2026, 1, 1)):
        return ArmadaOperator(
            **{
                "task_id": "job",
                "name": "job",
                "channel_args": GrpcChannelArgs(
                    "armada.example.com:443",
                    auth=BearerTokenAuth(token_retriever=FileTokenRetriever(path="/t")),
                ),
                "armada_queue": "q",
                "job_request": REQUEST,
                "job_set_prefix": "p-",
                "start_from_trigger": True,
                **kwargs,
            }
        )


def _context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="job", run_id="r1", map_index=-1, try_number=try_number)
    return {"ti": ti, "task_instance": ti, "run_id": "r1", "dag_run": SimpleNamespace(conf={"x": "X"})}


def _started(op: ArmadaOperator, context: dict[str, Any]) -> ArmadaStartTrigger:
    args = op.start_trigger_args
    assert args is not None
    trigger = ArmadaStartTrigger(**json.loads(json.dumps(args.trigger_kwargs)))  # stored as JSON
    trigger.task_instance = context["ti"]
    trigger.render_template_fields(context)
    assert trigger._render_error is None, trigger._render_error
    return trigger


def test_the_trigger_carries_the_request_unrendered_and_rebuilds_the_operator() -> None:
    op = _in_dag(
        k8s_token_retriever=EnvTokenRetriever(variable="TOKEN"),
        extra_links={"dash": "http://d/{{ run_id }}", "found": re.compile(r"http://x/\S+", re.I)},
        execution_timeout=timedelta(minutes=5),
        retries=2,
    )
    args = op.start_trigger_args
    assert args is not None
    assert args.trigger_cls == "airflow_k8s_async.operators.armadastart.ArmadaStartTrigger"
    submit = (args.trigger_kwargs or {})["submit"]
    assert submit["keywords"]["job_request"]["labels"] == {"run": "{{ run_id }}"}  # rendered in the triggerer
    assert submit["keywords"]["channel_args"]["args"]["auth"]["classpath"].endswith("BearerTokenAuth")
    assert submit["keywords"]["k8s_token_retriever"][1] == {"variable": "TOKEN"}
    assert submit["execution_timeout"] == 300 and submit["retries"] == 2

    context = _context()
    task = _started(op, context)._task
    assert (
        isinstance(task.channel_args, GrpcChannelArgs)
        and task.channel_args.target == "armada.example.com:443"
    )
    assert task.retries == 2
    assert task.extra_links["found"].pattern == r"http://x/\S+" and task.extra_links["found"].flags & re.I
    item = task._request_item(context, "p-r1")
    assert isinstance(item, JobSubmitRequestItem)
    assert item.labels["run"] == "r1" and list(item.pod_spec.containers[0].args) == ["echo", "X"]
    assert task._link_xcoms(context) == {"armada_dash_url": "http://d/r1", "armada_found_url": ""}


def test_a_message_request_travels_as_its_dict() -> None:
    message = JobSubmitRequestItem(priority=2, namespace="team-a")
    message.pod_spec.containers.add(name="main", image="busybox")
    submit = (_in_dag(job_request=message).start_trigger_args.trigger_kwargs or {})["submit"]  # type: ignore[union-attr]
    assert submit["keywords"]["job_request"]["pod_spec"]["containers"][0]["name"] == "main"


def test_the_client_id_is_the_same_for_a_try_and_differs_between_tries() -> None:
    first, again, second = (_context()["ti"], _context()["ti"], _context(try_number=2)["ti"])
    assert client_id_of(first) == client_id_of(again) != client_id_of(second)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"job_request": lambda context, env: REQUEST}, "job_request is a callable"),
        ({"reattach_policy": lambda state, reason: True}, "reattach_policy is a callable"),
        ({"dry_run": True}, "dry_run"),
        ({"deferrable": False}, "deferrable"),
        ({"wait_before_defer_seconds": 1}, "wait_before_defer_seconds"),
        ({"job_set_prefix": "{{ ti.xcom_pull('a') }}"}, "job_set_prefix pulls an XCom"),
    ],
)
def test_what_needs_a_worker_is_refused_naming_the_keyword(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        _in_dag(**kwargs)
