"""Backoff as a plain sequence of delays: retries are loops over it, never decorators."""

from __future__ import annotations

import random
from collections.abc import Iterator

# Fast first retries (a blip), then up to half a minute between attempts for a longer outage.
DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)


def backoff_delays(
    *, delays: tuple[float, ...] = DELAYS, attempts: int | None = None, jitter: float = 0.2
) -> Iterator[float]:
    """Yield the delay before each retry; the last delay repeats until ``attempts`` are used.

    Jitter spreads reconnects of many triggerer processes after a shared API server outage.
    """
    count = 0
    while attempts is None or count < attempts:
        base = delays[min(count, len(delays) - 1)]
        yield base * (1.0 + random.uniform(-jitter, jitter))
        count += 1
