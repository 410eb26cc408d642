"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Airflow calls :func:`get_provider_info` when it discovers providers; it must stay cheap and import
nothing but the package root. The dict follows ``airflow/provider_info.schema.json``; the
connection form uses the declarative ``conn-fields`` / ``ui-field-behaviour`` of Airflow >= 3.2.
Our connection type is ``kubernetes_async``: ``kubernetes`` belongs to the cncf provider, and
registering it twice makes Airflow warn on every start. Connections of type ``kubernetes`` work
with our operators all the same.
"""

from __future__ import annotations

from typing import Any

from airflow_k8s_async import __version__

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
        "config": {
            "kubernetes_async": {
                "description": "Settings of airflow-k8s-async's shared Kubernetes watches (triggerer).",
                "options": {
                    "watch_timeout_seconds": {
                        "description": (
                            "Server-side timeout of one watch request, in seconds. When it ends, "
                            "the watch resumes from the last resourceVersion it saw."
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "600",
                        "default": "300",
                    },
                    "watch_linger_seconds": {
                        "description": (
                            "How long a shared watch stays open after its last trigger stopped "
                            "using it, in seconds, so a trigger that starts soon after reuses it."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "10",
                    },
                    "delete_policy": {
                        "description": (
                            "KubernetesJobOperator: what to delete at the end and on kill: Never, "
                            "Always, IfFailed or IfSucceeded (per task: delete_policy=)."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "Always",
                        "default": "IfSucceeded",
                    },
                    "startup_timeout_seconds": {
                        "description": "KubernetesJobOperator: how long pods may take to start, in seconds.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "300",
                        "default": "120",
                    },
                    "default_execution_kind": {
                        "description": (
                            "KubernetesJobOperator: what an image-only task (no body) runs as, Job or Pod."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "Pod",
                        "default": "Job",
                    },
                    "start_from_trigger": {
                        "description": (
                            "The pod, Job and Armada operators: start tasks in the triggerer (the "
                            "default of the start_from_trigger keyword): what the task runs is created "
                            "and watched there, and the task never runs on a worker; a task that cannot "
                            "start there runs the default way. Needs Airflow 3.3 or newer."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "max_log_bytes": {
                        "description": (
                            "A task's log budget in bytes (the default of the max_log_bytes keyword): "
                            "past it, one line in the task log says so and the containers' logs are "
                            "not shown further; the task goes on. 0: no budget."
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "10485760",
                        "default": "104857600",
                    },
                    "wait_before_defer_seconds": {
                        "description": (
                            "How long an operator waits on the worker after submitting before it "
                            "defers, in seconds (opt-in, it holds the worker slot meanwhile): work "
                            "that ends by then finishes on the worker. 0, the default, defers at "
                            "once; the trigger then ends the task in the triggerer."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "5",
                        "default": "0",
                    },
                },
            }
        },
    }
