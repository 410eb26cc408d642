"""deploy/: the RBAC variants and the Helm values cannot drift apart (Helm itself does not run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_k8s_async.get_provider_info import get_provider_info

DEPLOY = Path(__file__).parents[2] / "deploy"
PACKAGE = "airflow-k8s-async"
ROLES = ("airflow-k8s-async-worker", "airflow-k8s-async-triggerer")


def docs(path: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / path).read_text()) if doc]


def by_name(path: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs(path)}


def values() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text()))


def subjects(path: str) -> dict[str, str]:
    """Role name -> the service account bound to it."""
    found = {}
    for binding in docs(path):
        (subject,) = binding["subjects"]
        assert subject["kind"] == "ServiceAccount"
        found[binding["roleRef"]["name"]] = subject["name"]
    return found


def test_cluster_roles_have_exactly_the_rules_of_the_namespaced_roles() -> None:
    roles, cluster_roles = by_name("rbac/namespaced/roles.yaml"), by_name("rbac/cluster/clusterroles.yaml")
    assert set(roles) == set(cluster_roles) == set(ROLES)
    for name in ROLES:
        assert roles[name]["kind"] == "Role" and cluster_roles[name]["kind"] == "ClusterRole"
        assert roles[name]["rules"] == cluster_roles[name]["rules"], name


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("rbac/namespaced/rolebindings.yaml", "Role"),
        ("rbac/cluster/rolebindings-per-namespace.yaml", "ClusterRole"),
        ("rbac/cluster/clusterrolebindings.yaml", "ClusterRole"),
    ],
)
def test_every_binding_names_a_shipped_role_and_service_account(path: str, kind: str) -> None:
    accounts = {doc["metadata"]["name"] for doc in docs("rbac/serviceaccounts.yaml")}
    for binding in docs(path):
        assert binding["roleRef"]["kind"] == kind and binding["roleRef"]["name"] in ROLES
    assert subjects(path) == subjects("rbac/namespaced/rolebindings.yaml")
    assert set(subjects(path).values()) == accounts


def test_the_worker_role_creates_and_the_triggerer_role_does_not() -> None:
    roles = by_name("rbac/namespaced/roles.yaml")
    verbs = {name: {verb for rule in role["rules"] for verb in rule["verbs"]} for name, role in roles.items()}
    assert "create" in verbs["airflow-k8s-async-worker"]
    triggerer_creates = [
        rule["resources"]
        for rule in roles["airflow-k8s-async-triggerer"]["rules"]
        if "create" in rule["verbs"]
    ]
    assert triggerer_creates == [["pods/exec"]]  # exec only: the triggerer creates no resource


def test_helm_values_create_the_service_accounts_the_rbac_binds() -> None:
    chart = values()
    bound = subjects("rbac/namespaced/rolebindings.yaml")
    assert chart["workers"]["serviceAccount"] == {"create": True, "name": bound["airflow-k8s-async-worker"]}
    assert chart["triggerer"]["serviceAccount"] == {
        "create": True,
        "name": bound["airflow-k8s-async-triggerer"],
    }
    assert chart["triggerer"]["enabled"] is True and chart["triggerer"]["replicas"] >= 2
    assert chart["allowPodLaunching"] is False  # our Roles, not the chart's broader one


def test_helm_values_configure_only_options_the_provider_declares() -> None:
    declared = get_provider_info()["config"]["kubernetes_async"]["options"]
    configured = values()["config"]["kubernetes_async"]
    assert set(configured) <= set(declared), set(configured) - set(declared)
    for option, value in configured.items():
        assert str(value) == declared[option]["default"], f"{option}: values.yaml shows the default"
    assert values()["config"]["triggerer"]["capacity"] >= 1


def _env(path: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in yaml.safe_load((DEPLOY / path).read_text())["env"]}


@pytest.mark.parametrize("path", ["helm/values.yaml", "helm/values-try.yaml"])
def test_the_default_connection_is_in_cluster(path: str) -> None:
    connection = json.loads(_env(path)["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
    assert connection == {"conn_type": "kubernetes", "extra": {"in_cluster": True}}


def test_the_package_is_installed_by_the_try_values_and_the_image() -> None:
    assert _env("helm/values-try.yaml")["_PIP_ADDITIONAL_REQUIREMENTS"].startswith(PACKAGE + "==")
    dockerfile = (DEPLOY / "helm" / "Dockerfile").read_text()
    assert re.search(rf'pip install [^\n]*"{PACKAGE}==', dockerfile)
    assert re.search(r'"apache-airflow==\$\{AIRFLOW_VERSION\}"', dockerfile)  # Airflow stays pinned
