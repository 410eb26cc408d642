"""Every error this package raises, in one tree.

AirflowK8sAsyncError            root: catch this to catch everything of ours
├── ConfigurationError          bad input (arguments, connection extras, kubeconfig): fix and rerun
├── KubeConnectionError         the API server could not be reached or the connection broke
└── KubeApiError                the API server answered with an error status (``.status``)
    ├── KubeUnauthorizedError   401: credentials missing, expired or revoked
    ├── KubeForbiddenError      403: RBAC forbids the verb on the resource
    ├── KubeNotFoundError       404: no such object, namespace, or resource type
    ├── KubeConflictError       409: already exists, or a stale update
    ├── KubeGoneError           410: resourceVersion too old (a watch must list again)
    ├── KubeInvalidError        422: the object was rejected by validation
    ├── KubeTooManyRequestsError  429: throttled (``.retry_after`` seconds, when the server said)
    └── KubeServerError         5xx: the server failed; usually worth a retry
└── ArmadaError                 an Armada gRPC call failed (``.code``: the gRPC status name)

API errors are made from an HTTP status in one place, :func:`api_error`, and raised ``from`` the
transport error where there is one. This module imports nothing from Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AirflowK8sAsyncError",
    "ArmadaError",
    "ConfigurationError",
    "KubeApiError",
    "KubeConflictError",
    "KubeConnectionError",
    "KubeForbiddenError",
    "KubeGoneError",
    "KubeInvalidError",
    "KubeNotFoundError",
    "KubeServerError",
    "KubeTooManyRequestsError",
    "KubeUnauthorizedError",
    "api_error",
    "rbac_need",
]


class AirflowK8sAsyncError(Exception):
    """Root of every error raised by airflow-k8s-async."""


class ConfigurationError(AirflowK8sAsyncError):
    """The input is wrong (arguments, connection extras, kubeconfig); nothing was created."""


class KubeConnectionError(AirflowK8sAsyncError):
    """The Kubernetes API server could not be reached, or the connection broke mid-way."""


class ArmadaError(AirflowK8sAsyncError):
    """An Armada gRPC call failed; ``code`` is the gRPC status name (``UNAVAILABLE``, ...)."""

    def __init__(self, message: str, *, code: str = "", method: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.method = method


class KubeApiError(AirflowK8sAsyncError):
    """The Kubernetes API server answered with an error status."""

    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: int,
        reason: str = "",
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.method = method
        self.path = path
        self.retry_after = retry_after


class KubeUnauthorizedError(KubeApiError):
    """401: the credentials were missing, expired or revoked."""


class KubeForbiddenError(KubeApiError):
    """403: RBAC forbids this verb on this resource."""


class KubeNotFoundError(KubeApiError):
    """404: the object, namespace or resource type does not exist."""


class KubeConflictError(KubeApiError):
    """409: the object already exists, or the update was based on a stale version."""


class KubeGoneError(KubeApiError):
    """410: the resourceVersion is too old; list again, then watch from the new version."""


class KubeInvalidError(KubeApiError):
    """422: the object was rejected by the API server's validation."""


class KubeTooManyRequestsError(KubeApiError):
    """429: the API server throttled the request."""


class KubeServerError(KubeApiError):
    """5xx: the API server failed; retrying later usually helps."""


_BY_STATUS: dict[int, type[KubeApiError]] = {
    401: KubeUnauthorizedError,
    403: KubeForbiddenError,
    404: KubeNotFoundError,
    409: KubeConflictError,
    410: KubeGoneError,
    422: KubeInvalidError,
    429: KubeTooManyRequestsError,
}

_HINTS: dict[int, str] = {
    401: "check the connection's credentials (token, client certificate, exec plugin)",
    403: "grant the missing permission to the service account or user: see deploy/rbac/README.md",
    404: "check the namespace, the name and that the resource type is installed",
    410: "the watch will list again",
    429: "the API server is throttling; requests are retried with backoff",
}


# Subresources opened as a websocket (a GET): RBAC asks "get" up to Kubernetes 1.30, "create" from 1.31.
_STREAMED_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})


def rbac_need(method: str, path: str) -> str:
    """What RBAC must allow for a request, read from its method and API path ('' if not an API path).

    ``rbac_need("POST", "/apis/batch/v1/namespaces/ns/jobs")`` -> ``verb "create" on "jobs" (API group
    "batch") in namespace "ns"``. ``method`` may be ``WATCH`` (a GET with ``watch=true``).
    """
    parts = path.partition("?")[0].strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return ""
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name, sub = [*rest, "", ""][:3]
    if sub in _STREAMED_SUBRESOURCES:
        verbs = '"get" and "create"'
    else:
        named = {"GET": "get", "DELETE": "delete", "PUT": "update", "PATCH": "patch", "POST": "create"}
        collection = {"GET": "list", "DELETE": "deletecollection", "POST": "create", "WATCH": "watch"}
        verb = (named if name else collection).get(method.upper(), method.lower())
        verbs = f'"{verb}"'
    what = f"{resource}/{sub}" if sub else resource
    need = f'verb {verbs} on "{what}" (API group "{group}")'
    return need + (f' in namespace "{namespace}"' if namespace else "")


def api_error(
    *,
    status: int,
    body: Mapping[str, Any] | str | None,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> KubeApiError:
    """Build the error for an HTTP error answer; the message says what failed and what to do."""
    reason = ""
    detail = ""
    if isinstance(body, Mapping):
        reason = str(body.get("reason") or "")
        detail = str(body.get("message") or "")
    elif body:
        detail = body.strip()[:500]
    cls = _BY_STATUS.get(status) or (KubeServerError if status >= 500 else KubeApiError)
    message = f"{method} {path} failed: HTTP {status}"
    if reason:
        message += f" {reason}"
    if detail:
        message += f": {detail}"
    if status == 403 and "cannot " not in detail:
        # The server's message names the verb and resource; a refused websocket upgrade has none.
        need = rbac_need(method, path)
        if need:
            message += f"; RBAC must allow {need}"
    hint = _HINTS.get(status)
    if hint:
        message += f" ({hint})"
    return cls(message, status=status, reason=reason, method=method, path=path, retry_after=retry_after)
