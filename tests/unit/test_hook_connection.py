"""Connections -> KubeTarget: extras shapes, precedence, and real Airflow connection lookup.

The lookup tests go through Airflow's own resolution: outside a task (no supervisor) the Task SDK
reads connections from ``AIRFLOW_CONN_<ID>`` environment variables and any secrets backend
configured in airflow.cfg (``ensure_secrets_backend_loaded``'s fallback chain), with no database.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.hooks.kubernetes import (
    DEFAULT_CONN_ID,
    EXTRA_NAMES,
    KubernetesAsyncHook,
    KubeTarget,
    aget_kube_target,
    get_kube_target,
    target_from_extras,
)
from tests.unit.test_job_operator import CNCF_SOURCE

SECRET = "s3cr3t-token-do-not-log"
KUBECONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "contexts": [{"name": "ctx1", "context": {"cluster": "c1", "user": "u1"}}],
    "current-context": "ctx1",
    "users": [{"name": "u1", "user": {"token": SECRET}}],
}
FROM_DICT = ClusterConfig.from_kubeconfig_dict(KUBECONFIG)


def prefixed(extras: dict[str, Any], prefix: str = "extra__kubernetes__") -> dict[str, Any]:
    return {prefix + key: value for key, value in extras.items()}


# --- target_from_extras: shapes ---------------------------------------------------------------


def test_empty_extras_give_the_default_config() -> None:
    assert target_from_extras({}) == KubeTarget(cluster=ClusterConfig(), namespace=None)


@pytest.mark.parametrize("shape", ["bare", "prefixed", "async-prefixed"])
def test_every_extra_is_read_bare_and_prefixed(shape: str) -> None:
    extras = {
        "kube_config_path": "/etc/kube/config",
        "namespace": "team-a",
        "cluster_context": "prod",
        "disable_verify_ssl": True,
        "disable_tcp_keepalive": True,
    }
    if shape == "prefixed":
        extras = prefixed(extras)
    elif shape == "async-prefixed":
        extras = prefixed(extras, "extra__kubernetes_async__")
    target = target_from_extras(extras)
    assert target.namespace == "team-a"
    assert target.cluster == ClusterConfig(config_file="/etc/kube/config", context="prod", verify_ssl=False)


def test_bare_extra_wins_over_prefixed_and_empty_bare_falls_back() -> None:
    both = {"namespace": "bare", "extra__kubernetes__namespace": "old"}
    assert target_from_extras(both).namespace == "bare"
    empty_bare = {"namespace": "", "extra__kubernetes__namespace": "old"}
    assert target_from_extras(empty_bare).namespace == "old"


def test_unknown_extras_are_ignored() -> None:
    extras = {"something_else": [1, 2], "extra__kubernetes__other": "x"}
    assert target_from_extras(extras) == KubeTarget(cluster=ClusterConfig(), namespace=None)


@pytest.mark.parametrize("prefix", ["", "extra__kubernetes__", "extra__kubernetes_async__"])
def test_the_xcom_sidecar_extras_are_pod_defaults(prefix: str) -> None:
    """As the provider reads them: the image a string, resources and security context JSON."""
    extras = {
        prefix + "xcom_sidecar_container_image": "mirror.example.com/alpine:3",
        prefix + "xcom_sidecar_container_resources": '{"requests": {"cpu": "10m"}}',
        prefix + "xcom_sidecar_container_security_context": {"runAsNonRoot": True},
    }
    assert target_from_extras(extras).pod_defaults == {
        "xcom_sidecar_image": "mirror.example.com/alpine:3",
        "xcom_sidecar_resources": {"requests": {"cpu": "10m"}},
        "xcom_sidecar_container_security_context": {"runAsNonRoot": True},
    }


@pytest.mark.parametrize("value", ["{not json", "[1, 2]", 5])
def test_a_sidecar_extra_that_is_not_a_json_object_is_ignored_with_a_warning(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Only tasks with an XCom sidecar read it (as in the provider): the others must not fail."""
    target = target_from_extras({"xcom_sidecar_container_resources": value}, conn_id="k")
    assert target.pod_defaults == {}
    assert "extra 'xcom_sidecar_container_resources' is not a JSON object; ignored" in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        (" TRUE ", True),
        ("1", True),
        (1, True),
        (False, False),
        ("false", False),
        ("False", False),
        ("0", False),
        ("", False),
        (None, False),
    ],
)
def test_boolean_extras_accept_strings(value: Any, expected: bool) -> None:
    assert target_from_extras({"in_cluster": value}).cluster.in_cluster is expected
    assert target_from_extras(prefixed({"disable_verify_ssl": value})).cluster.verify_ssl is not expected


