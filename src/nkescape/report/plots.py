"""PNG plots of a simulation: the attrition funnel, days to safety, and cost."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # headless: no display, no network, files only

import matplotlib.pyplot as plt
import numpy as np

from nkescape.simulate import OUTCOMES, Summary

__all__ = ["plot_cost", "plot_days", "plot_funnel", "write_simulation_plots"]

_COLOURS = {
    "reached-destination": "#2b8a3e",
    "reached-safety": "#74b816",
    "repatriated": "#c92a2a",
    "in-hiding": "#e67700",
    "dead": "#212529",
}


def plot_funnel(summary: Summary, path: Path) -> Path:
    """Journeys entering each leg, and where and how the others ended."""
    rows = summary.to_json()["funnel"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    ax.barh(y, [row["entered"] for row in rows], color="#dee2e6", label="entered the leg")
    left = np.zeros(len(rows))
    for name in OUTCOMES:
        counts = np.array([row.get(name, 0) for row in rows], dtype=float)
        if counts.any():
            what = "handed to the embassy" if name == "reached-destination" else name
            ax.barh(y, counts, left=left, color=_COLOURS[name], label=f"ended here: {what}")
            left += counts
    ax.set_yticks(y, [row["leg"] for row in rows])
    ax.set_xlabel(f"journeys (of {summary.runs:,})")
    ax.set_title("Where journeys end, leg by leg")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_days(summary: Summary, path: Path) -> Path:
    """Cumulative share of all journeys that reached safety (and the destination) by day d."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    right = 1.0
    for what, label in (("safety", "reached safety"), ("destination", "reached the destination")):
        counts, edges = summary.histogram(what)
        share = np.cumsum(counts) / max(summary.runs, 1)
        ax.step(edges[1:], share, where="post", label=label)
        if counts.any():
            right = max(right, 2 * edges[np.flatnonzero(counts)[-1] + 1])
    ax.set_xscale("log")
    ax.set_xlim(0.5, right)
    ax.set_ylim(0, 1)
    ax.set_xlabel("days since setting out")
    ax.set_ylabel("share of all journeys")
    ax.set_title("Days to safety")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_cost(summary: Summary, path: Path) -> Path:
    """Histogram of what the group spent (US$), on a log scale."""
    counts, edges = summary.histogram("cost")
    keep = counts > 0
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if keep.any():
        first, last = np.flatnonzero(keep)[[0, -1]]
        # Regroup the fine bins into about 60 bars for reading.
        step = max(1, (last - first + 1) // 60)
        lo = np.arange(first, last + 1, step)
        sums = np.add.reduceat(counts[first : last + 1], lo - first)
        ax.bar(
            edges[lo],
            sums,
            width=edges[np.minimum(lo + step, len(edges) - 1)] - edges[lo],
            align="edge",
            color="#1c7ed6",
        )
        ax.set_xscale("log")
    ax.set_xlabel("US$ spent by the group")
    ax.set_ylabel("journeys")
    ax.set_title("Cost")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_simulation_plots(summary: Summary, folder: Path) -> list[Path]:
    """The three plots as PNG files in ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        plot_funnel(summary, folder / "funnel.png"),
        plot_days(summary, folder / "days_to_safety.png"),
        plot_cost(summary, folder / "cost.png"),
    ]
