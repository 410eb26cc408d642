"""Each option is declared once (``airflow_k8s_async.settings``), read when asked, never at import."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_k8s_async import settings
from airflow_k8s_async.armada.model import GrpcChannelArgs
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.get_provider_info import get_provider_info
from airflow_k8s_async.operators.armada import ArmadaOperator

PACKAGE = Path(settings.__file__).parent
REFERENCE = PACKAGE.parent / "docs" / "reference.md"


@pytest.mark.parametrize("option", settings.OPTIONS, ids=lambda o: o.name)
def test_a_default_reads_back_as_itself(option: settings.Option) -> None:  # type: ignore[type-arg]
    assert settings._parse(option, settings._text(option.default)) == option.default
    assert isinstance(option.default, option.kind)


def test_a_value_is_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.setting(settings.DELETE_POLICY) == "IfSucceeded"
    monkeypatch.setenv("AIRFLOW__KUBERNETES_ASYNC__DELETE_POLICY", "Always")
    monkeypatch.setenv("AIRFLOW__ARMADA_OPERATOR__DEFAULT_POLL_INTERVAL_S", "7")
    assert settings.setting(settings.DELETE_POLICY) == "Always"
    assert settings.setting(settings.ARMADA_POLL_INTERVAL) == 7


@pytest.mark.parametrize(
    ("option", "value"),
    [
        (settings.WATCH_TIMEOUT_SECONDS, "five"),
        (settings.MAX_LOG_BYTES, "-1"),
        (settings.START_FROM_TRIGGER, "perhaps"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_a_value_not_of_its_type_is_said_and_the_default_used(
    option: settings.Option,  # type: ignore[type-arg]
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(f"AIRFLOW__{option.section.upper()}__{option.name.upper()}", value)
    assert settings.setting(option) == option.default
    assert f"[{option.section}] {option.name}={value!r} is not" in caplog.text


@pytest.mark.parametrize(
    "option", [settings.DELETE_POLICY, settings.DEFAULT_EXECUTION_KIND], ids=lambda o: o.name
)
def test_a_word_not_among_the_choices_fails_naming_them(
    option: settings.Option,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A typo in delete_policy must not fall back to deleting what was meant to be kept."""
    monkeypatch.setenv(f"AIRFLOW__{option.section.upper()}__{option.name.upper()}", "never")
    with pytest.raises(
        ConfigurationError, match=rf"\[{option.section}\] {option.name} = 'never': use one of"
    ):
        settings.setting(option)


def test_the_provider_declares_every_option_of_ours() -> None:
    declared = get_provider_info()["config"][settings.SECTION]["options"]
    ours = {o.name: o for o in settings.OPTIONS if o.section == settings.SECTION}
    assert set(declared) == set(ours)
    for name, option in ours.items():
        assert declared[name]["default"] == settings._text(option.default)


def test_the_reference_lists_every_option_with_its_default() -> None:
    part = REFERENCE.read_text().split("## Configuration: `[kubernetes_async]`", 1)[1]
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)`", part, flags=re.M))
    ours = {o.name: settings._text(o.default) for o in settings.OPTIONS if o.section == settings.SECTION}
    assert rows == ours


def test_no_module_reads_our_sections_but_settings() -> None:
    """``conf.get*("kubernetes_async" | "armada_operator", ...)`` anywhere else is a second default."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("get")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "conf"
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    allowed = {"operators/shared.py"}  # [core] xcom_backend: Airflow's, not ours
    assert {place.split(":")[0] for place in found} <= allowed, found


def test_armada_defaults_are_read_when_the_task_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__ARMADA_OPERATOR__DEFAULT_DRY_RUN", "True")
    operator = ArmadaOperator(
        name="n", channel_args=GrpcChannelArgs(target="x:1"), armada_queue="q", job_request={}, task_id="t"
    )
    assert operator.dry_run is True
    assert operator.poll_interval == 30


def test_importing_the_package_reads_no_configuration() -> None:
    """Every module imported with ``conf`` watched: none of our sections is read."""
    script = """
import importlib, pkgutil, sys
from airflow.configuration import AirflowConfigParser
read = []
for name in ("get", "getint", "getfloat", "getboolean"):
    original = getattr(AirflowConfigParser, name)
    def spy(self, section, key, *a, _original=original, **k):
        read.append((section, key))
        return _original(self, section, key, *a, **k)
    setattr(AirflowConfigParser, name, spy)
import airflow_k8s_async
for module in pkgutil.walk_packages(airflow_k8s_async.__path__, "airflow_k8s_async."):
    importlib.import_module(module.name)
print(sorted({s for s, _ in read if s in ("kubernetes_async", "armada_operator")}))
"""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
