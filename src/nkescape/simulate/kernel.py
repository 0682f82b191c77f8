"""The Monte Carlo kernel: a chunk of journeys along one itinerary, vectorised over journeys.

The only Python loop is over the itinerary's legs; every draw and update is an array operation on
the journeys still under way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.simulate.model import JourneyModel

__all__ = ["OUTCOMES", "Chunk", "run_chunk"]

OUTCOMES = ("reached-destination", "reached-safety", "repatriated", "in-hiding", "dead")
ACTIVE, DESTINATION, SAFETY, REPATRIATED, HIDING, DEAD = -1, 0, 1, 2, 3, 4


@dataclass(frozen=True, eq=False)
class Chunk:
    """Per-journey results of one chunk."""

    status: NDArray[np.int8]  # index into OUTCOMES
    end_leg: NDArray[np.int16]  # leg where the journey ended (-1: completed)
    days_to_safety: NDArray[np.float64]  # NaN if never safe
    days: NDArray[np.float64]  # days until the journey ended
    cost: NDArray[np.float64]  # US$ spent by the group


def _draw(params: NDArray[np.float64], rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    code, a, b = int(params[0]), float(params[1]), float(params[2])
    if code == 0:
        return np.full(n, a)
    if code == 1:
        return rng.uniform(a, b, n)
    return rng.lognormal(a, b, n)


def _next_open(is_open: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For each calendar month row, months to wait until the leg is open (-1: never)."""
    out = np.full(12, -1, dtype=np.int64)
    for m in range(12):
        for k in range(12):
            if is_open[(m + k) % 12]:
                out[m] = k
                break
    return out


def run_chunk(model: JourneyModel, n: int, rng: np.random.Generator) -> Chunk:
    """Simulate ``n`` journeys."""
    t = np.zeros(n)
    cost = np.zeros(n)
    status = np.full(n, ACTIVE, dtype=np.int8)
    end_leg = np.full(n, -1, dtype=np.int16)
    t_safe = np.zeros(n) if model.start_safe else np.full(n, np.nan)
    ms = model.month_starts
    start0 = model.start.month - 1
    last = len(ms) - 1
    # Months start on whole days, so the month of day t is a table lookup on floor(t): cheaper
    # than a binary search per journey and leg.
    month_of_day = np.repeat(np.arange(last), np.diff(ms).astype(np.int64))
    horizon = len(month_of_day) - 1

    def month_index(days: NDArray[np.float64]) -> NDArray[np.int64]:
        return month_of_day[np.minimum(days, horizon).astype(np.int64)]

    for k in range(model.n_legs):
        a = np.flatnonzero(status == ACTIVE)
        if a.size == 0:
            break
        ta = np.maximum(t[a], model.not_before[k])
        idx = month_index(ta)
        off = _next_open(model.is_open[k])[(start0 + idx) % 12]
        never = off < 0
        later = off > 0
        ta[later] = ms[np.minimum(idx[later] + off[later], last)]
        waited = ta - t[a]
        # Draws that cannot change anything are skipped: no one waited, nobody can betray.
        if model.wait_hazard[k] > 0 and waited.any():
            cost[a] += waited * model.wait_cost[k]
            found = rng.random(a.size) < -np.expm1(-model.wait_hazard[k] * waited)
        else:
            cost[a] += waited * model.wait_cost[k]
            found = np.zeros(a.size, dtype=bool)
        month = (start0 + month_index(ta)) % 12

        d = _draw(model.dur[k], rng, a.size) * model.dur_factor[k, month]
        c = _draw(model.cost[k], rng, a.size) * model.cost_factor[k, month]
        p = _draw(model.p_int[k], rng, a.size)
        f = model.odds_factor[k, month]
        p = np.where(p >= 1, 1.0, p * f / (1 - p + p * f))
        caught = rng.random(a.size) < p
        robbed, turned, sold = model.betrayal[k]
        if robbed + turned + sold > 0:
            u = rng.random(a.size)
            was_robbed = u < robbed
            was_turned_in = (u >= robbed) & (u < robbed + turned)
            was_sold = (u >= robbed + turned) & (u < robbed + turned + sold)
            caught |= was_turned_in
        else:
            was_robbed = was_sold = np.zeros(a.size, dtype=bool)

        v = np.ones(a.size)
        v[caught] = rng.random(int(caught.sum()))
        killed = caught & (v < model.p_killed[k])
        sent_back = caught & ~killed & (v < model.p_back[k])
        embassy = caught & ~killed & ~sent_back & (v < model.p_back[k] + model.p_embassy[k])
        released = caught & ~killed & ~sent_back & ~embassy

        new_status = np.full(a.size, ACTIVE, dtype=np.int8)
        new_status[was_robbed | was_sold] = HIDING
        new_status[embassy] = DESTINATION
        new_status[sent_back] = REPATRIATED
        new_status[killed] = DEAD
        new_status[found] = REPATRIATED
        new_status[never] = HIDING
        stopped = new_status != ACTIVE
        cost[a] += np.where(found | never, 0.0, c)
        t[a] = (
            ta
            + np.where(stopped & ~embassy, 0.0, d)
            + np.where(released | embassy, model.detention[k], 0.0)
        )
        status[a] = new_status
        end_leg[a[stopped]] = k
        safe_now = (new_status == ACTIVE) & model.to_safe[k] | embassy
        first = a[safe_now & np.isnan(t_safe[a])]
        t_safe[first] = t[first]
    status[status == ACTIVE] = DESTINATION
    # Ended short of the destination but after reaching a safe country (e.g. stranded there).
    status[(status != DESTINATION) & ~np.isnan(t_safe)] = SAFETY
    return Chunk(status, end_leg, t_safe, t, cost)
