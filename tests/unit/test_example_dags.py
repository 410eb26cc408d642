"""Every file in ``example_dags/`` imports in a DagBag, as the dag-processor would parse it, with
no cluster and no Armada server, and defines DAGs made of this project's operators."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

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
