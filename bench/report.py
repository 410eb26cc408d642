"""Results JSON -> ``bench/results/<date>[-name].md`` (tables, targets) and a PNG plot.

    python -m bench.report RESULTS.json [--name smoke-sample] [--out bench/results]

Needs only matplotlib (bench/.venv-cncf has it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_REQ_PER_POD_MINUTE = 0.05
TARGET_CPU_FRACTION_1000 = 0.05
TARGET_RSS_MB_1000 = 100.0
TARGET_LATENCY_P99_1000 = 0.200


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _ratio(anchor: float | None, ours: float | None) -> str:
    if anchor is None or ours is None:
        return ""
    if ours == 0:
        return "∞" if anchor > 0 else "1"
    return f"{anchor / ours:.3g}x"


def _verbs(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "n/a (not counted in the triggerer)"
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


ROWS: list[tuple[str, Any, bool]] = [
    # (label, value getter, ratio shown)
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
    ("startup requests (client)", lambda f: _verbs(f["requests"]["client_startup"]), False),
    ("steady requests (client)", lambda f: _verbs(f["requests"]["client_steady"]), False),
    (
        "steady requests (/metrics minus bench kubelet)",
        lambda f: _verbs(f["requests"]["server_steady"]),
        False,
    ),
    ("CPU, steady (% of one core)", lambda f: 100 * f["cpu"]["steady_core_fraction"], True),
    ("CPU s, startup / steady", lambda f: f"{f['cpu']['startup_s']:.2f} / {f['cpu']['steady_s']:.2f}", False),
    ("RSS baseline (MB)", lambda f: f["rss_mb"]["baseline"], False),
    ("RSS above baseline, peak (MB)", lambda f: f["rss_mb"]["above_baseline"], True),
    (
        "of which loading the trigger classes (MB, triggerer mode)",
        lambda f: f["triggerer"]["import_rss"] / 2**20 if f.get("triggerer") else "",
        False,
    ),
    ("loop lag p99", lambda f: f["loop_lag_s"]["p99"], True),
    ("loop lag max", lambda f: f["loop_lag_s"]["max"], True),
    (
        "API connections, max / median",
        lambda f: f"{f['api_connections']['max']} / {_num(f['api_connections']['median'])}",
        False,
    ),
]
_SECONDS = {"detection p50", "detection p99", "detection max", "loop lag p99", "loop lag max"}


def _cell(label: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return _ms(value) if label in _SECONDS else _num(value)


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


def _table(runs: list[dict[str, Any]]) -> list[str]:
    pairs = _pairs(runs)
    header = ["figure", *[r["label"] for r in runs], *[title for title, _, _ in pairs]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, get, ratio in ROWS:
        cells = [label, *[_cell(label, get(r)) for r in runs]]
        cells += [_ratio(get(a), get(b)) if ratio else "" for _, a, b in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _find(runs: list[dict[str, Any]], *, contender: str, kind: str, n: int) -> dict[str, Any] | None:
    return next((r for r in runs if (r["contender"], r["kind"], r["n"]) == (contender, kind, n)), None)


def _verdict(value: float | None, target: float, unit: str, fmt: Any) -> str:
    if value is None:
        return "not measured"
    if value <= target:
        return f"met: {fmt(value)}{unit} (target <= {fmt(target)}{unit})"
    return f"**missed** by {fmt(value - target)}{unit} ({value / target:.3g}x the target): {fmt(value)}{unit}"


def _targets(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | workload | ours | verdict |", "|---|---|---|---|"]
    for kind in ("pod", "job"):
        ours_runs = [r for r in runs if r["contender"] == "ours" and r["kind"] == kind]
        if not ours_runs:
            continue
        for run in ours_runs:
            value = run["requests_per_pod_minute"]["client_steady"]
            verdict = _verdict(value, TARGET_REQ_PER_POD_MINUTE, "", lambda v: f"{v:.3g}")
            target = "steady requests per deferred pod-minute <= 0.05"
            lines.append(f"| {target} | {kind} N={run['n']} | {_num(value)} | {verdict} |")
        at_1000 = _find(runs, contender="ours", kind=kind, n=1000)
        if at_1000 is None:
            lines.append(
                f"| CPU, RSS, detection at 1000 | {kind} | — | not measured in this run (no N=1000) |"
            )
        else:
            cpu = at_1000["cpu"]["steady_core_fraction"]
            lines.append(
                f"| <= 5 % of one core at 1000 | {kind} | {100 * cpu:.2f} % | "
                f"{_verdict(100 * cpu, 100 * TARGET_CPU_FRACTION_1000, ' %', lambda v: f'{v:.3g}')} |"
            )
            rss = at_1000["rss_mb"]["above_baseline"]
            lines.append(
                f"| <= 100 MB RSS above baseline at 1000 | {kind} | {rss:.1f} MB | "
                f"{_verdict(rss, TARGET_RSS_MB_1000, ' MB', lambda v: f'{v:.3g}')} |"
            )
            p99 = at_1000["latency"]["p99"]
            p99_ms = None if p99 is None else 1000 * p99
            verdict = _verdict(p99_ms, 1000 * TARGET_LATENCY_P99_1000, " ms", lambda v: f"{v:.0f}")
            lines.append(f"| detection p99 <= 200 ms at 1000 | {kind} | {_ms(p99)} | {verdict} |")
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


def _plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib  # type: ignore[import-not-found]  # only in bench/.venv-cncf

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]

    panels: list[tuple[str, Callable[[dict[str, Any]], float | None]]] = [
        (
            "steady requests / pod-minute (0 drawn at 1e-4)",
            lambda f: f["requests_per_pod_minute"]["client_steady"],
        ),
        ("CPU, steady (% of one core)", lambda f: 100 * f["cpu"]["steady_core_fraction"]),
        ("RSS above baseline (MB)", lambda f: f["rss_mb"]["above_baseline"]),
        ("detection p99 (s)", lambda f: f["latency"]["p99"]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    series = sorted({(r["contender"], r["label"], r["kind"]) for r in runs})
    for ax, (title, get) in zip(axes.flat, panels, strict=True):
        for contender, label, kind in series:
            points = sorted(
                (r["n"], get(r)) for r in runs if (r["contender"], r["kind"]) == (contender, kind)
            )
            points = [(n, v) for n, v in points if v is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(
                xs,
                [max(v, 1e-4) for v in ys],
                marker="o",
                linestyle="-" if kind == "pod" else "--",
                label=f"{label} ({kind})",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("objects waited on (N)")
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
        f"Running after {timing['start_min']:g}-{timing['start_max']:g} s, "
        f"then {timing['run_min']:g}-{timing['run_max']:g} s until the end, "
        f"{100 * timing['failure_rate']:g} % Failed"
    )
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
            lines += [f"## {kind}s, N = {n}", "", *_table(group), ""]
    lines += [f"![plot]({png.name})", ""]
    path = out / f"{stem}.md"
    path.write_text("\n".join(lines))
    _plot(runs, png)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--name", default="")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    print(write(json.loads(args.results.read_text()), out=args.out, name=args.name))
