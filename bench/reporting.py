"""What both reports (``bench.report``, ``bench.armada_report``) share: cell formats, the table of
figures with its ratio columns, the 2x2 log-log plot, writing the files and the command line.

Needs only matplotlib, for the plot (the anchors' virtualenvs have it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Run = dict[str, Any]
Getter = Callable[[Run], Any]
Row = tuple[str, Getter, bool]  # (label, value getter, ratio shown)
Pair = tuple[str, Run, Run]  # (column title, numerator, denominator)
Panel = tuple[str, Getter, float]  # (title, value, where 0 is drawn on the log scale)


# the contender process's own figures (bench.figures.process), the same rows in both reports
CPU_RSS_ROWS: list[Row] = [
    ("CPU, steady (% of one core)", lambda f: 100 * f["cpu"]["steady_core_fraction"], True),
    ("CPU s, startup / steady", lambda f: f"{f['cpu']['startup_s']:.2f} / {f['cpu']['steady_s']:.2f}", False),
    ("RSS baseline (MB)", lambda f: f["rss_mb"]["baseline"], False),
    ("RSS above baseline, peak (MB)", lambda f: f["rss_mb"]["above_baseline"], True),
]
LOOP_LAG_ROWS: list[Row] = [
    ("loop lag p99", lambda f: f["loop_lag_s"]["p99"], True),
    ("loop lag max", lambda f: f["loop_lag_s"]["max"], True),
]
LOOP_LAG_SECONDS = {label for label, _, _ in LOOP_LAG_ROWS}


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def ratio(anchor: float | None, ours: float | None) -> str:
    if anchor is None or ours is None:
        return ""
    if ours == 0:
        return "∞" if anchor > 0 else "1"
    return f"{anchor / ours:.3g}x"


def verbs(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "n/a (not counted in the triggerer)"
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def verdict(value: float | None, target: float, unit: str, fmt: Any) -> str:
    if value is None:
        return "not measured"
    if value <= target:
        return f"met: {fmt(value)}{unit} (target <= {fmt(target)}{unit})"
    return f"**missed** by {fmt(value - target)}{unit} ({value / target:.3g}x the target): {fmt(value)}{unit}"


def table(runs: list[Run], *, rows: list[Row], pairs: list[Pair], seconds: set[str]) -> list[str]:
    """One column per run, then one ratio column per pair; rows in ``seconds`` are shown in ms."""
    header = ["figure", *[r["label"] for r in runs], *[title for title, _, _ in pairs]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, get, shown in rows:
        cells = [label]
        for run in runs:
            value = get(run)
            cells.append(value if isinstance(value, str) else ms(value) if label in seconds else num(value))
        cells += [ratio(get(a), get(b)) if shown else "" for _, a, b in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot(runs: list[Run], path: Path, *, panels: list[Panel], xlabel: str, kind_in_legend: bool) -> None:
    """One line per (contender, kind) over N in each panel; Jobs dashed."""
    import matplotlib  # type: ignore[import-not-found]  # only in the anchors' virtualenvs

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    series = sorted({(r["contender"], r["label"], r["kind"]) for r in runs})
    for ax, (title, get, floor) in zip(axes.flat, panels, strict=True):
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
                [max(v, floor) for v in ys],
                marker="o",
                linestyle="--" if kind == "job" else "-",
                label=f"{label} ({kind})" if kind_in_legend else label,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def stem(meta: dict[str, Any], name: str) -> str:
    return str(meta["date"]) + (f"-{name}" if name else "")


def write_files(*, out: Path, stem: str, lines: Iterable[str], draw: Callable[[Path], None]) -> Path:
    """``<stem>.md`` (``lines``, then the plot's image) and ``<stem>.png`` (drawn by ``draw``)."""
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{stem}.png"
    path = out / f"{stem}.md"
    path.write_text("\n".join([*lines, f"![plot]({png.name})", ""]))
    draw(png)
    return path


def schedule(timing: dict[str, Any], *, running: str, failed: str) -> str:
    """The schedule in words, with the workload's names of the states."""
    return (
        f"{running} after {timing['start_min']:g}-{timing['start_max']:g} s, "
        f"then {timing['run_min']:g}-{timing['run_max']:g} s until the end, "
        f"{100 * timing['failure_rate']:g} % {failed}"
    )


def main(write: Callable[..., Path], *, description: str, name: str) -> None:
    """``python -m bench.<report> RESULTS.json [--name NAME] [--out bench/results]``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("results", type=Path)
    parser.add_argument("--name", default=name)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    print(write(json.loads(args.results.read_text()), out=args.out, name=args.name))
