"""Streaming aggregates of simulated journeys: outcome counts, funnels and quantile histograms.

Chunks are folded in as they finish, so memory stays bounded for any number of runs; quantiles
come from log-spaced histograms (relative resolution 0.5%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nkescape import __version__
from nkescape.routing.query import Query
from nkescape.simulate.kernel import Chunk
from nkescape.simulate.step import DESTINATION, OUTCOMES

__all__ = [
    "CHART_BARS",
    "COST_EDGES",
    "DAY_EDGES",
    "SUMMARY_FORMAT",
    "Summary",
    "bin_index",
    "chunk_aggregates",
    "regroup",
    "wilson",
    "wounded_if_safe",
]

# Bars a chart regroups the fine histograms into (the plots and the dashboard): the 4,000
# log-spaced bins are far finer than a chart a few hundred pixels wide.
CHART_BARS = 60

# The layout of ``Summary.to_json()``: raised whenever a key is renamed, removed or changes
# meaning, so that readers of stored summaries can tell which layout they hold.
SUMMARY_FORMAT = 1

_Z95 = 1.959963984540054  # two-sided 95% normal quantile
DAY_EDGES = np.concatenate([[0.0], np.geomspace(0.01, 1e5, 4001)])
COST_EDGES = np.concatenate([[0.0], np.geomspace(1.0, 1e8, 4001)])


def _zeros(shape: int | tuple[int, int]) -> NDArray[np.int64]:
    return np.zeros(shape, dtype=np.int64)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval for ``k`` successes out of ``n``."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + _Z95**2 / n
    centre = (p + _Z95**2 / (2 * n)) / denom
    half = _Z95 * math.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _quantiles(hist: NDArray[np.int64], edges: NDArray[np.float64]) -> dict[str, float | None]:
    total = int(hist.sum())
    if total == 0:
        return {"p10": None, "p50": None, "p90": None, "mean": None}
    cum = np.cumsum(hist)
    out: dict[str, float | None] = {}
    for q in (0.1, 0.5, 0.9):
        i = int(np.searchsorted(cum, q * total))
        before = cum[i - 1] if i > 0 else 0
        frac = (q * total - before) / max(hist[i], 1)
        out[f"p{round(q * 100)}"] = float(edges[i] + frac * (edges[i + 1] - edges[i]))
    mids = (edges[:-1] + edges[1:]) / 2
    out["mean"] = float((hist * mids).sum() / total)
    return out


def wounded_if_safe(
    p_wounded: Sequence[float], to_safe: Sequence[bool], start_safe: bool
) -> float | None:
    """Share of the journeys that reach safety who were wounded on the way there.

    ``p_wounded[k]`` is leg k's chance of wounding someone who gets across it, and ``to_safe[k]``
    whether leg k ends in a safe place. Those who reach safety crossed every leg up to the first
    safe place, so under independence the share is ``1 - prod(1 - p_wounded)`` over those legs:
    exact for journeys that cross them, and an upper bound for the few handed to an embassy on a
    leg they did not finish. None when no leg wounds anyone (the itinerary crosses no fire).
    """
    if not any(p > 0 for p in p_wounded):
        return None
    if start_safe:
        return 0.0
    unhurt = 1.0
    for p, safe in zip(p_wounded, to_safe, strict=True):
        unhurt *= 1.0 - p
        if safe:
            break
    return 1.0 - unhurt


def bin_index(values: Any, edges: NDArray[np.float64], searchsorted: Any = np.searchsorted) -> Any:
    """The histogram bin of each value: ``edges[i] <= x < edges[i + 1]`` (the last bin closed,
    as in ``np.histogram``), and a value past either end in the bin at that end, so that every
    journey counts (a duration beyond the last edge, 10^5 days, is held in the last bin rather
    than lost). ``searchsorted``: ``np.searchsorted`` or ``jnp.searchsorted``."""
    return (searchsorted(edges, values, side="right") - 1).clip(0, len(edges) - 2)


def _histogram(values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.bincount(bin_index(values, edges), minlength=len(edges) - 1)


def chunk_aggregates(chunk: Chunk, n_legs: int) -> dict[str, Any]:
    """A chunk reduced to the counts a ``Summary`` keeps (the keys of ``add_aggregates``)."""
    funnel = np.zeros((n_legs, len(OUTCOMES)), np.int64)
    ended = chunk.end_leg >= 0
    np.add.at(funnel, (chunk.end_leg[ended], chunk.status[ended]), 1)
    safe = ~np.isnan(chunk.days_to_safety)
    return {
        "runs": len(chunk.status),
        "outcomes": np.bincount(chunk.status, minlength=len(OUTCOMES)),
        "funnel": funnel,
        "safe": int(safe.sum()),
        "days_safety": _histogram(chunk.days_to_safety[safe], DAY_EDGES),
        "days_destination": _histogram(chunk.days[chunk.status == DESTINATION], DAY_EDGES),
        "cost": _histogram(chunk.cost, COST_EDGES),
    }


@dataclass
class Summary:
    """Aggregates of ``runs`` journeys along one itinerary, and what it takes to repeat them.

    ``seed`` is the entropy of the run's ``numpy.random.SeedSequence`` and ``spawn_key`` its
    spawn key: ``SeedSequence(seed, spawn_key=spawn_key)`` with the same ``kernel`` and
    ``chunk`` gives the same numbers again.
    """

    legs: tuple[str, ...]
    seed: int | tuple[int, ...]
    spawn_key: tuple[int, ...] = ()
    kernel: str = "numpy"  # numpy, numba, jax or adaptive (the re-planning NumPy kernel)
    device: str = "cpu"  # cpu, or the JAX device: its platform and kind
    chunk: int = 0  # journeys per chunk, part of what fixes the numbers
    query: Query | None = None
    itinerary: int | None = None  # rank in the plan, when the run was given a plan
    runs: int = 0
    outcomes: NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(OUTCOMES), np.int64))
    safe: int = 0
    funnel: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((0, len(OUTCOMES)), np.int64)
    )
    days_safety: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(DAY_EDGES) - 1, np.int64)
    )
    days_destination: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(DAY_EDGES) - 1, np.int64)
    )
    cost: NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(COST_EDGES) - 1, np.int64))
    # Journeys that took each leg, for adaptive journeys, whose legs are not taken in one order.
    taken: NDArray[np.int64] | None = None
    # Of the journeys that reach safety, the share wounded on the way (``wounded_if_safe``); None
    # when the itinerary crosses no fire, or its legs are not taken in one order (adaptive).
    p_wounded_if_safe: float | None = None

    def __post_init__(self) -> None:
        if self.funnel.shape[0] != len(self.legs):
            self.funnel = np.zeros((len(self.legs), len(OUTCOMES)), np.int64)

    def add(self, chunk: Chunk) -> None:
        """Fold in a chunk of per-journey results."""
        self.add_aggregates(chunk_aggregates(chunk, len(self.legs)))

    def add_aggregates(self, agg: dict[str, Any]) -> None:
        """Fold in a chunk already reduced to counts (what the JAX kernel returns)."""
        self.runs += int(agg["runs"])
        self.outcomes += np.asarray(agg["outcomes"], dtype=np.int64)
        self.funnel += np.asarray(agg["funnel"], dtype=np.int64)
        self.safe += int(agg["safe"])
        self.days_safety += np.asarray(agg["days_safety"], dtype=np.int64)
        self.days_destination += np.asarray(agg["days_destination"], dtype=np.int64)
        self.cost += np.asarray(agg["cost"], dtype=np.int64)

    @property
    def p_reach_safety(self) -> float:
        return self.safe / self.runs if self.runs else 0.0

    @property
    def p_reach_destination(self) -> float:
        return int(self.outcomes[0]) / self.runs if self.runs else 0.0

    def histogram(self, what: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Counts and bin edges of ``safety`` or ``destination`` days, or of ``cost``."""
        if what == "safety":
            return self.days_safety, DAY_EDGES
        if what == "destination":
            return self.days_destination, DAY_EDGES
        if what == "cost":
            return self.cost, COST_EDGES
        raise ValueError(f"unknown histogram {what!r} (safety, destination or cost)")

    def quantiles(self, what: str) -> dict[str, float | None]:
        return _quantiles(*self.histogram(what))

    def add_taken(self, counts: NDArray[np.int64]) -> None:
        """Fold in how many journeys of a chunk took each leg (adaptive journeys)."""
        self.taken = counts.copy() if self.taken is None else self.taken + counts

    def order_legs(self, order: NDArray[np.int64]) -> None:
        """Put the legs (and their funnel rows and counts) in ``order``, a permutation."""
        self.legs = tuple(self.legs[i] for i in order)
        self.funnel = self.funnel[order]
        if self.taken is not None:
            self.taken = self.taken[order]

    def metadata(self) -> dict[str, Any]:
        """What produced these numbers: layout, versions, kernel, device, question and seed.

        The head of ``to_json()``, and the metadata of the Parquet file of the same run.
        """
        return {
            "format": SUMMARY_FORMAT,
            "nkescape_version": __version__,
            "numpy_version": np.__version__,
            "kernel": self.kernel,
            "device": self.device,
            "chunk": self.chunk,
            "seed": list(self.seed) if isinstance(self.seed, tuple) else self.seed,
            "spawn_key": list(self.spawn_key),
            "query": self.query.to_json() if self.query is not None else None,
            "itinerary": self.itinerary,
        }

    def to_json(self) -> dict[str, Any]:
        """The run as JSON: its ``metadata()``, then shares with intervals, quantiles, funnel.

        The funnel lists the legs in journey order; for adaptive journeys, legs no journey
        took are left out.
        """
        n = self.runs
        if self.taken is None:
            entered = n - np.concatenate([[0], np.cumsum(self.funnel.sum(axis=1))[:-1]])
        else:
            entered = self.taken
        return {
            **self.metadata(),
            "runs": n,
            "legs": list(self.legs),
            "p_reach_safety": {"value": self.p_reach_safety, "ci95": list(wilson(self.safe, n))},
            "p_reach_destination": {
                "value": self.p_reach_destination,
                "ci95": list(wilson(int(self.outcomes[0]), n)),
            },
            "outcomes": {name: int(k) / n for name, k in zip(OUTCOMES, self.outcomes, strict=True)},
            "p_wounded_if_safe": self.p_wounded_if_safe,
            "days_to_safety": self.quantiles("safety"),
            "days_to_destination": self.quantiles("destination"),
            "cost_usd": self.quantiles("cost"),
            "funnel": [
                {
                    "leg": leg,
                    "entered": int(entered[k]),
                    **{
                        name: int(self.funnel[k, i])
                        for i, name in enumerate(OUTCOMES)
                        if self.funnel[k, i]
                    },
                }
                for k, leg in enumerate(self.legs)
                if self.taken is None or entered[k] > 0
            ],
        }


def regroup(
    counts: list[NDArray[np.int64]], edges: NDArray[np.float64], bars: int = CHART_BARS
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Histograms on the same fine bins, regrouped into at most ``bars`` bins over the range
    where any has counts: the new edges (one more than the bins) and each histogram's counts, a
    row each (both empty when every count is zero)."""
    stacked = np.vstack(counts)
    used = np.flatnonzero(stacked.sum(axis=0))
    if len(used) == 0:
        return np.empty(0), np.empty((len(counts), 0), dtype=np.int64)
    first, last = int(used[0]), int(used[-1])
    step = max(1, -(-(last - first + 1) // bars))  # rounded up: never more than ``bars``
    lo = np.arange(first, last + 1, step)
    sums = np.add.reduceat(stacked[:, first : last + 1], lo - first, axis=1)
    right = min(int(lo[-1]) + step, len(edges) - 1)
    return np.append(edges[lo], edges[right]), sums
