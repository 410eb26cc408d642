"""A 403 names what RBAC must allow, also when the server's answer cannot say (a refused websocket)."""

from __future__ import annotations

import pytest

from airflow_k8s_async.errors import KubeForbiddenError, api_error, rbac_need


@pytest.mark.parametrize(
    ("method", "path", "need"),
    [
        ("POST", "/api/v1/namespaces/ns/pods", 'verb "create" on "pods" (API group "") in namespace "ns"'),
        ("GET", "/api/v1/namespaces/ns/pods", 'verb "list" on "pods" (API group "") in namespace "ns"'),
        ("WATCH", "/api/v1/namespaces/ns/pods", 'verb "watch" on "pods" (API group "") in namespace "ns"'),
        ("GET", "/api/v1/namespaces/ns/pods/p", 'verb "get" on "pods" (API group "") in namespace "ns"'),
        ("PATCH", "/api/v1/namespaces/ns/pods/p", 'verb "patch" on "pods" (API group "") in namespace "ns"'),
        (
            "DELETE",
            "/api/v1/namespaces/ns/pods?labelSelector=a%3Db",
            'verb "deletecollection" on "pods" (API group "") in namespace "ns"',
        ),
        (
            "GET",
            "/api/v1/namespaces/ns/pods/p/log",
            'verb "get" on "pods/log" (API group "") in namespace "ns"',
        ),
        (
            "GET",
            "/api/v1/namespaces/ns/pods/p/exec",
            'verb "get" and "create" on "pods/exec" (API group "") in namespace "ns"',
        ),
        (
            "DELETE",
            "/apis/batch/v1/namespaces/ns/jobs/j",
            'verb "delete" on "jobs" (API group "batch") in namespace "ns"',
        ),
        ("GET", "/apis/example.com/v1/widgets", 'verb "list" on "widgets" (API group "example.com")'),
        ("GET", "/version", ""),
    ],
)
def test_rbac_need_reads_verb_resource_and_namespace_from_the_request(
    method: str, path: str, need: str
) -> None:
    assert rbac_need(method, path) == need


def test_a_refused_exec_websocket_names_the_subresource_and_verbs() -> None:
    error = api_error(
        status=403, body="Invalid response status", method="GET", path="/api/v1/namespaces/ns/pods/p/exec"
    )
    assert isinstance(error, KubeForbiddenError)
    assert 'RBAC must allow verb "get" and "create" on "pods/exec"' in str(error)
    assert "deploy/rbac/README.md" in str(error)


def test_the_servers_own_forbidden_message_is_not_repeated() -> None:
    body = {"reason": "Forbidden", "message": 'pods is forbidden: User "u" cannot watch resource "pods"'}
    error = api_error(status=403, body=body, method="GET", path="/api/v1/namespaces/ns/pods")
    assert 'cannot watch resource "pods"' in str(error) and "RBAC must allow" not in str(error)
