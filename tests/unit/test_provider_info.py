"""The provider entry point, checked against Airflow's schemas and its real ProvidersManager.

Needs the package installed (``pip install -e . --no-deps``) so the ``apache_airflow_provider``
entry point exists.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_k8s_async import __version__
from airflow_k8s_async.get_provider_info import get_provider_info
from airflow_k8s_async.hooks.kubernetes import CONN_TYPE, EXTRA_NAMES, KubernetesAsyncHook
from airflow_k8s_async.triggers.logbudget import DEFAULT_MAX_LOG_BYTES

PACKAGE = "airflow-k8s-async"
HOOK_PATH = "airflow_k8s_async.hooks.kubernetes.KubernetesAsyncHook"
AIRFLOW_DIR = Path(airflow.__file__).parent


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((AIRFLOW_DIR / name).read_text())
    return loaded


def test_validates_against_airflows_runtime_schema() -> None:
    jsonschema.validate(get_provider_info(), schema("provider_info.schema.json"))


def test_connection_form_validates_against_the_provider_yaml_schema() -> None:
    # The runtime schema does not look inside conn-fields / ui-field-behaviour; provider.yaml's does.
    items = schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], items)


def test_the_schema_check_can_fail() -> None:
    broken = get_provider_info()
    broken["config"]["kubernetes_async"]["options"]["watch_timeout_seconds"]["type"] = "duration"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema("provider_info.schema.json"))


def test_contents() -> None:
    info = get_provider_info()
    assert info["package-name"] == PACKAGE
    assert info["versions"] == [__version__]
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == CONN_TYPE == KubernetesAsyncHook.conn_type == "kubernetes_async"
    assert conn_type["hook-class-name"] == HOOK_PATH
    assert conn_type["hook-name"] == KubernetesAsyncHook.hook_name
    assert set(conn_type["conn-fields"]) == set(EXTRA_NAMES)
    assert "airflow_k8s_async.hooks.kubernetes" in info["hooks"][0]["python-modules"]
    options = info["config"]["kubernetes_async"]["options"]
    assert int(options["watch_timeout_seconds"]["default"]) == 300
    assert float(options["watch_linger_seconds"]["default"]) == 10
    assert int(options["max_log_bytes"]["default"]) == DEFAULT_MAX_LOG_BYTES
    for option in options.values():
        assert option["version_added"] == "0.1.0"
        assert option["description"]
        assert option["example"] is not None


def test_entry_point_is_installed() -> None:
    points = metadata.entry_points(group="apache_airflow_provider")
    ours = [point for point in points if point.dist is not None and point.dist.name == PACKAGE]
    assert ours, "run `pip install -e . --no-deps` so the provider entry point exists"
    assert ours[0].load() is get_provider_info


def test_providers_manager_registers_provider_and_hook() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert PACKAGE in manager.providers
    assert manager.providers[PACKAGE].version == __version__

    hook = ProvidersManagerTaskRuntime().hooks[CONN_TYPE]
    assert hook is not None
    assert hook.hook_class_name == HOOK_PATH
    assert hook.package_name == PACKAGE
    assert hook.connection_id_attribute_name == "kubernetes_conn_id"
    # We must not claim the cncf provider's type (a duplicate registration warns on every start).
    cncf = ProvidersManagerTaskRuntime().hooks.get("kubernetes")
    assert cncf is None or cncf.package_name != PACKAGE


def test_connection_resolves_our_hook_class() -> None:
    from airflow.sdk import Connection

    hook = Connection(conn_id="k8s_form", conn_type=CONN_TYPE).get_hook()
    assert type(hook) is KubernetesAsyncHook
    assert hook.kubernetes_conn_id == "k8s_form"


def test_connection_form_is_registered_from_provider_info() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    for name in EXTRA_NAMES:
        widget = widgets[f"extra__{CONN_TYPE}__{name}"]
        assert widget.package_name == PACKAGE
    assert widgets[f"extra__{CONN_TYPE}__kube_config"].is_sensitive
    assert "extra" in manager.field_behaviours[CONN_TYPE]["hidden_fields"]


def test_config_section_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.configuration import conf as sdk_conf

    assert dict(ProvidersManager().provider_configs)[PACKAGE] == get_provider_info()["config"]
    assert conf.getint("kubernetes_async", "watch_timeout_seconds") == 300
    assert conf.getfloat("kubernetes_async", "watch_linger_seconds") == 10.0
    assert sdk_conf.getint("kubernetes_async", "watch_timeout_seconds") == 300
    monkeypatch.setenv("AIRFLOW__KUBERNETES_ASYNC__WATCH_LINGER_SECONDS", "2.5")
    assert conf.getfloat("kubernetes_async", "watch_linger_seconds") == 2.5
    assert sdk_conf.getfloat("kubernetes_async", "watch_linger_seconds") == 2.5
