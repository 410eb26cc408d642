"""The contenders: which interpreter runs them and which module builds their triggers.

A contender module has ``KINDS`` (the workloads it can wait on), ``make_triggers(kind=,
namespace=, objects=, conn_id=)`` returning ``{name: trigger}`` built as its operator builds them,
and ``outcome(payload)`` mapping a TriggerEvent payload to ``"success"``, ``"failed"`` or what
else it said; optionally ``async close()`` for the end of the loop. The Armada comparison's
contenders (``ARMADA_CONTENDERS``, its own workload and harness) are listed here too.

``*-triggerer`` entries run the same module's triggers through a real ``airflow triggerer``
process of that virtualenv instead of the isolated loop (``bench/triggerer.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Contender:
    name: str
    python: Path
    module: str
    kinds: tuple[str, ...]
    label: str
    family: str  # whose triggers: "ours" or the anchor's name; ratios are taken within a mode
    triggerer: bool = False  # through a real `airflow triggerer` process, not the isolated loop


def _contender(name: str, *, venv: str, module: str, kinds: tuple[str, ...], label: str) -> Contender:
    return Contender(
        name=name, python=ROOT / venv / "bin" / "python", module=module, kinds=kinds, label=label, family=name
    )


KUBE = ("pod", "job")
CONTENDERS = {
    "ours": _contender(
        "ours", venv=".venv", module="bench.contenders.ours", kinds=KUBE, label="airflow-k8s-async"
    ),
    "cncf": _contender(
        "cncf",
        venv="bench/.venv-cncf",
        module="bench.contenders.cncf",
        kinds=KUBE,
        label="cncf.kubernetes 10.25.0",
    ),
}
# the same triggers through a real `airflow triggerer` of the same virtualenv
CONTENDERS.update(
    {
        f"{name}-triggerer": replace(
            CONTENDERS[name],
            name=f"{name}-triggerer",
            label=f"{CONTENDERS[name].label}, triggerer",
            triggerer=True,
        )
        for name in ("ours", "cncf")
    }
)
# the Armada comparison's (bench/armada_run.py): its own workload, no triggerer mode
ARMADA_CONTENDERS = {
    "ours": _contender(
        "ours",
        venv=".venv",
        module="bench.contenders.armada_ours",
        kinds=("armada",),
        label="airflow-k8s-async",
    ),
    "armada": _contender(
        "armada",
        venv="bench/.venv-armada",
        module="bench.contenders.armada_anchor",
        kinds=("armada",),
        label="armada-airflow 1.1.3",
    ),
}
