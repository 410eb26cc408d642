"""Results JSON -> ``bench/results/<date>[-name].md`` (tables, targets) and a PNG plot.

    python -m bench.report RESULTS.json [--name smoke-sample] [--out bench/results]

Needs only matplotlib (bench/.venv-cncf has it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import reporting
from bench.reporting import ms, num, verbs, verdict

TARGET_REQ_PER_POD_MINUTE = 0.05
TARGET_CPU_FRACTION_1000 = 0.05
TARGET_RSS_MB_1000 = 100.0
TARGET_LATENCY_P99_1000 = 0.200


ROWS: list[reporting.Row] = [
    ("outcomes right", lambda f: f"{f['correct']}/{f['objects']}", False),
    ("detection p50", lambda f: f["latency"]["p50"], True),
    ("detection p99", lambda f: f["latency"]["p99"], True),
    ("detection max", lambda f: f["latency"]["max"], True),
    ("steady req / pod-minute (client)", lambda f: f["requests_per_pod_minute"]["client_steady"], True),
    ("steady req / pod-minute (/metrics)", lambda f: f["requests_per_pod_minute"]["server_steady"], True),
    (
        "all req / pod-minute (client, startup included)",
        lambda f: f["requests_per_pod_minute"]["client_total"],
        True,
    ),
    ("startup requests (client)", lambda f: verbs(f["requests"]["client_startup"]), False),
    ("steady requests (client)", lambda f: verbs(f["requests"]["client_steady"]), False),
    (
        "steady requests (/metrics minus bench kubelet)",
        lambda f: verbs(f["requests"]["server_steady"]),
        False,
    ),
    *reporting.CPU_RSS_ROWS,
    (
        "of which loading the trigger classes (MB, triggerer mode)",
        lambda f: f["triggerer"]["import_rss"] / 2**20 if f.get("triggerer") else "",
        False,
    ),
    *reporting.LOOP_LAG_ROWS,
    (
        "API connections, max / median",
        lambda f: f"{f['api_connections']['max']} / {num(f['api_connections']['median'])}",
        False,
    ),
]
_SECONDS = {"detection p50", "detection p99", "detection max", *reporting.LOOP_LAG_SECONDS}


def _mode(run: dict[str, Any]) -> str:
    return str(run.get("mode", "loop"))


def _pairs(runs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(column title, numerator, denominator): anchor/ours within a mode, triggerer/loop per family."""
    pairs = []
    for run in runs:
        ours = next(
            (r for r in runs if r.get("family", r["contender"]) == "ours" and _mode(r) == _mode(run)), None
        )
        if ours is not None and ours is not run:
            pairs.append((f"{run['contender']}/{ours['contender']}", run, ours))
    for run in runs:
        if _mode(run) != "triggerer":
            continue
        loop = next((r for r in runs if r.get("family") == run.get("family") and _mode(r) == "loop"), None)
        if loop is not None:
            pairs.append((f"{run['contender']}/{loop['contender']}", run, loop))
    return pairs


def _find(runs: list[dict[str, Any]], *, contender: str, kind: str, n: int) -> dict[str, Any] | None:
    return next((r for r in runs if (r["contender"], r["kind"], r["n"]) == (contender, kind, n)), None)


