"""``start_from_trigger`` at parse time: what the operator hands the triggerer, and what it refuses,
naming the keyword, before anything reaches a cluster."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.job import KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger

pytestmark = pytest.mark.skipif(
    not AIRFLOW_HAS_TRIGGER_ON_KILL, reason="start_from_trigger needs Airflow >= 3.3"
)


def _pod(dag_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> KubernetesPodOperator:
    with DAG(
        dag_id=f"start_{id(kwargs)}", schedule=None, start_date=datetime(2026, 1, 1), **(dag_kwargs or {})
    ):
        return KubernetesPodOperator(task_id="t", image="busybox", start_from_trigger=True, **kwargs)


def test_the_trigger_is_fixed_at_parse_time_with_unrendered_keywords() -> None:
    op = _pod(
        arguments=["echo {{ run_id }}"],
        env_vars={"A": "{{ dag_run.conf['a'] }}"},
        do_xcom_push=True,
        execution_timeout=timedelta(minutes=5),
    )
    args = op.start_trigger_args
    assert op.start_from_trigger and args is not None
    assert args.trigger_cls == "airflow_k8s_async.triggers.pod.KubernetesPodTrigger"
    assert args.next_method == "execute_complete"
    kwargs = json.loads(json.dumps(args.trigger_kwargs))  # stored as JSON
    submit = kwargs["submit"]
    assert submit["keywords"]["arguments"] == ["echo {{ run_id }}"]  # rendered in the triggerer
    assert submit["keywords"]["env_vars"] == {"A": "{{ dag_run.conf['a'] }}"}
    assert "arguments" in submit["templated"] and "image_pull_policy" not in submit["templated"]
    assert submit["execution_timeout"] == 300
    assert kwargs["finish"]["ends"] == ["success", "failed", "skipped"]
    assert kwargs["pod_name"] == "" and kwargs["do_xcom_push"] is True
    assert KubernetesPodTrigger(**kwargs).serialize()[1] == kwargs


def test_pod_template_file_is_read_at_parse_time(tmp_path: Path) -> None:
    template = tmp_path / "pod.yaml"
    template.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {team: a}\nspec:\n  containers: [{name: base}]\n"
    )
    submit = _pod(pod_template_file=str(template)).start_trigger_args.trigger_kwargs["submit"]  # type: ignore[union-attr,index]
    assert submit["template"]["metadata"]["labels"] == {"team": "a"}
    assert submit["keywords"]["pod_template_file"] is None


@pytest.mark.parametrize(
    ("kwargs", "dag_kwargs", "named"),
    [
        ({"deferrable": False}, {}, "deferrable"),
        ({"wait_before_defer_seconds": 2}, {}, "wait_before_defer_seconds"),
        ({"pod_template_file": "{{ var.value.template }}"}, {}, "pod_template_file"),
        ({"pod_template_file": "/no/such/file.yaml"}, {}, "pod_template_file"),
        ({"env_vars": {"A": object()}}, {}, "env_vars"),
        ({"affinity": lambda: None}, {}, "affinity"),
        ({}, {"user_defined_macros": {"x": 1}}, "user_defined_macros"),
        ({}, {"render_template_as_native_obj": True}, "render_template_as_native_obj"),
        ({"arguments": ["echo {{ ti.xcom_pull(task_ids='a') }}"]}, {}, "arguments pulls an XCom"),
        ({"env_vars": {"A": "{{ task_instance.xcom_pull('a') }}"}}, {}, "env_vars pulls an XCom"),
    ],
)
def test_what_needs_a_worker_is_refused_naming_the_keyword(
    kwargs: dict[str, Any], dag_kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        _pod(dag_kwargs, **kwargs)


@pytest.mark.parametrize("cls", [KubernetesJobOperator, KubernetesLegacyJobOperator])
def test_the_config_default_applies_to_every_operator(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__KUBERNETES_ASYNC__START_FROM_TRIGGER", "True")
    assert KubernetesPodOperator(task_id="p", image="busybox").start_from_trigger
    assert cls(task_id="j", image="busybox").start_from_trigger
    # a task that cannot start there runs the default way (it did not ask)
    assert not cls(task_id="k", image="busybox", wait_until_job_complete=False).start_from_trigger
