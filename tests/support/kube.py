"""Test-side access to the real cluster: the sync `kubernetes` client (independent of the code
under test), API server metrics, namespaces, and pods a test moves through phases itself."""

from __future__ import annotations

import base64
import os
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config

from tests.support.waiting import eventually as eventually  # (callers import it from here too)

T = TypeVar("T")

# The image test pods run. busybox:local exists only on the local cluster (shared/k8s-local) and is
# never pulled; elsewhere (kind) scripts/lib.sh exports E2E_IMAGE, a public tag pulled once.
IMAGE = os.environ.get("E2E_IMAGE", "busybox:local")
PULL_POLICY = "Never" if IMAGE.endswith(":local") else "IfNotPresent"

# Pods with this scheduler name are never scheduled, so no kubelet touches them and the test
# can move them through phases itself via the status subresource (as the kubelet would).
NO_SCHEDULER = "airflow-k8s-async-test-none"


def kubeconfig_path() -> Path:
    return Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])


def api_client() -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig_path()))


def kubeconfig_dict() -> dict[str, Any]:
    return dict(yaml.safe_load(kubeconfig_path().read_text()))


def with_token(config: dict[str, Any], token: str) -> dict[str, Any]:
    """``config`` (a kubeconfig) with ``token`` as every user's only credential, in place."""
    for entry in config["users"]:
        entry["user"] = {"token": token}
    return config


def metrics_text(api: client.ApiClient) -> str:
    cfg = api.configuration
    keys = cfg.api_key or {}
    token = keys.get("BearerToken") or keys.get("authorization")
    headers = {"Authorization": token} if token else {}
    request = urllib.request.Request(cfg.host + "/metrics", headers=headers)
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return str(answer.read().decode())


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if line.startswith(name + "{") and all(w in line for w in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def owned(api: client.ApiClient, namespace: str, selector: str) -> dict[str, list[str]]:
    """The names of the pods, Jobs, ConfigMaps and Services that ``selector`` matches in
    ``namespace``, by kind; what is being deleted does not count."""
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    found = {
        "pods": core.list_namespaced_pod(namespace, label_selector=selector).items,
        "jobs": batch.list_namespaced_job(namespace, label_selector=selector).items,
        "configmaps": core.list_namespaced_config_map(namespace, label_selector=selector).items,
        "services": core.list_namespaced_service(namespace, label_selector=selector).items,
    }
    return {
        kind: [o.metadata.name for o in objects if o.metadata.deletion_timestamp is None]
        for kind, objects in found.items()
    }


def create_namespace(api: client.ApiClient, prefix: str) -> str:
    core = client.CoreV1Api(api)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})

    # Before 1.24 pods are refused until the token controller gave the account its secret; from
    # 1.24 on (kind) no such secret is made, and pods get a projected token instead.
    version = client.VersionApi(api).get_code()
    needs_secret = (int(version.major), int("".join(c for c in version.minor if c.isdigit()))) < (1, 24)

    def token_ready() -> bool:
        sa = core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        return bool(sa and (sa[0].secrets or not needs_secret))

    eventually(token_ready, timeout=60)
    return name


def delete_namespace(api: client.ApiClient, name: str) -> None:
    client.CoreV1Api(api).delete_namespace(name, grace_period_seconds=0)


def unscheduled_pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "schedulerName": NO_SCHEDULER,
            "containers": [{"name": "base", "image": IMAGE, "imagePullPolicy": PULL_POLICY}],
        },
    }


def running_pod(name: str, script: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "base",
                    "image": IMAGE,
                    "imagePullPolicy": PULL_POLICY,
                    "command": ["sh", "-c", script],
                }
            ],
        },
    }


def set_phase(core: client.CoreV1Api, namespace: str, name: str, phase: str, exit_code: int = 0) -> None:
    """Act as the kubelet: move an unscheduled pod to ``phase`` through the status subresource."""
    state: dict[str, Any] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    if phase in ("Succeeded", "Failed"):
        state = {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}}
    status = {
        "phase": phase,
        "containerStatuses": [
            {
                "name": "base",
                "image": IMAGE,
                "imageID": "",
                "ready": phase == "Running",
                "restartCount": 0,
                "state": state,
            }
        ],
    }
    core.patch_namespaced_pod_status(name, namespace, {"status": status})


def service_account_token(
    core: client.CoreV1Api, namespace: str, account: str, *, seconds: int | None = None
) -> str:
    """A token of the service account: from the TokenRequest API (``serviceaccounts/<name>/token``),
    the only way from Kubernetes 1.24 on (no token Secrets any more); else from the token Secret
    the token controller makes, for an API server without a service-account issuer configured."""
    spec: dict[str, Any] = {"audiences": []}
    if seconds is not None:  # else the API server's default (an hour)
        spec["expirationSeconds"] = seconds
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    try:
        # No audiences: the API server's own, so the token authenticates against it.
        answer = core.create_namespaced_service_account_token(account, namespace, request)
        return str(answer.status.token)
    except client.ApiException as error:
        if error.status not in (404, 405):  # 404/405: the server does not serve the subresource
            raise

    def token_secret() -> str | None:
        secrets = core.read_namespaced_service_account(account, namespace).secrets or []
        return secrets[0].name if secrets else None

    secret = core.read_namespaced_secret(eventually(token_secret, timeout=60), namespace)
    return base64.b64decode(secret.data["token"]).decode()
