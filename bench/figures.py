"""From one run's raw files to its figures (pure; stdlib only)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.schedule import Step


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def process(contender: dict[str, Any], *, connections: str) -> dict[str, Any]:
    """CPU, RSS, loop lag and connections (named ``connections``) of a contender process, from
    its ``contender.json``; the steady window is ``ready`` to ``end``."""
    ready, end = contender["ready"], contender["end"]
    steady_wall = max(1e-9, end - ready)
    lags = [lag for t, lag in contender["lags"] if ready <= t <= end]
    conns = [c for t, _, c in contender["samples"] if ready <= t <= end]
    rss = contender["rss"]
    peak = max(rss["peak_sampled"], contender["peak_rss_process"])
    return {
        "cpu": {
            "startup_s": contender["cpu"]["startup"],
            "steady_s": contender["cpu"]["steady"],
            "steady_core_fraction": contender["cpu"]["steady"] / steady_wall,
        },
        "rss_mb": {
            "baseline": rss["baseline"] / 2**20,
            "peak": peak / 2**20,
            "above_baseline": (peak - rss["baseline"]) / 2**20,
        },
        "loop_lag_s": {"p99": percentile(lags, 99), "max": max(lags) if lags else None},
        connections: {
            "max": max(conns) if conns else 0,
            "median": percentile([float(c) for c in conns], 50),
        },
        "steady_wall_s": steady_wall,
    }


def _minus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    keys = set(a) | set(b)
    return {k: a.get(k, 0) - b.get(k, 0) for k in sorted(keys) if a.get(k, 0) - b.get(k, 0)}


def compute(
    *,
    steps: list[Step],
    contender: dict[str, Any],
    patches: list[dict[str, Any]],
    kubelet: dict[str, Any],
    server: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """``server``: API server totals at ``before`` (contender start), ``ready`` and ``after``."""
    events = contender["events"]
    sent = {p["name"]: p["sent"] for p in patches}
    ready = contender["ready"]
    wrong = [s.name for s in steps if (events.get(s.name) or {}).get("outcome") != s.expected]
    missing = [s.name for s in steps if s.name not in events]
    latencies = [events[n]["time"] - sent[n] for n in sent if n in events]
    early = [n for n in sent if n in events and events[n]["time"] < sent[n]]
    # deferred pod-minutes: from the trigger's start (all start together) / the go signal to its event
    total_minutes = sum(max(0.0, e["time"] - contender["started"]) for e in events.values()) / 60
    steady_minutes = sum(max(0.0, e["time"] - ready) for e in events.values()) / 60
    # None: the process's own requests were not counted (triggerer mode: only /metrics sees them)
    counted = contender["requests"] is not None
    client_steady = Counter(contender["requests"]["steady"] if counted else {})
    client_startup = Counter(contender["requests"]["startup"] if counted else {})
    kubelet_server = kubelet.get("play", {})  # keyed as the server's counts: "PATCH pods/status"
    server_startup = _minus(server["ready"], server["before"])
    server_steady = _minus(_minus(server["after"], server["ready"]), kubelet_server)
    return {
        "objects": len(steps),
        "correct": len(steps) - len(wrong),
        "wrong": wrong[:20],
        "missing": len(missing),
        "timed_out": contender["timed_out"],
        "fired_before_patch": len(early),
        "latency": spread(latencies),
        "pod_minutes": {"total": total_minutes, "steady": steady_minutes},
        "requests": {
            "client_startup": dict(client_startup) if counted else None,
            "client_steady": dict(client_steady) if counted else None,
            "server_startup": server_startup,
            "server_steady": server_steady,
            "kubelet_play": kubelet.get("play", {}),
        },
        "requests_per_pod_minute": {
            "client_steady": sum(client_steady.values()) / steady_minutes
            if steady_minutes and counted
            else None,
            "server_steady": sum(server_steady.values()) / steady_minutes if steady_minutes else None,
            "client_total": (sum(client_steady.values()) + sum(client_startup.values())) / total_minutes
            if total_minutes and counted
            else None,
        },
        **process(contender, connections="api_connections"),
        "triggerer": contender.get("triggerer"),
    }
