"""The Monte Carlo kernel: a chunk of journeys along one itinerary, vectorised over journeys.

The only Python loop is over the itinerary's legs; every draw and update is an array operation on
the journeys still under way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas.estimate import scale_odds
from nkescape.simulate.model import JourneyModel

__all__ = ["OUTCOMES", "Chunk", "hiding_capture", "leg_end", "run_chunk"]

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


@dataclass(frozen=True, eq=False)
class LegEnd:
    """How the journeys on a leg fare: betrayed, and what follows a capture."""

    betrayed: NDArray[np.bool_]  # robbed or sold: stranded in hiding
    killed: NDArray[np.bool_]
    sent_back: NDArray[np.bool_]
    embassy: NDArray[np.bool_]
    released: NDArray[np.bool_]

    def status(self) -> NDArray[np.int8]:
        """Each journey's status after the leg (ACTIVE if it goes on)."""
        out = np.full(len(self.killed), ACTIVE, dtype=np.int8)
        out[self.betrayed] = HIDING
        out[self.embassy] = DESTINATION
        out[self.sent_back] = REPATRIATED
        out[self.killed] = DEAD
        return out


def leg_end(
    rng: np.random.Generator,
    p_caught: NDArray[np.float64],
    betrayal: NDArray[np.float64],
    p_killed: NDArray[np.float64] | float,
    p_back: NDArray[np.float64] | float,
    p_embassy: NDArray[np.float64] | float,
    going: NDArray[np.bool_] | None = None,
) -> LegEnd:
    """Draw captures, betrayal (``betrayal``: robbed, turned in, sold, per journey or one row)
    and the caught-country policy's outcome for each journey on a leg; shared by both kernels.

    ``going``: which journeys set out on the leg (default all). The others (found while waiting
    for it, or stranded because it never opens) are neither caught on it nor betrayed on it, and
    get no outcome draw."""
    n = len(p_caught)
    caught = rng.random(n) < p_caught
    robbed, turned, sold = (betrayal[..., i] for i in range(3))
    betrayed = np.zeros(n, dtype=bool)
    if np.any(robbed + turned + sold > 0):
        u = rng.random(n)
        betrayed = (u < robbed) | ((u >= robbed + turned) & (u < robbed + turned + sold))
        caught |= (u >= robbed) & (u < robbed + turned)
    if going is not None:
        caught &= going
        betrayed &= going
    # Only the caught need an outcome draw; the others keep v = 1, above every threshold.
    v = np.ones(n)
    v[caught] = rng.random(int(caught.sum()))
    killed = caught & (v < p_killed)
    sent_back = caught & ~killed & (v < p_back)
    embassy = caught & ~killed & ~sent_back & (v < np.add(p_back, p_embassy))
    released = caught & ~killed & ~sent_back & ~embassy
    return LegEnd(betrayed, killed, sent_back, embassy, released)


def hiding_capture(
    rng: np.random.Generator,
    n: int,
    p_killed: NDArray[np.float64] | float,
    p_back: NDArray[np.float64] | float,
) -> NDArray[np.int8]:
    """The status of ``n`` journeys found while hiding in a country whose policy kills a share
    ``p_killed`` of those it catches and sends back (killed included) a share ``p_back``.

    The daily risk of hiding (``JourneyModel.wait_hazard``, the planner's) is of a capture that
    ends in a return or a death, so that policy decides only between the two: the killed's
    share of the returned and killed. Nobody found is handed to an embassy or released."""
    out = np.full(n, REPATRIATED, dtype=np.int8)
    if np.any(np.greater(p_killed, 0)):
        out[rng.random(n) * p_back < p_killed] = DEAD
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
    month_index = model.month_index

    for k in range(model.n_legs):
        a = np.flatnonzero(status == ACTIVE)
        if a.size == 0:
            break
        ta = np.maximum(t[a], model.not_before[k])
        idx = month_index(ta)
        off = model.next_open[k][(start0 + idx) % 12]
        never = off < 0
        later = off > 0
        ta[later] = ms[np.minimum(idx[later] + off[later], last)]
        waited = ta - t[a]
        cost[a] += waited * model.wait_cost[k]
        # Draws that cannot change anything are skipped: no one waited, nobody can betray. A
        # journey stranded by a leg that never opens is not at risk of capture at all.
        if model.wait_hazard[k] > 0 and waited.any():
            found = rng.random(a.size) < -np.expm1(-model.wait_hazard[k] * waited)
            found &= ~never
        else:
            found = np.zeros(a.size, dtype=bool)
        month = (start0 + month_index(ta)) % 12

        d = _draw(model.dur[k], rng, a.size) * model.dur_factor[k, month]
        c = _draw(model.cost[k], rng, a.size) * model.cost_factor[k, month]
        p = _draw(model.p_int[k], rng, a.size)
        p = scale_odds(p, model.odds_factor[k, month])
        stays = found | never  # did not set out on the leg
        end = leg_end(
            rng,
            p,
            model.betrayal[k],
            model.p_killed[k],
            model.p_back[k],
            model.p_embassy[k],
            going=~stays,
        )
        embassy, released = end.embassy, end.released
        new_status = end.status()
        new_status[never] = HIDING
        if found.any():
            new_status[found] = hiding_capture(
                rng, int(found.sum()), model.p_killed[k], model.p_back[k]
            )
        stopped = new_status != ACTIVE
        cost[a] += np.where(stays, 0.0, c)
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
