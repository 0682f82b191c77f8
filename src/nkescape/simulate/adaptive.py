"""Adaptive journeys: at each place a group takes the planner's best next move for its month.

The policy is a table, place by calendar month: the first move (a leg, or waiting a month) of
the top-ranked itinerary the planner finds from that place to the destination when setting out
on the first of that month. A journey follows it from wherever it is, so when a leg is closed in
its month (ice gone, route shut by an event) it takes the next best way. The budget is not
tracked per journey: the table is built for the question's budget as a whole.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas
from nkescape.routing.build import build_network
from nkescape.routing.query import Query
from nkescape.routing.search import WAIT, pareto_search
from nkescape.simulate.kernel import RULES, Chunk
from nkescape.simulate.model import JourneyModel, journey_model
from nkescape.simulate.step import ACTIVE, DESTINATION, HIDING, LOGNORMAL

__all__ = ["NO_MOVE", "Policy", "adaptive_policy", "run_adaptive_chunk", "run_adaptive_draws"]

# In the policy table: no way on from this place in this month.
NO_MOVE = -2
# A journey that has not arrived after this many moves is counted as stranded in hiding; real
# itineraries have under 20 legs and at most a year of monthly waits.
MAX_MOVES = 64


@dataclass(frozen=True, eq=False)
class Policy:
    """``move[place, month - 1]``: leg index, ``WAIT`` or ``NO_MOVE``; and the model of all legs."""

    move: NDArray[np.int64]
    model: JourneyModel
    leg_to: NDArray[np.int64]
    origin: int
    destination: int
    safe: NDArray[np.bool_]
    wait_hazard: NDArray[np.float64]  # per place: -log survival per day of hiding
    wait_cost: NDArray[np.float64]  # per place: US$ per day of hiding, whole group
    p_killed: NDArray[np.float64]  # per place: caught there -> killed (its country's policy)
    p_back: NDArray[np.float64]  # per place: caught there -> sent back, the killed included


def adaptive_policy(atlas: Atlas, query: Query) -> Policy:
    """The planner's best first move from every place, for each calendar month."""
    c = atlas.compiled
    target = c.place_index[query.destination]
    move = np.full((c.n_places, 12), NO_MOVE, dtype=np.int64)
    for month in range(1, 13):
        year = query.date.year if month >= query.date.month else query.date.year + 1
        q = replace(query, date=dt.date(year, month, 1))
        net = build_network(atlas, q).network
        for place in range(c.n_places):
            if place == target:
                continue
            # Waiting is free only at the journey's own origin; build_network set that for the
            # question's origin, and elsewhere the country's hiding figures apply.
            found = pareto_search(
                net,
                place,
                target,
                max_days=q.max_days if q.max_days is not None else math.inf,
            )
            if not found:
                continue
            best = min(
                found,
                key=lambda lab: (-(math.exp(-lab.risk_safe) if lab.safe else 0.0), lab.t, lab.cost),
            )
            moves = best.moves()
            if moves:
                move[place, month - 1] = moves[0][1]
    model = journey_model(atlas, query, list(c.leg_ids))
    # The funding actor's betrayal rates are per journey; the fixed-itinerary model spreads them
    # over the itinerary's brokered legs. Here the route is not fixed, so they are spread over
    # the brokered legs of the route the policy sets out on, which journeys mostly keep to.
    brokered = np.asarray(model.betrayal.any(axis=1), dtype=np.bool_)
    leg_to = c.leg_to.astype(np.int64)
    route = _route_from(move, leg_to, c.place_index[query.origin], target, query.date)
    n_route = max(1, int(sum(brokered[j] for j in route)))
    model = replace(model, betrayal=model.betrayal * brokered.sum() / n_route)
    net = build_network(atlas, query).network
    # A leg's capture figures are those of the country it starts from: the place's own.
    p_killed, p_back = np.zeros(c.n_places), np.zeros(c.n_places)
    p_killed[c.leg_from], p_back[c.leg_from] = model.p_killed, model.p_back
    return Policy(
        move=move,
        model=model,
        leg_to=leg_to,
        origin=c.place_index[query.origin],
        destination=target,
        safe=net.safe,
        wait_hazard=net.wait_risk_per_day,
        wait_cost=net.wait_cost_per_day,
        p_killed=p_killed,
        p_back=p_back,
    )


def _route_from(
    move: NDArray[np.int64], leg_to: NDArray[np.int64], origin: int, target: int, day: dt.date
) -> list[int]:
    """Legs the policy takes from ``origin``, months advancing only when it waits."""
    legs: list[int] = []
    place, month = origin, day.month - 1
    for _ in range(MAX_MOVES):
        j = int(move[place, month])
        if j == NO_MOVE or place == target:
            break
        if j == WAIT:
            month = (month + 1) % 12
            continue
        legs.append(j)
        place = int(leg_to[j])
    return legs


