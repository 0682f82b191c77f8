"""The journey model of one itinerary as arrays: what the kernel draws from, leg by leg.

Built from the same pieces as the planner's network (events in force, group effects, funding,
policies), but keeping distributions instead of expected values: each leg's duration, cost and
interception probability are drawn per journey from the atlas's estimates, then moved by the
month the journey reaches the leg.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas, Estimate
from nkescape.atlas.estimate import lognormal_mu_sigma
from nkescape.routing import Itinerary
from nkescape.routing.build import Built, betrayal_rows, build_network, capture
from nkescape.routing.query import Query
from nkescape.simulate.step import LOGNORMAL, POINT, RANGE, Tables

__all__ = ["SHAPES", "JourneyModel", "journey_model"]

# Estimate shapes as kernel codes.
SHAPES = {"point": POINT, "range": RANGE, "lognormal": LOGNORMAL}


def _params(e: Estimate) -> tuple[int, float, float]:
    """(shape code, a, b): point (v, v), range (low, high), lognormal (mu, sigma)."""
    if e.shape == "point":
        assert e.value is not None
        return POINT, e.value, e.value
    if e.shape == "range":
        assert e.low is not None and e.high is not None
        return RANGE, e.low, e.high
    assert e.median is not None and e.p90 is not None
    mu, sigma = lognormal_mu_sigma(e.median, e.p90)
    return LOGNORMAL, mu, sigma


@dataclass(frozen=True, eq=False)
class JourneyModel:
    """Per-leg arrays (index k = k-th leg of the itinerary) and per-month factor tables."""

    legs: tuple[str, ...]
    start: dt.date
    month_starts: NDArray[np.float64]
    dur: NDArray[np.float64]  # (k, 3): shape code, a, b
    cost: NDArray[np.float64]
    p_int: NDArray[np.float64]
    dur_factor: NDArray[np.float64]  # (k, 12): expected-value ratio of this query to the base
    cost_factor: NDArray[np.float64]
    odds_factor: NDArray[np.float64]
    is_open: NDArray[np.bool_]  # (k, 12)
    p_back: NDArray[np.float64]  # (k,): caught on leg k -> sent back
    p_embassy: NDArray[np.float64]  # (k,): caught on leg k -> handed to the embassy
    p_killed: NDArray[np.float64]
    detention: NDArray[np.float64]  # (k,): expected days held when caught and not sent back
    wait_hazard: NDArray[np.float64]  # (k,): per day of waiting at the leg's start
    wait_cost: NDArray[np.float64]
    betrayal: NDArray[np.float64]  # (k, 3): robbed, turned in, sold, per brokered leg
    to_safe: NDArray[np.bool_]  # (k,)
    start_safe: bool
    not_before: NDArray[np.float64]  # (k,): day before which leg k is not started (planned waits)
    next_open: NDArray[
        np.int64
    ]  # (k, 12): months to wait from each month until leg k opens, -1 never
    month_of_day: NDArray[np.int64]  # month index since departure of each whole day
    # (k,): of those who get across leg k, the share wounded (mean; 0 where the atlas gives none).
    # Not drawn by the kernels: the summary reports it analytically (summary.wounded_if_safe).
    p_wounded: NDArray[np.float64] | None = None

    def month_index(self, days: NDArray[np.float64]) -> NDArray[np.int64]:
        """Months since the departure month at each day (months start on whole days)."""
        horizon = len(self.month_of_day) - 1
        out: NDArray[np.int64] = self.month_of_day[np.minimum(days, horizon).astype(np.int64)]
        return out

    @property
    def n_legs(self) -> int:
        return len(self.legs)

    def tables(self) -> Tables:
        """The arrays as the journey's rules read them (``step.Tables``)."""
        return Tables(
            month_starts=self.month_starts,
            month_of_day=self.month_of_day,
            # The calendar month (0-11) of each whole day since departure.
            calendar_of_day=(self.start.month - 1 + self.month_of_day) % 12,
            not_before=self.not_before,
            next_open=self.next_open,
            dur=self.dur,
            cost=self.cost,
            p_int=self.p_int,
            dur_factor=self.dur_factor,
            cost_factor=self.cost_factor,
            odds_factor=self.odds_factor,
            wait_hazard=self.wait_hazard,
            wait_cost=self.wait_cost,
            betrayal=self.betrayal,
            p_killed=self.p_killed,
            p_back=self.p_back,
            p_embassy=self.p_embassy,
            detention=self.detention,
            to_safe=self.to_safe,
        )


