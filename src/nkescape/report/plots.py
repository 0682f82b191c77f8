"""Plots of a simulation: the attrition funnel, days to safety, and cost.

Each ``plot_*`` function returns a ``matplotlib.figure.Figure`` made without pyplot, so it uses
no global state and leaves a notebook's backend alone (a notebook shows the figure it gets);
``write_simulation_plots`` saves them as PNG files. Matplotlib is imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nkescape.simulate import OUTCOMES, Summary
from nkescape.simulate.summary import regroup

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_cost", "plot_days", "plot_funnel", "write_simulation_plots"]

_COLOURS = {
    "reached-destination": "#2b8a3e",
    "reached-safety": "#74b816",
    "repatriated": "#c92a2a",
    "in-hiding": "#e67700",
    "dead": "#212529",
}
_DPI = 120


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="tight")


def plot_funnel(summary: Summary) -> Figure:
    """Journeys entering each leg, in journey order, and where and how the others ended.

    Parameters
    ----------
    summary
        A simulation's summary (a fixed itinerary's or adaptive journeys').

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars, the first leg on top: journeys that entered the leg, and those that
        ended on it, by outcome.

    Examples
    --------
    >>> import datetime as dt
    >>> from nkescape.atlas import toy_atlas
    >>> from nkescape.routing import plan
    >>> from nkescape.simulate import simulate
    >>> atlas = toy_atlas()
    >>> p = plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))
    >>> fig = plot_funnel(simulate(atlas, p, runs=2_000, seed=1, backend="numpy"))
    >>> fig.axes[0].get_xlabel()
    'journeys (of 2,000)'
    """
    rows = summary.to_json()["funnel"]
    fig = _figure(9, 0.45 * len(rows) + 1.8)
    ax = fig.add_subplot()
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
    ax.set_ylabel("leg, in journey order")
    ax.set_xlabel(f"journeys (of {summary.runs:,})")
    ax.set_title("Where journeys end, leg by leg")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_days(summary: Summary) -> Figure:
    """Cumulative share of all journeys that reached safety (and the destination) by day d.

    Parameters
    ----------
    summary
        A simulation's summary.

    Returns
    -------
    matplotlib.figure.Figure
        Two step curves over days since setting out (log scale), shares from 0 to 1.
    """
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
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
    ax.set_xlabel("days since setting out (log scale)")
    ax.set_ylabel("share of all journeys")
    ax.set_title("Days to safety")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_cost(summary: Summary) -> Figure:
    """Histogram of what the group spent, in US$ on a log scale.

    Parameters
    ----------
    summary
        A simulation's summary.

    Returns
    -------
    matplotlib.figure.Figure
        About 60 bars regrouping the summary's fine cost bins.
    """
    counts, fine = summary.histogram("cost")
    edges, (sums,) = regroup([counts], fine)
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    if len(sums):
        ax.bar(edges[:-1], sums, width=np.diff(edges), align="edge", color="#1c7ed6")
        ax.set_xscale("log")
    ax.set_xlabel("US$ spent by the group (log scale)")
    ax.set_ylabel("journeys")
    ax.set_title("Cost")
    return fig


def write_simulation_plots(summary: Summary, folder: Path) -> list[Path]:
    """Save the three plots as PNG files in ``folder`` (created if needed).

    Parameters
    ----------
    summary
        A simulation's summary.
    folder
        Where to write ``funnel.png``, ``days_to_safety.png`` and ``cost.png``.

    Returns
    -------
    list of Path
        The files written, in that order.

    Raises
    ------
    OSError
        When ``folder`` cannot be created or written to.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (
        ("funnel.png", plot_funnel),
        ("days_to_safety.png", plot_days),
        ("cost.png", plot_cost),
    ):
        path = folder / name
        draw(summary).savefig(path, dpi=_DPI)
        written.append(path)
    return written
