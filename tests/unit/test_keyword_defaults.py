"""A keyword's default is declared once and shown as the code has it.

The operators' signatures are the users' contract and stay explicit; what they share is declared
in ``PodKeywords`` (pod keywords) and ``JobOptions`` (the provider's Job keywords), and these tests
prove the signatures agree with them. ``docs/migration-cncf.md`` shows both defaults of every
keyword: checked against the provider's source and our signatures.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_async._kube.podspec import PodKeywords
from airflow_k8s_async.operators.job import JobOptions, KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.operators.podkeywords import NO_EFFECT
from tests.unit.test_docs_reference import DOCUMENTED, REFERENCE, section
from tests.unit.test_job_operator import CNCF_SOURCE

MIGRATION = Path(__file__).parents[2] / "docs" / "migration-cncf.md"
# The provider's defaults that are not literals, as the table writes them.
SPELLED = {
    "KubernetesHook.default_conn_name": "'kubernetes_default'",
    "conf.getboolean('operators', 'default_deferrable', fallback=False)": "[operators] default_deferrable",
}


def our_defaults(cls: type) -> dict[str, Any]:
    """Keyword defaults of ``cls`` and of the package's classes it passes ``**kwargs`` to."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("airflow_k8s_async") and "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():  # type: ignore[misc]
                if p.default is not p.empty:
                    found.setdefault(p.name, p.default)
    return found


def provider_defaults(module: str, cls: str) -> dict[str, str]:
    path = CNCF_SOURCE / "airflow/providers/cncf/kubernetes/operators" / module
    klass = next(n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef) and n.name == cls)
    init = next(n for n in klass.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    pairs = zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True)
    return {a.arg: SPELLED.get(ast.unparse(d), ast.unparse(d)) for a, d in pairs if d is not None}


def table_rows(title: str) -> dict[str, tuple[str, str]]:
    """keyword -> (provider default, ours) for the one-keyword rows of the ``## title`` tables."""
    part = MIGRATION.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in part.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        names = re.findall(r"`(\w+)`", cells[0]) if line.startswith("| `") and len(cells) == 5 else []
        if len(names) == 1:
            rows[names[0]] = (cells[1].strip("`"), cells[2].strip("`"))
    return rows


def test_pod_keywords_are_declared_with_the_operators_defaults() -> None:
    ours = our_defaults(KubernetesPodOperator)
    for field in dataclasses.fields(PodKeywords):
        assert field.name in ours, f"PodKeywords.{field.name} is not a keyword of the operator"
        assert ours[field.name] == field.default, field.name


@pytest.mark.parametrize(
    "cls", [KubernetesJobOperator, KubernetesLegacyJobOperator], ids=lambda c: c.__name__
)
def test_job_options_are_declared_with_the_operators_defaults(cls: type) -> None:
    ours = our_defaults(cls)
    for field in dataclasses.fields(JobOptions):
        assert field.name in ours or cls is KubernetesJobOperator, field.name  # (there: from **kwargs)
        if field.name in ours:
            assert ours[field.name] == field.default, field.name


@pytest.mark.parametrize(
    ("title", "module", "theirs", "ours"),
    [
        ("KubernetesPodOperator", "pod.py", "KubernetesPodOperator", KubernetesPodOperator),
        ("KubernetesJobOperator", "job.py", "KubernetesJobOperator", KubernetesLegacyJobOperator),
    ],
)
def test_the_migration_table_shows_both_defaults_as_the_code_has_them(
    title: str, module: str, theirs: str, ours: type
) -> None:
    if not CNCF_SOURCE.is_dir():
        pytest.skip(f"the provider's source is not at {CNCF_SOURCE} (set CNCF_PROVIDER_SOURCE)")
    provider, mine = provider_defaults(module, theirs), our_defaults(ours)
    rows = table_rows(title)
    assert len(rows) > 15
    wrong = {
        name: shown
        for name, shown in rows.items()
        if (name in provider and shown[0] != provider[name])
        or (name in mine and shown[1] != repr(mine[name]))
    }
    assert not wrong, {n: (s, provider.get(n), repr(mine.get(n))) for n, s in wrong.items()}


def test_the_reference_shows_our_defaults() -> None:
    """``docs/reference.md``: a one-keyword row's default is the signature's (``—`` for None);
    rows whose default is a setting or a phrase say so in words and are not compared."""
    text = REFERENCE.read_text()
    wrong = []
    for cls in DOCUMENTED:
        ours = our_defaults(cls)
        for line in section(text, cls.__name__).splitlines():
            cells = [c.strip() for c in line.split("|")[1:-1]]
            names = re.findall(r"`(\w+)`", cells[0]) if line.startswith("| `") and len(cells) == 4 else []
            if len(names) != 1 or names[0] not in ours:
                continue
            value = ours[names[0]]
            want = "—" if value is None else f"`{getattr(value, '__name__', None) or repr(value)}`"
            literal = cells[2] == "—" or re.fullmatch(r"`[^`]*`( \(.*\))?", cells[2])
            if literal and not cells[2].startswith(want):
                wrong.append(f"{cls.__name__}.{names[0]}: shown {cells[2]}, is {want}")
    assert not wrong


def test_the_keywords_with_no_effect_are_declared_once_and_documented() -> None:
    """``NO_EFFECT`` is the list: each is a keyword of the pod operator, and the reference's
    "no effect" table for it shows exactly these."""
    text = section(REFERENCE.read_text(), KubernetesPodOperator.__name__)
    table = text.split("### Accepted for compatibility, no effect", 1)[1].split("\n#", 1)[0]
    shown = {
        m for line in table.splitlines() if line.startswith("| `") for m in re.findall(r"^\| `(\w+)`", line)
    }
    assert shown == set(NO_EFFECT)
    assert set(NO_EFFECT) <= set(inspect.signature(KubernetesPodOperator.__init__).parameters)