def test_string_false_is_false_unlike_the_cncf_provider() -> None:
    # The provider tests ``if in_cluster:`` on the raw extra, so "false" would mean in-cluster;
    # with "false" here a kube_config_path next to it is no conflict.
    extras = {"in_cluster": "false", "kube_config_path": "/k"}
    assert target_from_extras(extras).cluster == ClusterConfig(config_file="/k")


def test_a_boolean_that_is_not_one_is_an_error_naming_the_extra() -> None:
    with pytest.raises(ConfigurationError, match=r"connection 'k8s'.*'in_cluster'.*true or false"):
        target_from_extras({"in_cluster": "maybe"}, conn_id="k8s")


def test_a_string_extra_that_is_not_a_string_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="'namespace' must be a string"):
        target_from_extras({"namespace": ["a"]})


def test_disable_tcp_keepalive_has_no_effect() -> None:
    assert target_from_extras({"disable_tcp_keepalive": "true"}) == target_from_extras({})


# --- kube_config content ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(KUBECONFIG, id="dict"),
        pytest.param(json.dumps(KUBECONFIG), id="json"),
        pytest.param(json.dumps(KUBECONFIG, indent=2), id="json-indented"),
        pytest.param(yaml.safe_dump(KUBECONFIG), id="yaml"),
    ],
)
@pytest.mark.parametrize("key", ["kube_config", "extra__kubernetes__kube_config"])
def test_kube_config_as_dict_json_or_yaml(content: Any, key: str) -> None:
    target = target_from_extras({key: content, "cluster_context": "ctx1", "namespace": "ns"})
    assert target.cluster.kubeconfig_dict() == KUBECONFIG
    assert target.cluster == ClusterConfig.from_kubeconfig_dict(KUBECONFIG, context="ctx1")
    assert target.namespace == "ns"
    assert SECRET not in repr(target)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(f"users: [{{token: {SECRET}", "neither JSON nor YAML", id="broken-yaml"),
        pytest.param(f"users:\n  - token: {SECRET}\n\tbad: tab", "neither JSON nor YAML", id="tab"),
        pytest.param("/home/me/.kube/config", "use kube_config_path", id="a-path"),
        pytest.param(f"[{json.dumps(SECRET)}]", "not a JSON / YAML mapping", id="a-list"),
        pytest.param(json.dumps({"users": [{"token": SECRET}]}), "no 'clusters'", id="no-clusters"),
        pytest.param({"users": [{"token": SECRET}]}, "no 'clusters'", id="dict-no-clusters"),
        pytest.param(42, "is a int", id="a-number"),
    ],
)
def test_bad_kube_config_names_connection_and_extra_but_never_its_content(content: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        target_from_extras({"kube_config": content}, conn_id="prod_k8s")
    message = str(info.value)
    assert "connection 'prod_k8s'" in message
    assert "'kube_config'" in message
    assert problem in message
    assert SECRET not in message
    # Nothing chained either: a traceback would print the parser's error, which quotes the line.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


# --- precedence and conflicts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "extras",
    [
        {"in_cluster": True, "kube_config_path": "/k"},
        {"in_cluster": "true", "extra__kubernetes__kube_config_path": "/k"},
        {"in_cluster": True, "kube_config": KUBECONFIG},
        {"kube_config_path": "/k", "kube_config": json.dumps(KUBECONFIG)},
    ],
)
def test_two_config_sources_in_one_connection_conflict(extras: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=r"connection 'k8s' sets the extras .* mutually exclusive"):
        target_from_extras(extras, conn_id="k8s")


def test_explicit_config_file_overrides_every_connection_source() -> None:
    for extras in (
        {"in_cluster": True},
        {"kube_config_path": "/from/conn"},
        {"kube_config": "this is not parsed at all"},
        {"in_cluster": True, "kube_config_path": "/conflict/ignored"},
    ):
        target = target_from_extras({**extras, "namespace": "ns"}, config_file="/explicit")
        assert target.cluster == ClusterConfig(config_file="/explicit")
        assert target.namespace == "ns"


