"""From one Armada run's raw files to its figures (pure; stdlib only)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.figures import process, spread
from bench.schedule import Step


def error_text(name: str) -> str:
    """What GetJobErrors says for a failed bench job (the bench server scripts it)."""
    return f"bench: {name} exited with code 1"


def _right(step: Step, job: dict[str, Any] | None) -> bool:
    if job is None or job["outcome"] != step.expected:
        return False
    return not step.fails or error_text(step.name) in job["message"]  # Armada's reason reached the task


def _latencies(jobs: dict[str, dict[str, Any]], ends: dict[str, Any], key: str) -> list[float]:
    return [
        jobs[name][key] - end["time"]
        for name, end in ends.items()
        if end is not None and name in jobs and jobs[name][key] is not None
    ]


def _per(calls: int, minutes: float) -> float | None:
    return calls / minutes if minutes else None


def compute(*, steps: list[Step], contender: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """``server``: the bench server's ``armada.json`` (calls at go and over the steady window)."""
    jobs = {job["name"]: job for job in contender["jobs"]}
    ends = server["ends"]
    wrong = [s.name for s in steps if not _right(s, jobs.get(s.name))]
    decided = _latencies(jobs, ends, "decided")
    ready = contender["ready"]
    finished = [j for j in jobs.values() if j["decided"] is not None]
    total_minutes = sum(j["decided"] - contender["started"] for j in finished) / 60
    steady_minutes = sum(max(0.0, j["decided"] - ready) for j in finished) / 60
    server_startup = Counter(server["at_go"]["calls"])
    server_steady = Counter(server["steady"]["calls"])
    client_startup = Counter(contender["calls"]["startup"])
    client_steady = Counter(contender["calls"]["all"]) - client_startup
    resumes = sum(j["worker_runs"] for j in jobs.values())
    return {
        "objects": len(steps),
        "correct": len(steps) - len(wrong),
        "wrong": wrong[:20],
        "missing": sum(1 for s in steps if s.name not in jobs or not jobs[s.name]["outcome"]),
        "timed_out": contender["timed_out"],
        "decided_before_end": sum(1 for v in decided if v < 0),
        "latency": spread(decided),  # the server's terminal event -> the task's outcome decided
        "latency_trigger_event": spread(_latencies(jobs, ends, "last_event")),
        "job_minutes": {"total": total_minutes, "steady": steady_minutes},
        "calls": {
            "server_startup": dict(server_startup),
            "server_steady": dict(server_steady),
            "client_startup": dict(client_startup),
            "client_steady": dict(client_steady),
        },
        "calls_per_job_minute": {
            "server_steady": _per(sum(server_steady.values()), steady_minutes),
            "client_steady": _per(sum(client_steady.values()), steady_minutes),
            "server_total": _per(sum(server_startup.values()) + sum(server_steady.values()), total_minutes),
            "by_method_server_steady": {
                method: n / steady_minutes for method, n in sorted(server_steady.items()) if steady_minutes
            },
        },
        "streams": {
            "opened": server["at_go"]["streams_opened"] + server["steady"]["streams_opened"],
            "peak_open": max(server["at_go"]["streams_peak"], server["steady"]["streams_peak"]),
        },
        "channels": {
            "startup": contender["channels"]["startup"],
            "steady": contender["channels"]["all"] - contender["channels"]["startup"],
        },
        "worker": {
            "first_runs": contender["worker_runs"]["startup"],  # the anchor's poll right after submit
            "resumes": resumes,  # task resumes on a worker after a TriggerEvent
            "reentries_while_active": resumes - len(finished),  # resumes that found the job still running
        },
        **process(contender, connections="server_connections"),
    }
