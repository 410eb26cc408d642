"""Every file in ``example_dags/`` imports in a DagBag, as the dag-processor would parse it, with
no cluster and no Armada server, and defines DAGs made of this project's operators; the image and
namespace the quickstart says they read from the environment are the ones their tasks use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.job import KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
FILES = sorted(EXAMPLES.glob("*.py"))


def test_the_examples_folder_has_the_documented_dags() -> None:
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    wanted = {
        "k8s_async_demo",
        "example_pod",
        "example_yaml_job",
        "example_parallel_job",
        "example_custom_kind",
    }
    assert wanted <= set(bag.dag_ids)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_each_example_imports_and_uses_our_operators(path: Path) -> None:
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}, bag.import_errors
    assert bag.dags, f"{path.name} defines no DAG"
    for dag in bag.dags.values():
        modules = {type(task).__module__ for task in dag.tasks}
        assert any(module.startswith("airflow_k8s_async.") for module in modules), (dag.dag_id, modules)
        assert "example" in dag.tags or "demo" in dag.tags


def containers_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every container (and init container) anywhere in a resource body."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("containers", "initContainers") and isinstance(item, list):
                yield from item
            else:
                yield from containers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from containers_in(item)


def created_by(task: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The containers a task of ours would run, and the namespace it would run them in."""
    if isinstance(task, ArmadaOperator):
        request = dict(task.job_request)  # type: ignore[arg-type]
        return list(containers_in(request["pod_spec"])), request["namespace"]
    if hasattr(task, "partial_kwargs"):  # a mapped task: what every mapped instance gets
        kwargs = task.partial_kwargs
        container = {"image": kwargs["image"], "imagePullPolicy": kwargs["image_pull_policy"]}
        return [container], kwargs["namespace"]
    if isinstance(task, (KubernetesJobOperator, KubernetesLegacyJobOperator)):
        if isinstance(task.body, str) and "{{" in task.body:  # rendered as a run would render it
            task.body = task.render_template(task.body, {"params": task.dag.params.dump(), "dag": task.dag})
        return list(containers_in(task.build_resources())), task.namespace
    if isinstance(task, KubernetesPodOperator):
        return list(containers_in(task.build_pod_request_obj())), task.namespace
    return [], None  # not ours (e.g. a @task helper)


def test_the_examples_take_image_and_namespace_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Random values, so no default or hard-coded name can match by chance.
    image, namespace = f"registry.example.com/tools:{uuid.uuid4().hex[:8]}", f"ns-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("K8S_ASYNC_EXAMPLE_IMAGE", image)
    monkeypatch.setenv("K8S_ASYNC_EXAMPLE_NAMESPACE", namespace)
    monkeypatch.delenv("ARMADA_IMAGE", raising=False)
    bag = DagBag(dag_folder=str(EXAMPLES))  # imports every file afresh, reading the variables now
    assert bag.import_errors == {}
    with_containers, with_namespace = set(), set()
    for dag in bag.dags.values():
        for task in dag.tasks:
            containers, task_namespace = created_by(task)
            for container in containers:
                assert container["image"] == image, (dag.dag_id, task.task_id, container)
                # a pullable image must be pulled where it is missing (busybox:local is "Never")
                assert container.get("imagePullPolicy") in (None, "IfNotPresent"), (dag.dag_id, container)
                with_containers.add(dag.dag_id)
            if task_namespace is not None:
                assert task_namespace == namespace, (dag.dag_id, task.task_id, task_namespace)
                with_namespace.add(dag.dag_id)
    assert with_namespace == set(bag.dag_ids)
    # example_custom_kind's one resource is a custom object, with no containers.
    assert with_containers == set(bag.dag_ids) - {"example_custom_kind"}