def test_explicit_in_cluster_overrides_connection_kubeconfig() -> None:
    for extras in ({"kube_config_path": "/from/conn"}, {"kube_config": KUBECONFIG}):
        assert target_from_extras(extras, in_cluster=True).cluster == ClusterConfig(in_cluster=True)


def test_explicit_in_cluster_false_overrides_connection_in_cluster() -> None:
    assert target_from_extras({"in_cluster": True}, in_cluster=False).cluster == ClusterConfig()
    # ... and leaves the connection's kubeconfig in force, so this is no conflict.
    extras = {"in_cluster": True, "kube_config_path": "/k"}
    assert target_from_extras(extras, in_cluster=False).cluster == ClusterConfig(config_file="/k")


def test_explicit_in_cluster_and_config_file_together_are_an_error() -> None:
    with pytest.raises(ConfigurationError, match="in_cluster=True cannot be combined"):
        target_from_extras({}, in_cluster=True, config_file="/k")


def test_explicit_cluster_context_overrides_the_extra() -> None:
    extras = {"cluster_context": "from-conn", "kube_config_path": "/k"}
    assert target_from_extras(extras).cluster.context == "from-conn"
    assert target_from_extras(extras, cluster_context="explicit").cluster.context == "explicit"
    assert target_from_extras({"cluster_context": "c"}).cluster == ClusterConfig(context="c")


def test_disable_verify_ssl_applies_to_every_source() -> None:
    off = {"disable_verify_ssl": "true"}
    assert target_from_extras(off).cluster.verify_ssl is False
    assert target_from_extras(off, in_cluster=True).cluster == ClusterConfig(
        in_cluster=True, verify_ssl=False
    )
    assert target_from_extras(off, config_file="/k").cluster.verify_ssl is False
    assert target_from_extras({**off, "kube_config": KUBECONFIG}).cluster.verify_ssl is False


def test_kubeconfig_env_is_only_the_default_the_connection_path_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/from/env")
    target = target_from_extras({"kube_config_path": "/from/connection"})
    assert target.cluster == ClusterConfig(config_file="/from/connection")
    # No error, unlike the cncf provider's "mutually exclusive" check.


# --- real Airflow connection resolution ---------------------------------------------------------


