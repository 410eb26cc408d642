"""``start_from_trigger`` for the Job operators, without a cluster: what travels with the trigger,
what is refused at parse time (naming the keyword), and that the triggerer builds exactly what a
worker builds, under the same names each time the same start runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
from airflow.sdk import DAG

from airflow_k8s_async._kube.podnames import stable_suffixes
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.job import KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.operators.jobstart import KubernetesJobStartTrigger
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL

pytestmark = pytest.mark.skipif(
    not AIRFLOW_HAS_TRIGGER_ON_KILL, reason="start_from_trigger needs Airflow >= 3.3"
)

BODY = """
apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  template:
    spec:
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "echo {{ run_id }} {{ dag_run.conf['x'] }}"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {run: "{{ run_id }}"}
"""


def _in_dag(cls: type, folder: Path | None = None, **kwargs: Any) -> Any:
    dag = DAG(dag_id=f"start_{id(kwargs)}", schedule=None, start_date=datetime(2026, 1, 1))
    if folder is not None:
        dag.fileloc = str(folder / "dag.py")
    with dag:
        return cls(task_id="t", start_from_trigger=True, **kwargs)


def _context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r1", map_index=-1, try_number=try_number)
    return {"ti": ti, "task_instance": ti, "run_id": "r1", "dag_run": SimpleNamespace(conf={"x": "X"})}


def _started(op: Any, context: dict[str, Any]) -> KubernetesJobStartTrigger:
    """The trigger as the triggerer makes it: from the stored kwargs, with its task instance."""
    args = op.start_trigger_args
    kwargs = json.loads(json.dumps(args.trigger_kwargs))  # stored as JSON
    trigger = KubernetesJobStartTrigger(**kwargs)
    trigger.task_instance = context["ti"]
    trigger.render_template_fields(context)
    return trigger


def _built(trigger: KubernetesJobStartTrigger, context: dict[str, Any]) -> list[dict[str, Any]]:
    ti = context["ti"]
    with stable_suffixes(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number):
        return trigger._task.build_resources(context)  # type: ignore[no-any-return]


def test_the_trigger_carries_the_unrendered_keywords_and_builds_as_a_worker() -> None:
    op = _in_dag(
        KubernetesJobOperator,
        body=BODY,
        namespace="{{ dag_run.conf['x'] | lower }}",
        execution_timeout=timedelta(minutes=5),
    )
    args = op.start_trigger_args
    assert args.trigger_cls == "airflow_k8s_async.operators.jobstart.KubernetesJobStartTrigger"
    submit = args.trigger_kwargs["submit"]
    assert submit["operator"] == "airflow_k8s_async.operators.job.KubernetesJobOperator"
    assert "{{ run_id }}" in submit["keywords"]["body"] and submit["execution_timeout"] == 300
    assert "execution_timeout" not in submit["keywords"] and "task_id" not in submit["keywords"]
    assert KubernetesJobStartTrigger(**args.trigger_kwargs).serialize() == (
        args.trigger_cls,
        args.trigger_kwargs,
    )

    context = _context()
    trigger = _started(op, context)
    assert trigger._render_error is None
    assert trigger._task.namespace == "x"
    first, again = _built(trigger, context), _built(trigger, context)
    container = first[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "echo r1 X"  # rendered in the triggerer
    assert first[1]["data"] == {"run": "r1"}
    assert [r["metadata"]["name"] for r in first] == [r["metadata"]["name"] for r in again]
    other_try = _context(try_number=2)
    renamed = _built(_started(op, other_try), other_try)
    assert renamed[0]["metadata"]["name"] != first[0]["metadata"]["name"]  # a new try: new objects


def test_files_are_read_at_parse_time(tmp_path: Path) -> None:
    (tmp_path / "body.yaml").write_text(BODY)
    (tmp_path / "pod.yaml").write_text(  # never rendered, as on a worker: the braces stay
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {team: a}\n  annotations: {raw: '{{ kept }}'}\n"
        "spec:\n  containers: [{name: base}]\n"
    )
    by_body = _in_dag(KubernetesJobOperator, tmp_path, body_filepath="body.yaml")
    legacy = _in_dag(KubernetesLegacyJobOperator, tmp_path, image="busybox", pod_template_file="pod.yaml")
    (tmp_path / "body.yaml").unlink()  # the triggerer has no DAG folder
    (tmp_path / "pod.yaml").unlink()
    context = _context()
    body_job = _built(_started(by_body, context), context)
    assert body_job[0]["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "echo r1 X"
    legacy_job = _built(_started(legacy, context), context)[0]
    assert legacy_job["kind"] == "Job"
    assert legacy_job["spec"]["template"]["metadata"]["labels"]["team"] == "a"
    assert legacy_job["spec"]["template"]["metadata"]["annotations"]["raw"] == "{{ kept }}"


def test_default_args_reach_the_triggerer_through_the_base_classes() -> None:
    """KubernetesLegacyJobOperator takes the pod keywords through **kwargs: Airflow fills them from
    default_args in the pod operator's __init__, and they must travel all the same."""
    default_args = {"kubernetes_conn_id": "prod_k8s", "namespace": "team-a", "image": "busybox:local"}
    dag = DAG(
        dag_id="start_defaults", schedule=None, start_date=datetime(2026, 1, 1), default_args=default_args
    )
    with dag:
        op = KubernetesLegacyJobOperator(task_id="t", cmds=["true"], start_from_trigger=True)
    keywords = op.start_trigger_args.trigger_kwargs["submit"]["keywords"]  # type: ignore[union-attr]
    assert {k: keywords.get(k) for k in default_args} == default_args
    context = _context()
    trigger = _started(op, context)
    assert trigger.kubernetes_conn_id == "prod_k8s" and trigger._task.namespace == "team-a"
    job = _built(trigger, context)[0]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:local"