def _next_open(is_open: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For each leg and calendar month, months to wait until the leg is open (-1: never)."""
    out = np.full(is_open.shape, -1, dtype=np.int64)
    for step in range(11, -1, -1):  # the smallest wait wins, so it is written last
        opens = np.roll(is_open, -step, axis=1)
        out[opens] = step
    return out


def _ratio(new: NDArray[np.float64], base: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(base > 0, new / base, 1.0)
    return out


def journey_model(atlas: Atlas, query: Query, itinerary: Itinerary | list[str]) -> JourneyModel:
    """Arrays for simulating ``itinerary`` (or a list of leg ids) under ``query``."""
    built: Built = build_network(atlas, query)
    c = atlas.compiled
    if isinstance(itinerary, Itinerary):
        leg_ids, planned = [], []
        waited = False
        for step in itinerary.steps:
            if step.kind == "wait":
                waited = True
                continue
            assert step.leg is not None
            leg_ids.append(step.leg)
            # A wait the planner chose (for safer conditions) is kept: not before that day.
            planned.append(step.start_day if waited else 0.0)
            waited = False
    else:
        leg_ids, planned = list(itinerary), [0.0] * len(itinerary)
    not_before = np.array(planned, dtype=np.float64)
    js = [c.leg_index[leg_id] for leg_id in leg_ids]
    legs = [atlas.legs[leg_id] for leg_id in leg_ids]
    net = built.network
    # The planner's tables hold expected values for this query; the ratio to the atlas's own
    # expected values is what the query (season, events, group, funding, size) does to a leg.
    dur_factor = _ratio(net.days[:, js], np.array([[leg.duration_days.mean for leg in legs]]))
    cost_factor = _ratio(built.cost_total[:, js], np.array([[leg.cost_usd.mean for leg in legs]]))
    odds_factor = built.odds_factor[:, js]
    p_back = np.array([built.p_back[j] for j in js])
    captures = [capture(atlas, atlas.jurisdiction(leg.from_), query.date) for leg in legs]
    origin = c.place_index[query.origin]
    starts = [c.place_index[leg.from_] for leg in legs]
    return JourneyModel(
        legs=tuple(leg_ids),
        start=query.date,
        month_starts=np.asarray(net.calendar.month_starts),
        dur=np.array([_params(leg.duration_days) for leg in legs], dtype=np.float64),
        cost=np.array([_params(leg.cost_usd) for leg in legs], dtype=np.float64),
        p_int=np.array([_params(leg.p_intercept) for leg in legs], dtype=np.float64),
        dur_factor=dur_factor.T.copy(),
        cost_factor=cost_factor.T.copy(),
        odds_factor=odds_factor.T.copy(),
        is_open=net.open[:, js].T.copy(),
        p_back=p_back,
        p_embassy=np.array([x.p_embassy for x in captures]),
        p_killed=np.array([x.p_killed for x in captures]),
        detention=np.array([x.detention_days for x in captures]),
        wait_hazard=np.array(
            [0.0 if s == origin else float(net.wait_risk_per_day[s]) for s in starts]
        ),
        wait_cost=np.array([float(net.wait_cost_per_day[s]) for s in starts]),
        betrayal=betrayal_rows(built.actor, legs),
        to_safe=np.array([bool(net.safe[c.place_index[leg.to]]) for leg in legs]),
        start_safe=bool(net.safe[origin]),
        not_before=not_before,
        next_open=_next_open(net.open[:, js].T),
        month_of_day=np.repeat(
            np.arange(len(net.calendar.month_starts) - 1),
            np.diff(net.calendar.month_starts).astype(np.int64),
        ),
        p_wounded=np.array(
            [0.0 if leg.p_wounded is None else leg.p_wounded.mean for leg in legs],
            dtype=np.float64,
        ),
    )