@pytest.fixture
def conn_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Define an Airflow connection the way deployments do: ``AIRFLOW_CONN_<ID>`` in JSON."""
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)

    def define(conn_id: str, extra: dict[str, Any] | str, conn_type: str = "kubernetes") -> None:
        value = {"conn_type": conn_type, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))

    return define


async def both(**kwargs: Any) -> KubeTarget:
    """Resolve through the sync and the async path; they must agree."""
    sync = get_kube_target(**kwargs)
    assert await aget_kube_target(**kwargs) == sync
    return sync


async def test_existing_kubernetes_default_connection_works_unchanged(conn_env: Any) -> None:
    conn_env(
        DEFAULT_CONN_ID,
        {"extra__kubernetes__kube_config_path": "/opt/kube/config", "extra__kubernetes__namespace": "data"},
    )
    target = await both()
    assert target == KubeTarget(cluster=ClusterConfig(config_file="/opt/kube/config"), namespace="data")


async def test_connection_with_kube_config_content(conn_env: Any) -> None:
    conn_env("k8s_content", {"kube_config": json.dumps(KUBECONFIG), "cluster_context": "ctx1"})
    target = await both(conn_id="k8s_content")
    assert target.cluster == ClusterConfig.from_kubeconfig_dict(KUBECONFIG, context="ctx1")


async def test_connection_of_our_type_and_string_booleans(conn_env: Any) -> None:
    conn_env("k8s_async", {"in_cluster": "true", "namespace": "jobs"}, conn_type="kubernetes_async")
    target = await both(conn_id="k8s_async")
    assert target == KubeTarget(cluster=ClusterConfig(in_cluster=True), namespace="jobs")


async def test_connection_as_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    # URI query parameters always arrive as strings.
    monkeypatch.setenv("AIRFLOW_CONN_K8S_URI", "kubernetes://?in_cluster=false&namespace=uri-ns")
    target = await both(conn_id="k8s_uri")
    assert target == KubeTarget(cluster=ClusterConfig(), namespace="uri-ns")


async def test_explicit_keywords_override_a_real_connection(conn_env: Any) -> None:
    conn_env("k8s_path", {"kube_config_path": "/conn/path", "cluster_context": "conn-ctx"})
    target = await both(conn_id="k8s_path", config_file="/explicit", cluster_context="explicit-ctx")
    assert target.cluster == ClusterConfig(config_file="/explicit", context="explicit-ctx")
    assert (await both(conn_id="k8s_path", in_cluster=True)).cluster == ClusterConfig(in_cluster=True)


async def test_kubeconfig_env_and_connection_path_the_connection_wins(
    conn_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_env("k8s_path", {"kube_config_path": "/conn/path"})
    monkeypatch.setenv("KUBECONFIG", "/env/path")
    assert (await both(conn_id="k8s_path")).cluster == ClusterConfig(config_file="/conn/path")


async def test_missing_default_connection_behaves_as_empty(conn_env: Any) -> None:
    assert await both() == KubeTarget(cluster=ClusterConfig(), namespace=None)
    assert await both(config_file="/k") == KubeTarget(cluster=ClusterConfig(config_file="/k"), namespace=None)


async def test_missing_other_connection_is_an_error_saying_how_to_create_it(conn_env: Any) -> None:
    with pytest.raises(ConfigurationError) as sync_info:
        get_kube_target(conn_id="no_such_k8s")
    with pytest.raises(ConfigurationError) as async_info:
        await aget_kube_target(conn_id="no_such_k8s")
    for info in (sync_info, async_info):
        message = str(info.value)
        assert "connection 'no_such_k8s' is not defined" in message
        assert "AIRFLOW_CONN_NO_SUCH_K8S" in message
        assert "airflow connections add no_such_k8s" in message


async def test_conn_id_none_reads_no_connection(conn_env: Any) -> None:
    conn_env(DEFAULT_CONN_ID, {"in_cluster": True, "namespace": "ignored"})
    assert await both(conn_id=None) == KubeTarget(cluster=ClusterConfig(), namespace=None)
    assert (await both(conn_id=None, cluster_context="c")).cluster == ClusterConfig(context="c")


async def test_conflicting_connection_and_bad_kube_config_name_the_connection(conn_env: Any) -> None:
    conn_env("k8s_both", {"in_cluster": True, "kube_config_path": "/k"})
    with pytest.raises(ConfigurationError, match="connection 'k8s_both' sets the extras in_cluster and"):
        await aget_kube_target(conn_id="k8s_both")
    conn_env("k8s_bad", {"kube_config": f"users: [{{token: {SECRET}"})
    with pytest.raises(ConfigurationError, match="connection 'k8s_bad': extra 'kube_config' is neither"):
        get_kube_target(conn_id="k8s_bad")


async def test_unparsable_extra_json_is_an_error_not_an_empty_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Airflow logs and returns {} for bad extra JSON; a silent default cluster would be worse.
    monkeypatch.setenv(
        "AIRFLOW_CONN_K8S_BROKEN", json.dumps({"conn_type": "kubernetes", "extra": "{not json"})
    )
    with pytest.raises(ConfigurationError, match="'k8s_broken': its extra is not valid JSON"):
        await aget_kube_target(conn_id="k8s_broken")
    with pytest.raises(ConfigurationError, match="'k8s_broken': its extra is not valid JSON"):
        get_kube_target(conn_id="k8s_broken")


# --- the hook class ------------------------------------------------------------------------------


async def test_hook_delegates_to_the_functions(conn_env: Any) -> None:
    conn_env("k8s_hook", {"kube_config_path": "/k", "namespace": "hook-ns"}, conn_type="kubernetes_async")
    hook = KubernetesAsyncHook(kubernetes_conn_id="k8s_hook", cluster_context="c")
    expected = KubeTarget(cluster=ClusterConfig(config_file="/k", context="c"), namespace="hook-ns")
    assert hook.get_conn() == expected
    assert await hook.aget_conn() == expected
    assert KubernetesAsyncHook().kubernetes_conn_id == DEFAULT_CONN_ID


def test_every_extra_the_provider_reads_is_read() -> None:
    """The names the provider 10.25's hook reads (``_get_field("...")`` in its source) are ours."""
    if not CNCF_SOURCE.is_dir():
        pytest.skip(f"the provider's source is not at {CNCF_SOURCE} (set CNCF_PROVIDER_SOURCE)")
    source = (CNCF_SOURCE / "airflow/providers/cncf/kubernetes/hooks/kubernetes.py").read_text()
    provider = set(re.findall(r'_get_field\("(\w+)"\)', source))
    assert len(provider) >= 10 and set(EXTRA_NAMES) == provider
