"""``_kube`` and ``_armada`` never import Airflow: checked in a fresh interpreter, every module."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import pytest

PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    package = importlib.import_module(sys.argv[1])
    names = [package.__name__] + [
        info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]
    for name in names:
        importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
    print(json.dumps({"modules": names, "airflow": leaked}))
    """
)


def probe(package: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, package], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


PLUMBING = [name for name in ("airflow_k8s_async._kube", "airflow_k8s_async._armada") if find_spec(name)]


def test_kube_plumbing_is_found() -> None:
    assert "airflow_k8s_async._kube" in PLUMBING
    assert "airflow_k8s_async._kube.cluster" in probe("airflow_k8s_async._kube")["modules"]


def test_armada_plumbing_is_found() -> None:
    assert "airflow_k8s_async._armada" in PLUMBING
    assert "airflow_k8s_async._armada.hub" in probe("airflow_k8s_async._armada")["modules"]


@pytest.mark.parametrize("package", PLUMBING)
def test_plumbing_never_imports_airflow(package: str) -> None:
    result = probe(package)
    assert result["airflow"] == [], f"importing {result['modules']} pulled in {result['airflow'][:5]}"


def test_the_probe_sees_airflow_when_it_is_imported() -> None:
    result = probe("airflow_k8s_async.hooks")
    assert "airflow_k8s_async.hooks.kubernetes" in result["modules"]
    assert "airflow" in result["airflow"]
