"""The Kubernetes identities of the test Airflow: the worker and triggerer service accounts of
deploy/rbac, bound in every namespace with the shipped ClusterRoles, as an install would have them.

Only the additions deploy/rbac/README.md documents for what the e2e DAGs do beyond pod and Job tasks
are granted on top (its sections "Tasks started in the triggerer" and "Bodies with other kinds":
ConfigMaps, a Service and the custom kind ``Sleeper`` in bodies). Airflow's workers (the scheduler's
LocalExecutor) get the worker's token, the triggerer the triggerer's: a permission the code needs and
the manifests lack fails an e2e test.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.support import kube

RBAC = Path(__file__).parents[2] / "deploy" / "rbac"
WORKER, TRIGGERER = "airflow-worker", "airflow-triggerer"
SESSION_SECONDS = 6 * 3600  # the tokens outlast a whole test session
# deploy/rbac/README.md, "Bodies with other kinds": the worker creates and deletes them (and watches
# a first resource of such a kind); the triggerer deletes them (a kill) and watches a first one.
BODY_KINDS = [
    {"apiGroups": [""], "resources": ["configmaps", "services"]},
    {"apiGroups": ["e2e.airflow-k8s-async.io"], "resources": ["sleepers"]},
]
ADDITIONS: dict[str, list[dict[str, Any]]] = {
    WORKER: [{**rule, "verbs": ["create", "get", "list", "watch", "delete"]} for rule in BODY_KINDS],
    TRIGGERER: [
        # "Tasks started in the triggerer": pods, Jobs and the bodies' other kinds are created there.
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
        *({**rule, "verbs": ["create", "get", "list", "watch", "delete"]} for rule in BODY_KINDS),
    ],
}


@dataclass(frozen=True)
class Identities:
    worker: Path  # a kubeconfig with the worker service account's token
    triggerer: Path
    tokens: tuple[str, ...]  # theirs: no task log may show them


def _manifests(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((RBAC / name).read_text()) if doc]


def _kubeconfig(token: str, path: Path) -> Path:
    """The admin's kubeconfig with the account's token as its only user: same cluster and context
    name (an Armada job's log is read in the context named after its cluster)."""
    path.write_text(yaml.safe_dump(kube.with_token(kube.kubeconfig_dict(), token)))
    return path


@contextlib.contextmanager
def shipped_identities(api: client.ApiClient, directory: Path) -> Iterator[Identities]:
    """The service accounts (in a namespace of their own), the shipped ClusterRoles and bindings
    and the documented additions, while in the block; all deleted after."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    namespace = kube.create_namespace(api, "airflow")
    suffix = f"-{namespace.rsplit('-', 1)[1]}"  # cluster-scoped names: one set per session
    roles: list[str] = []
    bindings: list[str] = []
    try:
        for account in _manifests("serviceaccounts.yaml"):
            account["metadata"]["namespace"] = namespace
            core.create_namespaced_service_account(namespace, account)
        role_of: dict[str, list[str]] = {WORKER: [], TRIGGERER: []}
        for role in _manifests("cluster/clusterroles.yaml"):
            role["metadata"]["name"] += suffix
            rbac.create_cluster_role(role)
            roles.append(role["metadata"]["name"])
            account = WORKER if "worker" in role["metadata"]["name"] else TRIGGERER
            role_of[account].append(role["metadata"]["name"])
        for account, rules in ADDITIONS.items():
            name = f"airflow-k8s-async-e2e-{account}{suffix}"
            rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
            roles.append(name)
            role_of[account].append(name)
        for account, names in role_of.items():
            for role_name in names:
                binding = {
                    "metadata": {"name": role_name},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": role_name,
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
                }
                rbac.create_cluster_role_binding(binding)
                bindings.append(role_name)
        tokens = {
            account: kube.service_account_token(core, namespace, account, seconds=SESSION_SECONDS)
            for account in (WORKER, TRIGGERER)
        }
        tag = uuid.uuid4().hex[:6]
        yield Identities(
            worker=_kubeconfig(tokens[WORKER], directory / f"worker-{tag}.kubeconfig"),
            triggerer=_kubeconfig(tokens[TRIGGERER], directory / f"triggerer-{tag}.kubeconfig"),
            tokens=tuple(tokens.values()),
        )
    finally:  # each one, whatever became of the others
        deletions = [
            *(functools.partial(rbac.delete_cluster_role_binding, name) for name in bindings),
            *(functools.partial(rbac.delete_cluster_role, name) for name in roles),
            functools.partial(kube.delete_namespace, api, namespace),
        ]
        for delete in deletions:
            with contextlib.suppress(client.ApiException):
                delete()
