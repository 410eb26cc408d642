"""The seeded schedule every contender sees: when each object starts, ends, and how.

Pure: the same seed and sizes give the same schedule in every process (the bench kubelet
plays it; the orchestrator checks outcomes against it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds after the go signal: Pending until ``start``, Running until ``end``."""

    start_min: float = 1.0
    start_max: float = 10.0
    run_min: float = 30.0
    run_max: float = 300.0
    failure_rate: float = 0.10

    def __post_init__(self) -> None:
        if not 0 <= self.start_min <= self.start_max:
            raise ValueError("need 0 <= start_min <= start_max")
        if not 0 < self.run_min <= self.run_max:
            raise ValueError("need 0 < run_min <= run_max")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError("failure_rate is a fraction between 0 and 1")


@dataclass(frozen=True)
class Step:
    name: str
    start: float
    end: float
    fails: bool

    @property
    def expected(self) -> str:
        return "failed" if self.fails else "success"


def object_name(index: int) -> str:
    return f"bench-{index:05d}"


def make_schedule(*, count: int, timing: Timing, seed: int) -> list[Step]:
    rng = random.Random(seed)
    steps = []
    for index in range(count):
        start = rng.uniform(timing.start_min, timing.start_max)
        run = rng.uniform(timing.run_min, timing.run_max)
        steps.append(
            Step(
                name=object_name(index),
                start=start,
                end=start + run,
                fails=rng.random() < timing.failure_rate,
            )
        )
    return steps
