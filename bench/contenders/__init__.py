"""The contenders: which interpreter runs them and which module builds their triggers.

A contender module has ``KINDS`` (the workloads it can wait on), ``make_triggers(kind=,
namespace=, objects=, conn_id=)`` returning ``{name: trigger}`` built as its operator builds them,
and ``outcome(payload)`` mapping a TriggerEvent payload to ``"success"``, ``"failed"`` or what
else it said; optionally ``async close()`` for the end of the loop. Another one (e.g.
Armada's, with its own workload) is one more entry here.

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


CONTENDERS = {
    "ours": Contender(
        name="ours",
        python=ROOT / ".venv" / "bin" / "python",
        module="bench.contenders.ours",
        kinds=("pod", "job"),
        label="airflow-k8s-async",
        family="ours",
    ),
    "cncf": Contender(
        name="cncf",
        python=ROOT / "bench" / ".venv-cncf" / "bin" / "python",
        module="bench.contenders.cncf",
        kinds=("pod", "job"),
        label="cncf.kubernetes 10.25.0",
        family="cncf",
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