def test_a_provider_style_job_from_an_image() -> None:
    op = _in_dag(
        KubernetesJobOperator,
        image="busybox",
        cmds=["sh", "-c"],
        arguments=["echo {{ run_id }}"],
        env_vars={"A": "{{ dag_run.conf['x'] }}"},
    )
    context = _context()
    job = _built(_started(op, context), context)[0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["echo r1"]
    assert {"name": "A", "value": "X"} in container["env"]


def test_a_render_error_fails_the_task_with_it() -> None:
    op = _in_dag(KubernetesJobOperator, body="{{ dag_run.conf['missing'].nope }}")
    trigger = _started(op, _context())
    assert (
        trigger._render_error is not None
        and "building the task in the triggerer failed" in trigger._render_error
    )


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"image": "busybox", "wait_until_job_complete": False}, "wait_until_job_complete"),
        ({"image": "busybox", "on_kube_api_event": lambda event, context: None}, "on_kube_api_event"),
        ({"image": "busybox", "parse_xcom_event": json.loads}, "parse_xcom_event"),
        ({"body_filepath": "{{ var.value.body }}"}, "body_filepath is templated"),
        ({"body_filepath": "/no/such/body.yaml"}, "body_filepath"),
        ({"image": "busybox", "job_template_file": "/no/such/job.yaml"}, "job_template_file"),
        ({"image": "busybox", "jinja_job_args": {"a": object()}}, "jinja_job_args cannot be stored"),
        ({"image": "busybox", "deferrable": False}, "deferrable"),
        ({"image": "busybox", "wait_before_defer_seconds": 3}, "wait_before_defer_seconds"),
        ({"body": "{{ ti.xcom_pull(task_ids='a') }}"}, "body pulls an XCom"),
    ],
)
def test_what_needs_a_worker_is_refused_naming_the_keyword(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        _in_dag(KubernetesJobOperator, **kwargs)


def test_the_legacy_operator_refuses_the_same() -> None:
    with pytest.raises(ConfigurationError, match="on_kube_api_event"):
        _in_dag(KubernetesLegacyJobOperator, image="busybox", on_kube_api_event=lambda event, context: None)


def test_a_dag_with_its_own_undefined_is_refused() -> None:
    dag = DAG(
        dag_id="start_undefined",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        template_undefined=jinja2.Undefined,
    )
    with dag, pytest.raises(ConfigurationError, match="template_undefined"):
        KubernetesJobOperator(task_id="t", image="busybox", start_from_trigger=True)
