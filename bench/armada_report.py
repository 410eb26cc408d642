"""Armada results JSON -> ``bench/results/<date>-armada.md`` (tables, targets) and a PNG plot.

    python -m bench.armada_report RESULTS.json [--name armada] [--out bench/results]

Needs only matplotlib (bench/.venv-armada has it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import reporting
from bench.reporting import num, verbs, verdict

TARGET_CALLS_PER_JOB_MINUTE = 0.1

ROWS: list[reporting.Row] = [
    ("outcomes right (state and Armada's error text)", lambda f: f"{f['correct']}/{f['objects']}", False),
    ("detection p50 (end event -> task outcome decided)", lambda f: f["latency"]["p50"], True),
    ("detection p99", lambda f: f["latency"]["p99"], True),
    ("detection max", lambda f: f["latency"]["max"], True),
    ("end event -> TriggerEvent, p99", lambda f: f["latency_trigger_event"]["p99"], False),
    ("steady gRPC calls / job-minute (server)", lambda f: f["calls_per_job_minute"]["server_steady"], True),
    ("steady gRPC calls / job-minute (client)", lambda f: f["calls_per_job_minute"]["client_steady"], True),
    (
        "all gRPC calls / job-minute (server, startup included)",
        lambda f: f["calls_per_job_minute"]["server_total"],
        True,
    ),
    ("startup calls (server)", lambda f: verbs(f["calls"]["server_startup"]), False),
    ("steady calls (server)", lambda f: verbs(f["calls"]["server_steady"]), False),
    (
        "steady calls / job-minute by method (server)",
        lambda f: (
            ", ".join(f"{k} {v:.3g}" for k, v in f["calls_per_job_minute"]["by_method_server_steady"].items())
            or "none"
        ),
        False,
    ),
    (
        "GetJobSetEvents streams opened / peak open",
        lambda f: f"{f['streams']['opened']} / {f['streams']['peak_open']}",
        False,
    ),
    (
        "gRPC channels opened, startup / steady",
        lambda f: f"{f['channels']['startup']} / {f['channels']['steady']}",
        False,
    ),
    ("worker resumes (after a TriggerEvent)", lambda f: f["worker"]["resumes"], True),
    ("of which re-entries while the job was active", lambda f: f["worker"]["reentries_while_active"], True),
    ("first worker runs (poll after submit)", lambda f: f["worker"]["first_runs"], False),
    *reporting.CPU_RSS_ROWS,
    *reporting.LOOP_LAG_ROWS,
    (
        "connections to the server, max / median",
        lambda f: f"{f['server_connections']['max']} / {num(f['server_connections']['median'])}",
        False,
    ),
]
_SECONDS = {
    "detection p50 (end event -> task outcome decided)",
    "detection p99",
    "detection max",
    "end event -> TriggerEvent, p99",
    *reporting.LOOP_LAG_SECONDS,
}


def _pairs(runs: list[dict[str, Any]]) -> list[reporting.Pair]:
    """(column title, anchor, ours) for each anchor."""
    ours = next((r for r in runs if r["contender"] == "ours"), None)
    return [(f"{a['contender']}/ours", a, ours) for a in runs if a is not ours] if ours else []


def _targets(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | N | ours | verdict |", "|---|---|---|---|"]
    for run in sorted((r for r in runs if r["contender"] == "ours"), key=lambda r: r["n"]):
        n = run["n"]
        value = run["calls_per_job_minute"]["server_steady"]
        said = verdict(value, TARGET_CALLS_PER_JOB_MINUTE, "", lambda v: f"{v:.3g}")
        lines.append(f"| <= 0.1 gRPC calls per job-minute (steady, server) | {n} | {num(value)} | {said} |")
        streams = run["streams"]
        one = streams["opened"] == 1 and streams["peak_open"] == 1
        lines.append(
            f"| one stream per job set | {n} | {streams['opened']} opened, "
            f"{streams['peak_open']} at most open | {'met' if one else '**missed**'} |"
        )
        worker = run["worker"]
        lines.append(
            f"| zero worker re-entries while the job runs | {n} | {worker['reentries_while_active']} "
            f"(+ {worker['resumes']} final resumes, one per task) | "
            f"{'met' if worker['reentries_while_active'] == 0 else '**missed**'} |"
        )
    return lines


PANELS: list[reporting.Panel] = [  # (title, value, where 0 is drawn on the log scale)
    (
        "steady gRPC calls / job-minute (server)",
        lambda f: f["calls_per_job_minute"]["server_steady"],
        1e-3,
    ),
    (
        "worker re-entries while the job runs (0 drawn at 0.5)",
        lambda f: f["worker"]["reentries_while_active"],
        0.5,
    ),
    ("CPU, steady (% of one core)", lambda f: 100 * f["cpu"]["steady_core_fraction"], 1e-2),
    ("detection p99 (s)", lambda f: f["latency"]["p99"], 1e-4),
]


def write(results: dict[str, Any], *, out: Path, name: str) -> Path:
    meta, runs = results["meta"], results["runs"]
    stem = reporting.stem(meta, name)
    schedule = "QUEUED 1-2 s after go, " + reporting.schedule(
        meta["timing"], running="RUNNING", failed="FAILED with an error text"
    )
    load = meta.get("load")
    lines = [
        f"# Armada benchmark {stem}",
        "",
        f"Command: `bash bench/run-armada.sh {' '.join(meta['argv'])}` ({meta['cpus']} CPUs, "
        f"{meta['workers']} worker slots; load average at the end "
        f"{' / '.join(f'{v:.2f}' for v in load) if load else 'n/a'}).",
        f"Schedule (seed {meta['seed']}): {schedule}; all jobs in ONE job set on the bench's Armada server. "
        f"Raw files: `bench/work/{meta['stamp']}/`.",
        "",
        "How to read it: see bench/README.md (Armada). *server* counts are the calls the bench's Armada",
        "server received (it serves only the contender); *client* counts are the contender's own.",
        "",
        "## Targets (ours)",
        "",
        *_targets(runs),
        "",
    ]
    for n in sorted({r["n"] for r in runs}):
        group = [r for r in runs if r["n"] == n]
        table = reporting.table(group, rows=ROWS, pairs=_pairs(group), seconds=_SECONDS)
        lines += [f"## Armada jobs, N = {n}", "", *table, ""]

    def draw(png: Path) -> None:
        reporting.plot(runs, png, panels=PANELS, xlabel="jobs in one job set (N)", kind_in_legend=False)

    return reporting.write_files(out=out, stem=stem, lines=lines, draw=draw)


if __name__ == "__main__":
    reporting.main(write, description=__doc__.splitlines()[0], name="armada")
