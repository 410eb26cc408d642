"""docs/reference.md names every constructor keyword of every operator and trigger.

A class's keywords are its ``__init__`` parameters, those of its own package's base classes when it
passes ``**kwargs`` on to them, and keywords it takes out of ``**kwargs`` itself (listed below). Each
must appear as `` `keyword` `` in the class's section (from its ``## Name`` / ``### Name`` heading to
the next heading of that level or higher); a section saying "every keyword of `Other`" covers
Other's. A new class is one line in ``DOCUMENTED``.

And the reverse: every keyword the section documents is one the class accepts. Documented keywords
are the first cells of its ``| keyword | ...`` tables and its prose lists of three or more
`` `names` ``; a stale or misspelt entry fails.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from airflow_k8s_async.operators import jobkeywords
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.job import (
    KubernetesDeleteJobOperator,
    KubernetesJobOperator,
    KubernetesLegacyJobOperator,
    KubernetesPatchJobOperator,
)
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.operators.pod_exec import KubernetesPodExecOperator
from airflow_k8s_async.operators.resource import (
    KubernetesCreateResourceOperator,
    KubernetesDeleteResourceOperator,
)
from airflow_k8s_async.triggers.armada import ArmadaJobTrigger
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger
from airflow_k8s_async.triggers.resource import KubernetesResourceTrigger

REFERENCE = Path(__file__).parents[2] / "docs" / "reference.md"

# class -> keywords it accepts through **kwargs by name (not in any signature)
DOCUMENTED: dict[type, Iterable[str]] = {
    KubernetesPodOperator: (),
    KubernetesJobOperator: jobkeywords.POD_ONLY_KEYWORDS | jobkeywords.pod_waiting_keywords(),
    KubernetesLegacyJobOperator: (),
    KubernetesPatchJobOperator: (),
    KubernetesDeleteJobOperator: (),
    KubernetesCreateResourceOperator: (),
    KubernetesDeleteResourceOperator: (),
    KubernetesPodExecOperator: (),
    KubernetesPodTrigger: (),
    KubernetesJobTrigger: (),
    KubernetesResourceTrigger: (),
    ArmadaOperator: (),
    ArmadaJobTrigger: (),
}


def keywords(cls: type) -> set[str]:
    """``cls``'s keywords, following ``**kwargs`` into this package's base classes."""
    found: set[str] = set(DOCUMENTED.get(cls, ()))
    for klass in cls.__mro__:
        if not klass.__module__.startswith("airflow_k8s_async") or "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()  # type: ignore[misc]
        # ArmadaOperator's parameters may also be given by position (armada-airflow's order)
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        found |= {p.name for p in params if p.kind in named and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return found


def section(text: str, name: str) -> str:
    match = re.search(rf"^(#+) {re.escape(name)}\s*$", text, flags=re.MULTILINE)
    assert match, f"docs/reference.md has no heading '{name}'"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", flags=re.MULTILINE).search(text, match.end())
    return text[match.end() : end.start() if end else len(text)]


def documented(text: str, cls: type) -> set[str]:
    part = section(text, cls.__name__)
    names = set(re.findall(r"`(\w+)`", part))
    for other in re.findall(r"every keyword of `(\w+)`", part):
        names |= documented(text, next(c for c in DOCUMENTED if c.__name__ == other))
    return names


# Three or more `names` in a row, joined by ", ", " and " or ", and, <word>, ": a list of keywords
# (a pair like "`cmds` and `env_vars`" is prose, and may name other things).
_SEPARATOR = r"(?:,\s*(?:and,?\s+(?:[\w-]+,\s+)?)?|\s+and\s+)"
PROSE_LIST = re.compile(rf"`\w+`(?:{_SEPARATOR}`\w+`){{2,}}")


def documented_as_keywords(part: str) -> set[str]:
    """Names a section presents as keywords: first cells of keyword tables, and prose lists."""
    names: set[str] = set()
    in_keyword_table = False
    prose = []
    for line in part.splitlines():
        if not line.startswith("|"):
            in_keyword_table = False
            prose.append(line)
            continue
        first = line.split("|")[1].strip()
        if first == "keyword":
            in_keyword_table = True
        elif in_keyword_table and not set(first) <= set("-: "):
            names |= set(re.findall(r"`(\w+)`", first))
    for listing in PROSE_LIST.finditer("\n".join(prose)):
        names |= set(re.findall(r"`(\w+)`", listing.group(0)))
    return names


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_every_keyword_is_in_the_reference(cls: type) -> None:
    missing = keywords(cls) - documented(REFERENCE.read_text(), cls)
    assert not missing, f"docs/reference.md, section {cls.__name__}, lacks {sorted(missing)}"


def test_the_keyword_discovery_sees_kwargs_keywords_and_base_classes() -> None:
    """Guards the test itself: keywords reached only through **kwargs are found."""
    assert {"cmds", "secrets", "volumes"} <= keywords(KubernetesJobOperator)
    assert {"image", "on_finish_action", "backoff_limit"} <= keywords(KubernetesLegacyJobOperator)
    assert "kwargs" not in keywords(KubernetesPodOperator)


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_every_documented_keyword_is_accepted(cls: type) -> None:
    stale = documented_as_keywords(section(REFERENCE.read_text(), cls.__name__)) - keywords(cls)
    assert not stale, f"docs/reference.md, section {cls.__name__}, documents {sorted(stale)}, not accepted"


def test_the_reverse_check_reads_tables_and_prose_lists() -> None:
    """Guards the test itself: table keywords and listed keywords are read, values and prose are not."""
    part = """
| keyword | type | default | meaning |
|---|---|---|---|
| `alpha` | `str` | `'x'` | one of `Foreground` or `Orphan` |
| `beta`, `gamma` | | `True` | as for `Other` |

Accepted: `delta`, `epsilon`, `zeta` and `eta`; and, keyword-only, `theta`, `iota`, `kappa`.
Sets the pods' `terminationGracePeriodSeconds`.
"""
    found = documented_as_keywords(part)
    assert found == {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"}
