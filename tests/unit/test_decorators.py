"""The task decorators without a cluster: registration, the alias, the pod they build, and the
function run as the pod would run it (a local ``python -c``, the pod's command and environment)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_k8s_async import decorators
from airflow_k8s_async.decorators import KubernetesCmdDecoratedOperator, KubernetesDecoratedOperator, task
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.get_provider_info import get_provider_info


def test_registered_under_names_that_do_not_clash_with_the_providers() -> None:
    names = {d["name"]: d["class-name"] for d in get_provider_info()["task-decorators"]}
    assert names == {
        "kubernetes_async": "airflow_k8s_async.decorators.kubernetes_task",
        "kubernetes_async_cmd": "airflow_k8s_async.decorators.kubernetes_cmd_task",
    }
    assert not {"kubernetes", "kubernetes_cmd"} & set(names)  # the provider's


def _only_task(dag: DAG) -> Any:
    (operator,) = dag.tasks
    return operator


def run_like_the_pod(operator: KubernetesDecoratedOperator) -> str:
    """The pod's command, run here with its environment: what the function printed."""
    operator.prepare_pod()
    env = {**os.environ, **{e["name"]: e["value"] for e in operator.env_vars}}
    assert operator.cmds[:2] == ["python", "-c"]
    done = subprocess.run([sys.executable, *operator.cmds[1:]], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_alias_makes_ours_and_the_function_runs_from_its_def_with_its_arguments() -> None:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes(image="python:3.12", namespace="ns")
        def add(a: int, b: int, *, scale: int = 1) -> None:
            # a comment, and a decorator above that must not run in the pod
            print("sum", (a + b) * scale)

        add(2, 3, scale=10)
    operator = _only_task(dag)
    assert isinstance(operator, KubernetesDecoratedOperator)
    assert operator.name == "k8s-airflow-pod-add" and operator.random_name_suffix
    assert run_like_the_pod(operator).strip() == "sum 50"


def test_airflow_finds_ours_by_name() -> None:
    from airflow.sdk import task as airflow_task

    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @airflow_task.kubernetes_async(image="python:3.12", do_xcom_push=True)
        def hello() -> dict[str, str]:
            return {"hello": "pod"}

        hello()
    operator = _only_task(dag)
    assert isinstance(operator, KubernetesDecoratedOperator) and operator.do_xcom_push
    operator.prepare_pod()
    script = base64.b64decode(
        next(e["value"] for e in operator.env_vars if e["name"] == decorators.SCRIPT_ENV)
    ).decode()
    assert "/airflow/xcom/return.json" in script and "@" not in script.split("def hello")[0]


def test_the_cmd_decorator_runs_what_the_function_returns() -> None:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes_cmd(image="busybox", args_only=False)
        def command(word: str) -> list[str]:
            return ["echo", word]

        command("hi")
    operator = _only_task(dag)
    assert isinstance(operator, KubernetesCmdDecoratedOperator)


@pytest.mark.parametrize("returned", [None, "echo hi", [], ["echo", 1]])
def test_a_cmd_function_that_returns_no_list_of_strings_fails_naming_it(returned: Any) -> None:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes_cmd(image="busybox")
        def broken() -> Any:
            return returned

        broken()
    operator = _only_task(dag)
    with pytest.raises(ConfigurationError, match="broken"):
        operator.execute({"params": {}})


def test_they_do_not_start_in_the_triggerer() -> None:
    with pytest.raises(ConfigurationError, match="start_from_trigger"):
        with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)):

            @task.kubernetes(image="python:3.12", start_from_trigger=True)
            def f() -> None:
                pass

            f()


def test_the_return_value_is_written_as_json_for_the_sidecar(tmp_path: Any) -> None:
    """The script's result line, with the XCom path moved to a temporary folder."""
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes(image="python:3.12", do_xcom_push=True)
        def rows(n: int) -> dict[str, int]:
            return {"rows": n}

        rows(7)
    operator = _only_task(dag)
    operator.prepare_pod()
    env = {e["name"]: e["value"] for e in operator.env_vars}
    script = base64.b64decode(env[decorators.SCRIPT_ENV]).decode()
    out = tmp_path / "return.json"
    script = script.replace("/airflow/xcom/return.json", str(out))
    env[decorators.SCRIPT_ENV] = base64.b64encode(script.encode()).decode()
    done = subprocess.run(
        [sys.executable, "-c", decorators.BOOTSTRAP],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {"rows": 7}


def test_annotations_that_name_the_dag_files_imports_do_not_break_the_pod() -> None:
    """``Any`` is imported by the DAG file, not in the pod: annotations are never evaluated there."""
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes(image="python:3.12")
        def typed(rows: Sequence[Any]) -> dict[str, Any]:
            print("typed", len(rows))
            return {}

        typed([1, 2])
    assert run_like_the_pod(_only_task(dag)).strip() == "typed 2"


def traced(function: Any) -> Any:
    return function


def test_only_task_decorators_are_taken_out_of_the_source() -> None:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes(image="python:3.12")
        @traced
        def kept() -> None:
            pass

        kept()
    source = decorators.function_source(_only_task(dag).python_callable)
    assert source.startswith("@traced\ndef kept() -> None:"), source


def test_a_traceback_in_the_pod_shows_the_functions_lines() -> None:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task.kubernetes(image="python:3.12")
        def fails() -> None:
            raise ValueError("from the pod")

        fails()
    operator = _only_task(dag)
    operator.prepare_pod()
    env = {**os.environ, **{e["name"]: e["value"] for e in operator.env_vars}}
    done = subprocess.run([sys.executable, *operator.cmds[1:]], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and 'raise ValueError("from the pod")' in done.stderr, done.stderr
