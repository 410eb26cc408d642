"""Armada results JSON -> ``bench/results/<date>-armada.md`` (tables, targets) and a PNG plot.

    python -m bench.armada_report RESULTS.json [--name armada] [--out bench/results]

Needs only matplotlib (bench/.venv-armada has it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import _ms, _num, _ratio, _verbs, _verdict

TARGET_CALLS_PER_JOB_MINUTE = 0.1

Getter = Callable[[dict[str, Any]], Any]
ROWS: list[tuple[str, Getter, bool]] = [
    # (label, value getter, ratio anchor/ours shown)
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
    ("startup calls (server)", lambda f: _verbs(f["calls"]["server_startup"]), False),
    ("steady calls (server)", lambda f: _verbs(f["calls"]["server_steady"]), False),
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
    ("CPU, steady (% of one core)", lambda f: 100 * f["cpu"]["steady_core_fraction"], True),
    ("CPU s, startup / steady", lambda f: f"{f['cpu']['startup_s']:.2f} / {f['cpu']['steady_s']:.2f}", False),
    ("RSS baseline (MB)", lambda f: f["rss_mb"]["baseline"], False),
    ("RSS above baseline, peak (MB)", lambda f: f["rss_mb"]["above_baseline"], True),
    ("loop lag p99", lambda f: f["loop_lag_s"]["p99"], True),
    ("loop lag max", lambda f: f["loop_lag_s"]["max"], True),
    (
        "connections to the server, max / median",
        lambda f: f"{f['server_connections']['max']} / {_num(f['server_connections']['median'])}",
        False,
    ),
]
_SECONDS = {
    "detection p50 (end event -> task outcome decided)",
    "detection p99",
    "detection max",
    "end event -> TriggerEvent, p99",
    "loop lag p99",
    "loop lag max",
}


def _cell(label: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return _ms(value) if label in _SECONDS else _num(value)


def _table(runs: list[dict[str, Any]]) -> list[str]:
    ours = next((r for r in runs if r["contender"] == "ours"), None)
    anchors = [r for r in runs if r is not ours]
    header = [
        "figure",
        *[r["label"] for r in runs],
        *([f"{a['contender']}/ours" for a in anchors] if ours else []),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, get, ratio in ROWS:
        cells = [label, *[_cell(label, get(r)) for r in runs]]
        if ours:
            cells += [_ratio(get(a), get(ours)) if ratio else "" for a in anchors]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _targets(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | N | ours | verdict |", "|---|---|---|---|"]
    for run in sorted((r for r in runs if r["contender"] == "ours"), key=lambda r: r["n"]):
        n = run["n"]
        value = run["calls_per_job_minute"]["server_steady"]
        verdict = _verdict(value, TARGET_CALLS_PER_JOB_MINUTE, "", lambda v: f"{v:.3g}")
        lines.append(
            f"| <= 0.1 gRPC calls per job-minute (steady, server) | {n} | {_num(value)} | {verdict} |"
        )
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


def _plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib  # type: ignore[import-not-found]  # only in the anchors' virtualenvs

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]

    panels: list[tuple[str, Getter, float]] = [  # (title, value, where 0 is drawn on the log scale)
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
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    series = sorted({(r["contender"], r["label"]) for r in runs})
    for ax, (title, get, floor) in zip(axes.flat, panels, strict=True):
        for contender, label in series:
            points = sorted((r["n"], get(r)) for r in runs if r["contender"] == contender)
            points = [(n, v) for n, v in points if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, [max(v, floor) for v in ys], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("jobs in one job set (N)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(results: dict[str, Any], *, out: Path, name: str) -> Path:
    meta, runs = results["meta"], results["runs"]
    stem = meta["date"] + (f"-{name}" if name else "")
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{stem}.png"
    timing = meta["timing"]
    schedule = (
        f"QUEUED 1-2 s after go, RUNNING after {timing['start_min']:g}-{timing['start_max']:g} s, "
        f"then {timing['run_min']:g}-{timing['run_max']:g} s until the end, "
        f"{100 * timing['failure_rate']:g} % FAILED with an error text"
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
        lines += [f"## Armada jobs, N = {n}", "", *_table([r for r in runs if r["n"] == n]), ""]
    lines += [f"![plot]({png.name})", ""]
    path = out / f"{stem}.md"
    path.write_text("\n".join(lines))
    _plot(runs, png)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--name", default="armada")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    print(write(json.loads(args.results.read_text()), out=args.out, name=args.name))
