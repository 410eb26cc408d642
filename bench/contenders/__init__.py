"""The contenders: which interpreter runs them and which module builds their triggers.

A contender module has ``KINDS`` (the workloads it can wait on), ``make_triggers(kind=,
namespace=, objects=, conn_id=)`` returning ``{name: trigger}`` built as its operator builds them,
and ``outcome(payload)`` mapping a TriggerEvent payload to ``"success"``, ``"failed"`` or what
else it said; optionally ``async close()`` for the end of the loop. Another one (e.g.
Armada's, with its own workload) is one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Contender:
    name: str
    python: Path
    module: str
    kinds: tuple[str, ...]
    label: str


CONTENDERS = {
    "ours": Contender(
        name="ours",
        python=ROOT / ".venv" / "bin" / "python",
        module="bench.contenders.ours",
        kinds=("pod", "job"),
        label="airflow-k8s-async",
    ),
    "cncf": Contender(
        name="cncf",
        python=ROOT / "bench" / ".venv-cncf" / "bin" / "python",
        module="bench.contenders.cncf",
        kinds=("pod", "job"),
        label="cncf.kubernetes 10.25.0",
    ),
}
