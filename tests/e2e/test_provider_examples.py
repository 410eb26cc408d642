"""The cncf provider's own example DAGs as our compatibility suite.

The examples come from the provider 10.25's sdist (``tests/system/cncf/kubernetes/example_*.py``,
fetched by scripts/test.sh into ``$CNCF_PROVIDER_EXAMPLES``, never committed). Each is ported as a
user ports a DAG: its imports changed to ours, and its images to ones this cluster has (nothing can
be pulled); the provider's test scaffolding (``tests_common``) and one placeholder of its own are
taken out. Those that can run here run on a real Airflow and the real cluster, and every task must
end as written below; those that cannot say why (``NOT_HERE``), and a new example fails the test
until it is listed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv, kubernetes_connection
from tests.support.images import bash_image, python_image
from tests.support.kube import IMAGE

EXAMPLES = Path(os.environ.get("CNCF_PROVIDER_EXAMPLES", "/tmp/anchors/cncf-examples"))

# Example file -> each task's end.
RUN: dict[str, dict[str, str]] = {
    "example_kubernetes_decorator.py": {"execute_in_k8s_pod": "success", "print_pattern": "success"},
    "example_kubernetes_cmd_decorator.py": dict.fromkeys(
        (
            "foo",
            "bar",
            "execute_in_k8s_pod_full_cmd",
            "execute_in_k8s_pod_args_only",
            "apply_templating",
        ),
        "success",
    ),
}
# Example file -> why it cannot run here.
NOT_HERE = {
    "example_kubernetes.py": (
        "its tasks need what only the provider's system-test cluster has (Secrets airflow-secrets and "
        "airflow-secrets-2, ConfigMaps test-configmap-1/2, a PersistentVolumeClaim test-volume, a "
        "PriorityClass medium) or in_cluster=True (Airflow running in a pod)"
    ),
    "example_kubernetes_async.py": (
        "the same prerequisites as example_kubernetes.py, and its log task's namespace "
        "'kubernetes_task_async_log' is not a valid namespace name"
    ),
    "example_kubernetes_job.py": (
        "it uses KubernetesPatchJobOperator and KubernetesDeleteJobOperator, which this package does "
        "not provide (docs/migration-cncf.md), and perl:5.34.0"
    ),
    "example_kubernetes_resource.py": (
        "KubernetesCreateResourceOperator / KubernetesDeleteResourceOperator are not provided here "
        "(a body in KubernetesJobOperator creates resources), and StorageClass 'standard' is absent"
    ),
    "example_kubernetes_pod_exec.py": (
        "KubernetesPodExecOperator and the resource operators are not provided here, and it reads "
        "pods through the provider's KubernetesHook"
    ),
    "example_kubernetes_kueue.py": "needs Kueue (its CRDs and controller), not installed here",
    "example_spark_kubernetes.py": "needs the Spark operator (its CRD and controller), not installed here",
}

_IMPORTS = {
    "airflow.providers.cncf.kubernetes.operators.pod": "airflow_k8s_async.operators.pod",
    "airflow.providers.cncf.kubernetes.secret": "airflow_k8s_async.secret",
}


def _image(name: str) -> str:
    if name.startswith("python"):
        return python_image()
    if name.startswith("bash"):
        return bash_image()
    return IMAGE


def ported(source: str) -> str:
    """The example as a user ports it: our imports (``task`` from our decorators), local images;
    the provider's test scaffolding and the placeholder ``config_file`` out."""
    for theirs, ours in _IMPORTS.items():
        source = source.replace(f"from {theirs} import", f"from {ours} import")
    # ``task`` keeps Airflow's meaning but for .kubernetes / .kubernetes_cmd: the documented alias.
    source = re.sub(
        r"^(\s*)from airflow\.(sdk|decorators) import (.*\btask\b.*)$",
        r"\1from airflow.\2 import \3\n\1from airflow_k8s_async.decorators import task",
        source,
        flags=re.M,
    )
    source = re.sub(r'image="([^"]+)"', lambda m: f'image="{_image(m[1])}"', source)
    source = source.replace('config_file="/path/to/.kube/config",', "")  # a placeholder of the example's
    source = re.sub(
        r"^\s*from tests_common\..*$|^\s*list\(dag\.tasks\) >> watcher\(\)$", "", source, flags=re.M
    )
    return re.sub(r"^test_run = get_test_run\(dag\)$", "", source, flags=re.M)


def _dag_id(source: str) -> str:
    found = re.search(r'dag_id="([^"]+)"', source)
    assert found, "the example names its dag_id"
    return found[1]


@pytest.fixture(scope="module")
def provider_examples(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AirflowEnv, dict[str, str]]]:
    """A real Airflow whose DAG folder holds the runnable examples, ported; their dag ids by file."""
    assert EXAMPLES.is_dir(), f"the provider's examples are not at {EXAMPLES} (scripts/test.sh fetches them)"
    folder = tmp_path_factory.mktemp("provider_examples")
    dag_ids = {}
    for name in RUN:
        source = ported((EXAMPLES / name).read_text())
        (folder / name).write_text(source)
        dag_ids[name] = _dag_id(source)
    env = AirflowEnv(
        home=tmp_path_factory.mktemp("provider_examples_home"),
        dags_folder=folder,
        overrides=kubernetes_connection(),
    )
    env.start()
    try:
        yield env, dag_ids
    finally:
        env.stop()


def test_every_example_runs_or_says_why_it_cannot() -> None:
    assert EXAMPLES.is_dir(), f"the provider's examples are not at {EXAMPLES} (scripts/test.sh fetches them)"
    found = {path.name for path in EXAMPLES.glob("example_*.py")}
    assert found == set(RUN) | set(NOT_HERE), "list a new example in RUN or NOT_HERE"
    assert not set(RUN) & set(NOT_HERE)


@pytest.mark.parametrize("name", sorted(RUN))
def test_a_ported_example_runs(
    name: str, provider_examples: tuple[AirflowEnv, dict[str, str]], core: client.CoreV1Api
) -> None:
    env, dag_ids = provider_examples
    dag_id = dag_ids[name]
    env.wait_for_dag(dag_id, timeout=120)
    run_id = env.trigger(dag_id)
    env.wait_for_run(dag_id, run_id, timeout=300)
    ends = {task_id: env.task_state(dag_id, run_id, task_id) for task_id in RUN[name]}
    assert ends == RUN[name], {
        t: env.task_log(dag_id, run_id, t)[-2000:] for t, s in ends.items() if s != RUN[name][t]
    }
