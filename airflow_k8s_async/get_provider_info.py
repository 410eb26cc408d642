"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Airflow calls :func:`get_provider_info` when it discovers providers; it must stay cheap and import
nothing but the package root and ``settings`` (which imports nothing of Airflow). The dict follows
``airflow/provider_info.schema.json``; its ``config`` comes from ``settings.OPTIONS``; the
connection form uses the declarative ``conn-fields`` / ``ui-field-behaviour`` of Airflow >= 3.2.
Our connection type is ``kubernetes_async``: ``kubernetes`` belongs to the cncf provider, and
registering it twice makes Airflow warn on every start. Connections of type ``kubernetes`` work
with our operators all the same.
"""

from __future__ import annotations

from typing import Any

from airflow_k8s_async import __version__
from airflow_k8s_async.settings import provider_config

__all__ = [
    "get_provider_info",
]

_HOOK_MODULE = "airflow_k8s_async.hooks.kubernetes"
_INTEGRATION = "Kubernetes (airflow-k8s-async)"


def _field(label: str, kind: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}


_CONN_FIELDS: dict[str, Any] = {
    "in_cluster": _field(
        "In cluster configuration", "boolean", "Use the service account of the pod Airflow runs in."
    ),
    "kube_config_path": _field(
        "Kube config path", "string", "Path to a kubeconfig file on the worker and triggerer hosts."
    ),
    "kube_config": _field(
        "Kube config (JSON or YAML)", "string", "The content of a kubeconfig file.", format="password"
    ),
    "namespace": _field(
        "Namespace", "string", "Default namespace for tasks that do not name one (else 'default')."
    ),
    "cluster_context": _field("Cluster context", "string", "The kubeconfig context to use."),
    "disable_verify_ssl": _field(
        "Disable SSL verification", "boolean", "Do not verify the API server's TLS certificate."
    ),
    "disable_tcp_keepalive": _field(
        "Disable TCP keepalive", "boolean", "Accepted for compatibility with the cncf provider; no effect."
    ),
    "xcom_sidecar_container_image": _field(
        "XCom sidecar image", "string", "The XCom sidecar's image (e.g. a mirror's); a task's keyword wins."
    ),
    "xcom_sidecar_container_resources": _field(
        "XCom sidecar resources (JSON)",
        "string",
        'The XCom sidecar\'s resources, e.g. {"requests": {"cpu": "10m"}}.',
    ),
    "xcom_sidecar_container_security_context": _field(
        "XCom sidecar security context (JSON)", "string", "The XCom sidecar's securityContext, as JSON."
    ),
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's ProvidersManager reads."""
    return {
        "package-name": "airflow-k8s-async",
        "name": "Kubernetes async (airflow-k8s-async)",
        "description": (
            "Deferrable-first operators for Kubernetes and Armada: submit, then wait on shared "
            "watches in the triggerer."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://kubernetes.io/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [_HOOK_MODULE]}],
        "task-decorators": [
            {"name": "kubernetes_async", "class-name": "airflow_k8s_async.decorators.kubernetes_task"},
            {
                "name": "kubernetes_async_cmd",
                "class-name": "airflow_k8s_async.decorators.kubernetes_cmd_task",
            },
        ],
        "extra-links": [
            "airflow_k8s_async.armada.links.LookoutLink",
            "airflow_k8s_async.armada.links.DynamicLink",
        ],
        "connection-types": [
            {
                "connection-type": "kubernetes_async",
                "hook-class-name": f"{_HOOK_MODULE}.KubernetesAsyncHook",
                "hook-name": "Kubernetes (airflow-k8s-async)",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port", "extra"],
                    "relabeling": {},
                    "placeholders": {},
                },
            }
        ],
        "config": provider_config(),
    }
