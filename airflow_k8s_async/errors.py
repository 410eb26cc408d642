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

API errors are made from an HTTP status in one place, :func:`api_error`, and raised ``from`` the
transport error where there is one. This module imports nothing from Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AirflowK8sAsyncError(Exception):
    """Root of every error raised by airflow-k8s-async."""


class ConfigurationError(AirflowK8sAsyncError):
    """The input is wrong (arguments, connection extras, kubeconfig); nothing was created."""


class KubeConnectionError(AirflowK8sAsyncError):
    """The Kubernetes API server could not be reached, or the connection broke mid-way."""


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
    403: "grant the missing permission to the service account or user (see docs/rbac)",
    404: "check the namespace, the name and that the resource type is installed",
    410: "the watch will list again",
    429: "the API server is throttling; requests are retried with backoff",
}


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
    hint = _HINTS.get(status)
    if hint:
        message += f" ({hint})"
    return cls(message, status=status, reason=reason, method=method, path=path, retry_after=retry_after)
