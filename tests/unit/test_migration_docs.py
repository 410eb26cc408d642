"""docs/migration-cncf.md has a row for every keyword, connection extra, setting and decorator of
the provider 10.25 (read from its source), and no row for anything the provider lacks."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from airflow_k8s_async.operators.job import KubernetesDeleteJobOperator, KubernetesPatchJobOperator
from airflow_k8s_async.operators.pod_exec import KubernetesPodExecOperator
from airflow_k8s_async.operators.resource import KubernetesCreateResourceOperator
from tests.unit.test_job_operator import CNCF_SOURCE, accepted, provider_keywords

MIGRATION = Path(__file__).parents[2] / "docs" / "migration-cncf.md"
PROVIDER = CNCF_SOURCE / "airflow/providers/cncf/kubernetes"


@pytest.fixture(autouse=True)
def _provider_source() -> None:
    if not PROVIDER.is_dir():
        pytest.skip(f"the provider's source is not at {CNCF_SOURCE} (set CNCF_PROVIDER_SOURCE)")


def rows(title: str) -> set[str]:
    """The names in the first column of the tables under the ``## title`` heading."""
    part = MIGRATION.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    first = [line.split("|")[1] for line in part.splitlines() if line.startswith("| `")]
    return {name for cell in first for name in re.findall(r"`@?([\w.\[\] ]+)`", cell)}


def provider_info() -> dict[str, object]:
    spec = importlib.util.spec_from_file_location("provider_info", PROVIDER / "get_provider_info.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_provider_info()  # type: ignore[no-any-return]


def test_every_pod_operator_keyword() -> None:
    assert rows("KubernetesPodOperator") == set(provider_keywords("pod.py", "KubernetesPodOperator"))


def test_every_job_operator_keyword() -> None:
    own = set(provider_keywords("job.py", "KubernetesJobOperator"))
    pod = set(provider_keywords("pod.py", "KubernetesPodOperator"))
    found = rows("KubernetesJobOperator")
    assert own <= found <= own | pod  # its own keywords, and the pod keywords whose meaning differs


@pytest.mark.parametrize(
    ("title", "module", "cls", "ours"),
    [
        ("KubernetesPatchJobOperator", "job.py", "KubernetesPatchJobOperator", KubernetesPatchJobOperator),
        ("KubernetesDeleteJobOperator", "job.py", "KubernetesDeleteJobOperator", KubernetesDeleteJobOperator),
        (
            "KubernetesCreateResourceOperator and KubernetesDeleteResourceOperator",
            "resource.py",
            "KubernetesResourceBaseOperator",
            KubernetesCreateResourceOperator,
        ),
        ("KubernetesPodExecOperator", "pod_exec.py", "KubernetesPodExecOperator", KubernetesPodExecOperator),
    ],
)
def test_every_keyword_of_the_other_operators(title: str, module: str, cls: str, ours: type) -> None:
    """Each of the provider's keywords has a row, and ours takes it."""
    theirs = set(provider_keywords(module, cls))
    assert rows(title) == theirs
    assert theirs <= accepted(ours)


def test_every_connection_extra() -> None:
    source = (PROVIDER / "hooks/kubernetes.py").read_text()
    assert rows("Connection extras") == set(re.findall(r'_get_field\("(\w+)"\)', source))


def test_every_setting() -> None:
    config = provider_info()["config"]
    assert isinstance(config, dict)
    declared = {f"[{section}] {option}" for section, body in config.items() for option in body["options"]}
    source = "\n".join(p.read_text() for p in (PROVIDER / "operators").glob("*.py"))
    read = {f"[{s}] {o}" for s, o in re.findall(r'conf\.get\w*\(\s*"(\w+)",\s*"(\w+)"', source)}
    assert rows("Configuration") == declared | read


def test_every_decorator() -> None:
    decorators = provider_info()["task-decorators"]
    assert isinstance(decorators, list)
    names = {d["name"] for d in decorators}
    found = rows("Decorators")
    assert {n for n in found if not n.startswith("task.")} == names
    assert {n.removeprefix("task.") for n in found if n.startswith("task.")} == names
