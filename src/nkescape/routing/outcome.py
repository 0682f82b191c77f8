"""What becomes of a group that sets out on an itinerary, in expectation: the planner's figures.

The search ranks itineraries by criteria that add along a path (days, money up front, -log
survival). What it reports for each is computed here, leg by leg, with the same account of a
journey as the simulator's (``nkescape.simulate.kernel``): interception on odds with its spread,
broker betrayal spread over the legs run by hired hands, what the policy of the country of
capture does (sent back, killed, handed to an embassy, released after detention), the risk and
cost of waiting in hiding, and the price of every leg a group sets out on. The simulator's means
agree with these figures within sampling error, up to one approximation, stated in
``docs/design.md``: here every journey reaches each leg on the planner's day, while simulated
durations vary, so a journey that runs late can meet a later month's conditions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas
from nkescape.routing.build import Built, Capture, betrayal_rows, capture
from nkescape.routing.search import WAIT

__all__ = ["Outcome", "expected_outcomes"]


@dataclass(frozen=True)
class Outcome:
    """Expected figures of one itinerary for a group that sets out on it.

    ``days`` and ``days_to_safety`` are means among the journeys that get there (a capture that
    ends with the group handed to an embassy counts as reaching the destination after its
    detention); ``cost_usd`` is the mean price of the legs and waits a group uses before it
    arrives or its journey ends, whoever pays and whenever, so it is lower than the itinerary's
    full price when journeys end early.
    """

    p_reach_safety: float
    p_reach_destination: float
    days: float | None
    days_to_safety: float | None
    cost_usd: float


def expected_outcomes(
    atlas: Atlas,
    built: Built,
    moves: Iterable[tuple[int, int, float]],
    p_intercepts: Sequence[NDArray[np.float64]] | None = None,
) -> tuple[Outcome, ...]:
    """The expected figures of the walk ``moves`` ((place, leg or WAIT, start day) in order).

    One ``Outcome`` per table of interception probabilities in ``p_intercepts`` ((12, legs)
    each; by default the query's means alone), e.g. the means and the estimates' bounds for a
    band: the legs' betrayal and capture figures are looked up once for all of them.
    """
    c = atlas.compiled
    steps = list(moves)
    legs = [atlas.legs[c.leg_ids[move]] for _, move, _ in steps if move != WAIT]
    betrayal = betrayal_rows(built.actor, legs)
    captures = [capture(atlas, atlas.jurisdiction(leg.from_), built.query.date) for leg in legs]
    tables = (built.p_intercept,) if p_intercepts is None else tuple(p_intercepts)
    return tuple(_walk(atlas, built, steps, betrayal, captures, table) for table in tables)


def _walk(
    atlas: Atlas,
    built: Built,
    steps: list[tuple[int, int, float]],
    betrayal: NDArray[np.float64],
    captures: list[Capture],
    p_table: NDArray[np.float64],
) -> Outcome:
    c = atlas.compiled
    net = built.network
    cal = net.calendar
    safe = bool(net.safe[c.place_index[built.query.origin]])
    alive = 1.0  # share of journeys still under way
    delay = 0.0  # E[days of detention so far; 0 for journeys that ended]: released groups go on
    p_safe = 1.0 if safe else 0.0
    safe_days = 0.0  # sum over journeys of their day of reaching safety, as a share
    p_dest = dest_days = 0.0
    cost = 0.0
    k = 0
    t_end = 0.0
    waiting: float | None = None  # the share under way when the present run of waits began
    for node, move, t in steps:
        if move == WAIT:
            t_next = cal.next_start(t)
            d = (t_next if t_next is not None else t) - t
            # A wait is paid in full by all who start it, found or not, as in the simulator.
            waiting = alive if waiting is None else waiting
            cost += waiting * d * float(net.wait_cost_per_day[node])
            found = -math.expm1(-d * float(net.wait_risk_per_day[node]))
            alive *= 1.0 - found
            delay *= 1.0 - found
            t_end = t + d
            continue
        waiting = None
        m = cal.month(t) - 1
        caught_here = captures[k]
        robbed, turned, sold = (float(x) for x in betrayal[k])
        k += 1
        p = float(p_table[m, move])
        held = caught_here.p_back + caught_here.p_embassy  # the shares of a capture that end it
        caught = p + turned - p * turned
        betrayed = robbed + sold  # stranded in hiding, unless also caught and that ends it
        cost += alive * float(built.cost_total[m, move])
        embassy = caught * caught_here.p_embassy
        # Handed to the embassy: at the destination after detention, and safe from then on.
        arrive = alive * embassy
        arrive_days = arrive * (t + caught_here.detention_days) + embassy * delay
        p_dest += arrive
        dest_days += arrive_days
        if not safe:
            p_safe += arrive
            safe_days += arrive_days
        going_on = 1.0 - caught * held - betrayed * (1.0 - p * held)
        released = (caught - betrayed * p) * (1.0 - held)
        delay = delay * going_on + alive * released * caught_here.detention_days
        alive *= going_on
        t_end = t + float(net.days[m, move])
        if not safe and net.safe[int(net.leg_to[move])]:
            safe = True
            p_safe += alive
            safe_days += alive * t_end + delay
    p_dest += alive
    dest_days += alive * t_end + delay
    return Outcome(
        p_reach_safety=min(1.0, p_safe),
        p_reach_destination=min(1.0, p_dest),
        days=dest_days / p_dest if p_dest > 0 else None,
        days_to_safety=safe_days / p_safe if p_safe > 0 else None,
        cost_usd=cost,
    )
