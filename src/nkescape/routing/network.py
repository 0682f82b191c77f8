"""The routing graph of one query: per-month figures of every leg, waiting costs, safe places.

The planner builds a :class:`Network` from an atlas and a query; benchmarks and tests build them
directly, so the search and its brute-force reference run on exactly the same numbers.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Calendar", "Network"]

# How far ahead the calendar of month starts reaches; itineraries longer than this are refused.
HORIZON_MONTHS = 120
# Conditions repeat every twelve months, so waiting in one place longer than eleven months in a
# row only adds cost and risk.
MAX_WAITS = 11


@dataclass(frozen=True)
class Calendar:
    """Days since departure <-> calendar months."""

    start: dt.date
    month_starts: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0.0]
        year, month = self.start.year, self.start.month
        for _ in range(HORIZON_MONTHS):
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            starts.append(float((dt.date(year, month, 1) - self.start).days))
        object.__setattr__(self, "month_starts", tuple(starts))

    def index(self, t: float) -> int:
        """Months since the departure month at day ``t`` (0 in the departure month)."""
        return bisect.bisect_right(self.month_starts, t) - 1

    def month(self, t: float) -> int:
        """Calendar month (1-12) at day ``t``."""
        return (self.start.month - 1 + self.index(t)) % 12 + 1

    def next_start(self, t: float) -> float | None:
        """Day on which the month after the one containing day ``t`` starts."""
        i = self.index(t) + 1
        return self.month_starts[i] if i < len(self.month_starts) else None

    def date(self, t: float) -> dt.date:
        return self.start + dt.timedelta(days=int(t))


@dataclass(frozen=True, eq=False)
class Network:
    """Arrays for the search. Leg tables are (12, legs): row ``m - 1`` is calendar month ``m``.

    ``risk`` is ``-log`` of the probability of getting through the leg (not being caught and sent
    back), so risks add along a path where survival multiplies.
    """

    indptr: NDArray[np.int64]
    out_legs: NDArray[np.int64]
    leg_to: NDArray[np.int64]
    days: NDArray[np.float64]
    cost: NDArray[np.float64]
    risk: NDArray[np.float64]
    open: NDArray[np.bool_]
    safe: NDArray[np.bool_]
    wait_ok: NDArray[np.bool_]
    wait_risk_per_day: NDArray[np.float64]
    wait_cost_per_day: NDArray[np.float64]
    calendar: Calendar

    @property
    def n_nodes(self) -> int:
        return len(self.safe)

    @property
    def n_legs(self) -> int:
        return len(self.leg_to)

    def legs_out(self, node: int) -> NDArray[np.int64]:
        return self.out_legs[self.indptr[node] : self.indptr[node + 1]]

    def seasonal_nodes(self) -> NDArray[np.bool_]:
        """Places where some leg out differs between months, so that waiting can pay."""
        varies = (
            (self.open != self.open[:1]).any(axis=0)
            | (self.days != self.days[:1]).any(axis=0)
            | (self.cost != self.cost[:1]).any(axis=0)
            | (self.risk != self.risk[:1]).any(axis=0)
        )
        out = np.zeros(self.n_nodes, dtype=np.bool_)
        out[self.leg_from()[varies]] = True
        return out

    def leg_from(self) -> NDArray[np.int64]:
        """The start node of every leg (derived from the CSR arrays)."""
        out = np.empty(self.n_legs, dtype=np.int64)
        out[self.out_legs] = np.repeat(np.arange(self.n_nodes), np.diff(self.indptr))
        return out