def _targets(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | workload | ours | verdict |", "|---|---|---|---|"]
    for kind in ("pod", "job"):
        ours_runs = [r for r in runs if r["contender"] == "ours" and r["kind"] == kind]
        if not ours_runs:
            continue
        for run in ours_runs:
            value = run["requests_per_pod_minute"]["client_steady"]
            said = verdict(value, TARGET_REQ_PER_POD_MINUTE, "", lambda v: f"{v:.3g}")
            target = "steady requests per deferred pod-minute <= 0.05"
            lines.append(f"| {target} | {kind} N={run['n']} | {num(value)} | {said} |")
        at_1000 = _find(runs, contender="ours", kind=kind, n=1000)
        if at_1000 is None:
            lines.append(
                f"| CPU, RSS, detection at 1000 | {kind} | — | not measured in this run (no N=1000) |"
            )
        else:
            cpu = at_1000["cpu"]["steady_core_fraction"]
            lines.append(
                f"| <= 5 % of one core at 1000 | {kind} | {100 * cpu:.2f} % | "
                f"{verdict(100 * cpu, 100 * TARGET_CPU_FRACTION_1000, ' %', lambda v: f'{v:.3g}')} |"
            )
            rss = at_1000["rss_mb"]["above_baseline"]
            lines.append(
                f"| <= 100 MB RSS above baseline at 1000 | {kind} | {rss:.1f} MB | "
                f"{verdict(rss, TARGET_RSS_MB_1000, ' MB', lambda v: f'{v:.3g}')} |"
            )
            p99 = at_1000["latency"]["p99"]
            p99_ms = None if p99 is None else 1000 * p99
            said = verdict(p99_ms, 1000 * TARGET_LATENCY_P99_1000, " ms", lambda v: f"{v:.0f}")
            lines.append(f"| detection p99 <= 200 ms at 1000 | {kind} | {ms(p99)} | {said} |")
        at_10000 = _find(runs, contender="ours", kind=kind, n=10000)
        works = (
            "not measured in this run (no N=10000)"
            if at_10000 is None
            else (
                "works"
                if at_10000["correct"] == at_10000["objects"]
                else f"**missed**: {at_10000['correct']}/10000 right"
            )
        )
        lines.append(f"| 10000 deferred in one process | {kind} | — | {works} |")
    return lines


PANELS: list[reporting.Panel] = [  # (title, value, where 0 is drawn on the log scale)
    (
        "steady requests / pod-minute (0 drawn at 1e-4)",
        lambda f: f["requests_per_pod_minute"]["client_steady"],
        1e-4,
    ),
    ("CPU, steady (% of one core)", lambda f: 100 * f["cpu"]["steady_core_fraction"], 1e-4),
    ("RSS above baseline (MB)", lambda f: f["rss_mb"]["above_baseline"], 1e-4),
    ("detection p99 (s)", lambda f: f["latency"]["p99"], 1e-4),
]


def write(results: dict[str, Any], *, out: Path, name: str) -> Path:
    meta, runs = results["meta"], results["runs"]
    stem = reporting.stem(meta, name)
    schedule = reporting.schedule(meta["timing"], running="Running", failed="Failed")
    lines = [
        f"# Benchmark {stem}",
        "",
        f"Command: `bash bench/run.sh {' '.join(meta['argv'])}` ({meta['cpus']} CPUs).",
        f"Schedule (seed {meta['seed']}): {schedule}. Raw files: `bench/work/{meta['stamp']}/`.",
        "",
        "How to read it: see bench/README.md. *client* counts are every request the contender",
        "process sent; */metrics* is the API server's `apiserver_request_total` delta minus the",
        "bench kubelet's own requests, so it also holds any other client of the API server in",
        "that window (controllers, other tests).",
        "",
        "## Targets (ours)",
        "",
        *_targets(runs),
        "",
    ]
    if meta.get("notes"):
        lines += ["## Notes", "", *meta["notes"], ""]
    for kind in ("pod", "job"):
        for n in sorted({r["n"] for r in runs if r["kind"] == kind}):
            group = [r for r in runs if r["kind"] == kind and r["n"] == n]
            table = reporting.table(group, rows=ROWS, pairs=_pairs(group), seconds=_SECONDS)
            lines += [f"## {kind}s, N = {n}", "", *table, ""]

    def draw(png: Path) -> None:
        reporting.plot(runs, png, panels=PANELS, xlabel="objects waited on (N)", kind_in_legend=True)

    return reporting.write_files(out=out, stem=stem, lines=lines, draw=draw)


if __name__ == "__main__":
    reporting.main(write, description=__doc__.splitlines()[0], name="")
