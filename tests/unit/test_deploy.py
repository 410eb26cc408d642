"""deploy/: the RBAC variants and the Helm values cannot drift apart (Helm itself does not run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_k8s_async import __version__
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


# Exactly what each identity may do, as deploy/rbac/README.md traces it to the code: (API group,
# resource) -> verbs. A rule beyond these (another resource, verb, "*", Secrets) fails the tests.
INTENDED = {
    "airflow-k8s-async-worker": {
        ("", "pods"): {"create", "get", "list", "watch", "patch", "delete"},
        ("", "pods/log"): {"get"},
        ("", "pods/exec"): {"get", "create"},
        ("", "events"): {"list"},
        ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
    },
    "airflow-k8s-async-triggerer": {
        ("", "pods"): {"get", "list", "watch", "patch", "delete", "deletecollection"},
        ("", "pods/log"): {"get"},
        ("", "pods/exec"): {"get", "create"},
        ("", "events"): {"list"},
        ("batch", "jobs"): {"get", "list", "watch", "delete"},
    },
}


def granted(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> verbs, over all rules; a rule that grants beyond that shape fails."""
    found: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no resourceNames, nonResourceURLs
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


@pytest.mark.parametrize("path", ["rbac/namespaced/roles.yaml", "rbac/cluster/clusterroles.yaml"])
def test_each_role_grants_exactly_what_is_intended(path: str) -> None:
    roles = by_name(path)
    assert set(roles) == set(INTENDED)
    for name, role in roles.items():
        assert granted(role) == INTENDED[name], name


def test_the_rbac_readme_table_lists_exactly_the_granted_permissions() -> None:
    """deploy/rbac/README.md's table (resource, verbs, worker, triggerer) says what the Roles grant."""
    readme = (DEPLOY / "rbac" / "README.md").read_text()
    table: dict[str, dict[tuple[str, str], set[str]]] = {name: {} for name in ROLES}
    groups: dict[str, str] = {}
    row_pattern = r"^\| `([\w/]+)`(?: \(([^)]*)\))? \| ([\w, ]+) \|\s*(✓?)\s*\|\s*(✓?)\s*\|"
    for row in re.findall(row_pattern, readme, flags=re.MULTILINE):
        resource, group, verbs, worker, triggerer = row
        if group:  # the group is given at a resource's first row
            groups[resource] = group.strip('"')
        key = (groups.get(resource, ""), resource)
        for role, ticked in zip(ROLES, (worker, triggerer), strict=True):
            if ticked:
                table[role].setdefault(key, set()).update(v.strip() for v in verbs.split(","))
    roles = by_name("rbac/namespaced/roles.yaml")
    assert table == {name: granted(roles[name]) for name in ROLES}


def test_triggers_fetch_no_secrets_configmaps_or_namespaces() -> None:
    """The README's claim: credentials come from the connection, never from the API."""
    for path in ("rbac/namespaced/roles.yaml", "rbac/cluster/clusterroles.yaml"):
        for name, role in by_name(path).items():
            resources = {resource for _, resource in granted(role)}
            assert not resources & {"secrets", "configmaps", "namespaces", "*"}, (path, name)


def test_the_minimality_check_sees_a_broader_role() -> None:
    """Guards the tests: one more verb, resource or a wildcard is not what is intended."""
    role = by_name("rbac/namespaced/roles.yaml")["airflow-k8s-async-triggerer"]
    intended = INTENDED["airflow-k8s-async-triggerer"]
    for extra in (
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    ):
        assert granted({"rules": [*role["rules"], extra]}) != intended, extra


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
    worker = bound["airflow-k8s-async-worker"]
    # The deprecated key (charts before 1.21) and the two that replace it name the same account.
    assert chart["workers"]["serviceAccount"] == {"create": True, "name": worker}
    assert chart["workers"]["celery"]["serviceAccount"] == {"create": True, "name": worker}
    assert chart["workers"]["kubernetes"]["serviceAccount"]["name"] == worker
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


def test_the_pinned_package_version_is_this_version() -> None:
    dockerfile = (DEPLOY / "helm" / "Dockerfile").read_text()
    pins = re.findall(rf"{PACKAGE}==([^\s\"']+)", dockerfile)
    pins.append(_env("helm/values-try.yaml")["_PIP_ADDITIONAL_REQUIREMENTS"].split("==", 1)[1])
    assert pins and set(pins) == {__version__}, pins
    # The image values.yaml runs is the Dockerfile's, tagged <Airflow version>-<package version>.
    airflow = re.search(r"ARG AIRFLOW_VERSION=(\S+)", dockerfile)
    tag = values()["images"]["airflow"]["tag"]
    assert airflow and tag == f"{airflow.group(1)}-{__version__}"
    assert f"{values()['images']['airflow']['repository']}:{tag}" in dockerfile  # its build command


def test_the_package_is_installed_by_the_try_values_and_the_image() -> None:
    assert _env("helm/values-try.yaml")["_PIP_ADDITIONAL_REQUIREMENTS"].startswith(PACKAGE + "==")
    dockerfile = (DEPLOY / "helm" / "Dockerfile").read_text()
    assert re.search(rf'pip install [^\n]*"{PACKAGE}==', dockerfile)
    assert re.search(r'"apache-airflow==\$\{AIRFLOW_VERSION\}"', dockerfile)  # Airflow stays pinned