# A kernel's source of draws: for move ``m``, the journeys (indices) ``go`` setting out on legs
# ``j``, the leg's draws in ``step.DRAWS`` order; and for the journeys ``waits`` waiting a month,
# (found while hiding, the capture's outcome).
LegDraws = Callable[[int, NDArray[np.int64], NDArray[np.int64]], tuple[Any, ...]]
WaitDraws = Callable[[int, NDArray[np.int64]], tuple[Any, Any]]


def run_adaptive_chunk(
    policy: Policy, n: int, rng: np.random.Generator
) -> tuple[Chunk, NDArray[np.int64]]:
    """Simulate ``n`` adaptive journeys; return the chunk and how many journeys took each leg."""
    model = policy.model

    def leg(move: int, go: NDArray[np.int64], j: NDArray[np.int64]) -> tuple[Any, ...]:
        return (
            rng.random(go.size),
            *(_estimate_draw(rng, params[j, 0]) for params in (model.dur, model.cost, model.p_int)),
            rng.random(go.size),
            rng.random(go.size),
            rng.random(go.size),
        )

    def wait(move: int, waits: NDArray[np.int64]) -> tuple[Any, Any]:
        return rng.random(waits.size), rng.random(waits.size)

    return run_adaptive_draws(policy, n, leg, wait)


def run_adaptive_draws(
    policy: Policy, n: int, leg_draws: LegDraws, wait_draws: WaitDraws
) -> tuple[Chunk, NDArray[np.int64]]:
    """``n`` adaptive journeys drawing from ``leg_draws`` and ``wait_draws``: the chunk and how
    many journeys took each leg.

    A move along a leg follows the rules of ``step`` (as every kernel does), with the leg
    chosen per journey; a month's wait in place risks being found as hiding does there."""
    model = policy.model
    m = model.tables()
    ms = model.month_starts
    start0 = model.start.month - 1
    last = len(ms) - 1
    place = np.full(n, policy.origin, dtype=np.int64)
    t = np.zeros(n)
    cost = np.zeros(n)
    status = np.full(n, ACTIVE, dtype=np.int8)
    end_leg = np.full(n, -1, dtype=np.int16)
    t_safe = np.zeros(n) if policy.safe[policy.origin] else np.full(n, np.nan)
    taken = np.zeros(model.n_legs, dtype=np.int64)
    for move in range(MAX_MOVES):
        a = np.flatnonzero(status == ACTIVE)
        if a.size == 0:
            break
        idx = model.month_index(t[a])
        month = (start0 + idx) % 12
        mv = policy.move[place[a], month]
        stuck = mv == NO_MOVE
        status[a[stuck]] = HIDING
        waits = a[mv == WAIT]
        if waits.size:
            at = place[waits]
            nxt = ms[np.minimum(idx[mv == WAIT] + 1, last)]
            u_found, u_outcome = wait_draws(move, waits)
            found = RULES.found_hiding(u_found, policy.wait_hazard[at], nxt - t[waits])
            outcome = RULES.hiding_outcome(u_outcome, policy.p_killed[at], policy.p_back[at])
            cost[waits] += (nxt - t[waits]) * policy.wait_cost[at]
            t[waits] = nxt
            status[waits] = np.where(found, outcome, ACTIVE)
        go = a[mv >= 0]
        if go.size == 0:
            continue
        j = mv[mv >= 0]
        taken += np.bincount(j, minlength=model.n_legs)
        with np.errstate(divide="ignore", invalid="ignore"):
            new, t[go], cost[go], t_safe[go] = RULES.leg(
                m, j, t[go], cost[go], t_safe[go], *leg_draws(move, go, j)
            )
        stopped = new != ACTIVE
        status[go] = new
        end_leg[go[stopped]] = j[stopped]
        arrive = go[~stopped]
        place[arrive] = policy.leg_to[j[~stopped]]
        status[arrive[place[arrive] == policy.destination]] = DESTINATION
    # Still moving after MAX_MOVES: stranded, in hiding.
    status[status == ACTIVE] = HIDING
    return Chunk(RULES.finish(status, t_safe).astype(np.int8), end_leg, t_safe, t, cost), taken


def _estimate_draw(rng: np.random.Generator, codes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each journey's draw for an estimate of shape ``codes`` (per journey): a normal for a
    lognormal, else a uniform (a point ignores it)."""
    return np.where(codes == LOGNORMAL, rng.standard_normal(len(codes)), rng.random(len(codes)))
