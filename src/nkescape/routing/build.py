"""Turn an atlas and a question into a routing Network: figures for this group, date and funding.

Each leg's month table is taken from the compiled atlas and multiplied by what the question brings:
events in force on the departure date (unless the legs' figures already include them), the
group's effects, the funding actor's price factor and the group's size. A leg's interception
probability becomes a probability of being sent back through the policy of the country where
the leg starts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Actor, Atlas, CountryPolicy, Estimate, Event, EventEffect, Leg
from nkescape.atlas.estimate import odds as odds_of
from nkescape.atlas.estimate import scale_odds
from nkescape.routing.network import Calendar, Network
from nkescape.routing.query import PlanError, Query

__all__ = [
    "BETRAYING_OPERATORS",
    "Built",
    "Capture",
    "betrayal_rows",
    "build_network",
    "capture",
    "events_in_force",
    "expected_scaled",
    "p_sent_back",
]

# Operators whose prices a funding actor's price factor applies to (and whom a pay-later
# arrangement pays later); travellers pay their own way on legs they run themselves, and state
# transfers cost them nothing.
_PRICED = frozenset({"broker", "guide", "driver", "boatman", "ngo"})
# Operators through whom the funding actor's betrayal (robbed, turned in, sold) can strike: the
# hired hands. An NGO's own staff and state transfers do not sell the people they move.
BETRAYING_OPERATORS = frozenset({"broker", "guide", "driver", "boatman"})


def p_sent_back(
    atlas: Atlas, country: str, day: dt.date, _seen: frozenset[str] = frozenset()
) -> float:
    """Probability that a person caught in ``country`` ends up returned, deported back or killed.

    Outcome means are normalised to sum to one; deportation onward counts with the probability
    that the receiving country sends the person back in turn.
    """
    policy = atlas.policy_for(country, day)
    if policy is None:
        return 1.0
    items = {name: p.mean for name, p in policy.outcomes.items()}
    total = sum(items.values()) or 1.0
    bad = items.get("repatriated", 0.0) + items.get("killed", 0.0)
    onward = items.get("deported_onward", 0.0)
    if onward and policy.deported_to is not None and country not in _seen:
        bad += onward * p_sent_back(atlas, policy.deported_to, day, _seen | {country})
    elif onward:
        bad += onward
    return min(1.0, bad / total)


@dataclass(frozen=True)
class Capture:
    """What a capture in a country leads to, as shares of those caught there.

    ``p_back`` counts returns, deaths and onward deportations that end in a return (see
    ``p_sent_back``); ``p_killed`` and ``p_embassy`` are the policy's own shares; the rest are
    released after ``detention_days`` and go on.
    """

    p_back: float
    p_killed: float
    p_embassy: float
    detention_days: float


def capture(atlas: Atlas, country: str, day: dt.date) -> Capture:
    """The expected outcome of being caught in ``country`` on ``day``; the planner's and the
    simulator's one account of it."""
    policy = atlas.policy_for(country, day)
    back = p_sent_back(atlas, country, day)
    if policy is None:
        return Capture(back, 0.0, 0.0, 0.0)
    items = {name: p.mean for name, p in policy.outcomes.items()}
    total = sum(items.values()) or 1.0
    return Capture(
        back,
        items.get("killed", 0.0) / total,
        items.get("handed_to_embassy", 0.0) / total,
        policy.detention_days.mean,
    )


def betrayal_rows(actor: Actor, legs: Sequence[Leg]) -> NDArray[np.float64]:
    """(legs, 3): the chance of being robbed, turned in and sold on each leg of an itinerary.

    The actor's reliability is per journey, so it is spread evenly over the itinerary's legs run
    by hired hands (``BETRAYING_OPERATORS``); legs run by others carry none.
    """
    hired = [leg.operator in BETRAYING_OPERATORS for leg in legs]
    share = 1.0 / max(1, sum(hired))
    r = actor.reliability
    row = np.array([r.robbed.mean, r.turned_in.mean, r.sold.mean]) * share
    return np.array([row if h else np.zeros(3) for h in hired], dtype=np.float64).reshape(-1, 3)


def expected_scaled(estimate: Estimate, factor: NDArray[np.float64]) -> NDArray[np.float64]:
    """``E[scale_odds(p, factor)]`` for ``p`` drawn from a probability ``estimate``.

    The simulator draws ``p`` and then moves its odds; the mean of that is not the moved mean
    (scale_odds is not linear), so the planner takes this expectation to agree with it. A range
    is uniform: the integral of ``p f / (1 + p g)``, ``g = f - 1``, over it in closed form.
    """
    f = np.asarray(factor, dtype=np.float64)
    if estimate.shape != "range":
        return scale_odds(estimate.mean, f)
    a, b = estimate.bounds
    if b - a < 1e-12:
        return scale_odds(a, f)
    g = f - 1.0
    # Where g is tiny the closed form cancels; scale_odds is then linear to O(g), so the value at
    # the middle is exact to far below any sampling error.
    small = np.abs(g) < 1e-4
    gs = np.where(small, 1.0, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = f / (b - a) * ((b - a) / gs - (np.log1p(b * gs) - np.log1p(a * gs)) / gs**2)
    out: NDArray[np.float64] = np.where(small, scale_odds((a + b) / 2, f), closed)
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Built:
    """A Network and what is needed to explain its numbers."""

    network: Network
    query: Query
    year: int
    actor: Actor
    events: tuple[Event, ...]
    # (12, legs): the mean interception probability under this query, E[scale_odds(p, odds)].
    p_intercept: NDArray[np.float64]
    # (12, legs): what the query (season, events, group) does to each leg's odds of interception.
    odds_factor: NDArray[np.float64]
    # (12, legs) twice: the estimates' lowest and highest interception, moved by ``odds_factor``.
    p_intercept_bounds: tuple[NDArray[np.float64], NDArray[np.float64]]
    p_back: NDArray[np.float64]
    # (12, legs): each leg's full price for the group, whoever pays it and whenever.
    cost_total: NDArray[np.float64]
    # (12, legs): the part of ``cost_total`` the group pays as it goes, and after arriving; a
    # sponsor pays the rest.
    cost_upfront: NDArray[np.float64]
    cost_later: NDArray[np.float64]
    # Per leg, one line for each event that changes it (its name and what it does there).
    leg_events: dict[int, list[str]]
    # What the events in force do beyond the legs (departures, repatriation from hiding).
    departure_notes: tuple[str, ...]


def funding_actor(atlas: Atlas, funding: str) -> Actor:
    """The atlas actor that stands for a kind of funding."""
    want = {
        "self": ("broker", False),
        "broker-later": ("broker", True),
        "ngo": ("ngo", None),
        "church": ("church-network", None),
    }[funding]
    for actor in atlas.actors.values():
        if actor.kind == want[0] and (want[1] is None or actor.pay_later == want[1]):
            return actor
    raise PlanError(f"the atlas has no actor for funding {funding!r} (add one to actors)")


def _targets(
    atlas: Atlas,
    leg: Leg,
    effect_legs: set[str],
    channels: set[str],
    modes: set[str],
    countries: set[str],
) -> bool:
    if leg.id in effect_legs or leg.mode in modes:
        return True
    if countries and (
        atlas.places[leg.from_].country in countries or atlas.places[leg.to].country in countries
    ):
        return True
    return bool(channels & atlas.entry_channels(leg.id))


def events_in_force(
    atlas: Atlas, day: dt.date, *, history: bool = False
) -> tuple[tuple[Event, int], ...]:
    """The events whose effects apply on ``day``, each with the power its factors take.

    An event not ``in_baseline`` applies while it is in force (power 1). The legs' figures
    describe the world after the lasting ``in_baseline`` events, so from such an event's date
    only its closures hold (power 0): a leg it shut stays shut from that day, for planning as for
    history (the May 2013 deportation from Laos ends the Vientiane handover on 10 May, not at the
    end of the leg's last year). A baseline event with an end date was temporary, so it applies
    while it lasts. Only history (the flow model) undoes a lasting one before its date (power
    -1); a plan for an earlier day takes the legs as the atlas gives them. Undoing cannot reopen
    a leg an event closed: the leg's own years already say when it ran.
    """
    out: list[tuple[Event, int]] = []
    for event in atlas.events.values():
        if not event.in_baseline or event.until is not None:
            if event.active(day):
                out.append((event, 1))
        elif day >= event.date:
            # Its factors are in the legs' figures already, but a closure still holds.
            out.append((event, 0))
        elif history:
            out.append((event, -1))
    return tuple(out)


def _changes_legs(effect: EventEffect) -> bool:
    """Whether an event's effect changes legs (rather than departures or people in hiding)."""
    return effect.closes or any(
        f is not None
        for f in (effect.duration_factor, effect.cost_factor, effect.p_intercept_factor)
    )


def build_network(atlas: Atlas, query: Query) -> Built:
    """The routing Network for ``query`` on ``atlas``."""
    c = atlas.compiled
    year = query.date.year
    legs = [atlas.legs[leg_id] for leg_id in c.leg_ids]
    n_legs = len(legs)
    group = query.group
    actor = funding_actor(atlas, query.funding)
    price = actor.price_factor.mean

    days = c.duration_days.copy()
    cost = c.cost_usd.copy()
    # Odds factors compose by multiplication; start from the season's, which the compiled table
    # applied to each leg's mean.
    base = np.array([leg.p_intercept.mean for leg in legs])
    inside = (base > 0.0) & (base < 1.0)
    odds = np.where(inside, odds_of(c.p_intercept) / np.where(inside, odds_of(base), 1.0), 1.0)
    is_open = np.stack([c.usable(year, m) for m in range(1, 13)])

    in_force = events_in_force(atlas, query.date, history=query.history)
    # Only events that have happened are reported as in force.
    events = tuple(event for event, power in in_force if power > 0)
    # Per leg, the events that change it, each once with the notes of its effects on the leg.
    leg_notes: dict[int, dict[str, list[str]]] = {}
    departure: list[str] = []
    for event, power in in_force:
        for effect in event.effects:
            line = f"{event.name}: {effect.note}"
            if power > 0 and not _changes_legs(effect) and line not in departure:
                # Departures, repatriation from hiding, airlifts: the flow model's, not a leg's.
                departure.append(line)
            if not _changes_legs(effect):
                continue
            hit = np.array(
                [
                    _targets(
                        atlas,
                        leg,
                        set(effect.legs),
                        set(effect.channels),
                        set(effect.modes),
                        set(effect.countries),
                    )
                    for leg in legs
                ]
            )
            if not hit.any():
                continue
            if power > 0 or (power == 0 and effect.closes):
                for hit_leg in np.flatnonzero(hit).tolist():
                    notes = leg_notes.setdefault(hit_leg, {}).setdefault(event.name, [])
                    if effect.note not in notes:
                        notes.append(effect.note)
            if effect.closes and power >= 0:
                is_open[:, hit] = False
            for factor, table in ((effect.duration_factor, days), (effect.cost_factor, cost)):
                if factor is not None:
                    table[:, hit] *= factor.mean**power
            if effect.p_intercept_factor is not None:
                odds[:, hit] *= effect.p_intercept_factor.mean**power

    for j, leg in enumerate(legs):
        for g in leg.group:
            n = group.count(g.who)
            if n == 0:
                continue
            for factor, table in ((g.duration_factor, days), (g.cost_factor, cost)):
                if factor is not None:
                    table[:, j] *= factor.mean**n
            if g.p_intercept_factor is not None:
                odds[:, j] *= g.p_intercept_factor.mean**n
        if leg.operator in _PRICED:
            cost[:, j] *= price
        blocked = (
            leg.from_ in query.avoid
            or leg.to in query.avoid
            or atlas.places[leg.from_].country in query.avoid
            or atlas.places[leg.to].country in query.avoid
            or not atlas.leg_allowed(leg.id, query.profile)
        )
        if blocked:
            is_open[:, j] = False
    cost *= group.size
    p_int = np.stack(
        [expected_scaled(leg.p_intercept, odds[:, j]) for j, leg in enumerate(legs)], 1
    )
    lows, highs = np.array([leg.p_intercept.bounds for leg in legs]).reshape(-1, 2).T
    bounds = (scale_odds(lows[None, :], odds), scale_odds(highs[None, :], odds))

    # Whose rules hold where each leg starts: a post abroad is under the North's.
    countries = [atlas.jurisdiction(leg.from_) for leg in legs]
    back = np.array([p_sent_back(atlas, country, query.date) for country in countries])
    p_fail = np.minimum(p_int * back, 1.0 - 1e-12)
    # On the legs the actor organises, a sponsor pays, or the group pays after arriving (from its
    # resettlement money); either way nothing changes hands up front.
    priced = [j for j, leg in enumerate(legs) if leg.operator in _PRICED]
    upfront, later = cost.copy(), np.zeros_like(cost)
    if actor.paid_by == "sponsor" or actor.pay_later:
        upfront[:, priced] = 0.0
    if actor.paid_by == "group" and actor.pay_later:
        later[:, priced] = cost[:, priced]

    n_places = c.n_places
    safe = np.array([atlas.is_safe(atlas.jurisdiction(p), query.date) for p in atlas.places])
    wait_ok = np.zeros(n_places, dtype=np.bool_)
    wait_risk = np.zeros(n_places)
    wait_cost = np.zeros(n_places)
    for i, place in enumerate(atlas.places):
        rules = atlas.jurisdiction(place)
        policy: CountryPolicy | None = atlas.policy_for(rules, query.date)
        if policy is None or policy.hiding is None:
            continue
        caught = policy.hiding.p_caught_per_day.mean * p_sent_back(atlas, rules, query.date)
        wait_ok[i] = True
        wait_risk[i] = -math.log1p(-min(caught, 1 - 1e-12))
        wait_cost[i] = policy.hiding.cost_usd_per_day.mean * group.size
    # Waiting at home before setting out costs nothing and risks nothing more than staying.
    origin = c.place_index[query.origin]
    wait_ok[origin], wait_risk[origin], wait_cost[origin] = True, 0.0, 0.0

    network = Network(
        indptr=c.indptr.astype(np.int64),
        out_legs=c.out_legs.astype(np.int64),
        leg_to=c.leg_to.astype(np.int64),
        days=days,
        # What the journey needs in hand as it goes, the group's or its sponsor's: the money an
        # itinerary is judged by and a budget limits. Paying later needs none of it now.
        cost=cost - later,
        risk=-np.log1p(-p_fail),
        open=is_open,
        safe=safe,
        wait_ok=wait_ok,
        wait_risk_per_day=wait_risk,
        wait_cost_per_day=wait_cost,
        calendar=Calendar(query.date),
    )
    assert n_legs == network.n_legs
    return Built(
        network,
        query,
        year,
        actor,
        events,
        p_int,
        odds,
        bounds,
        back,
        cost,
        upfront,
        later,
        {
            j: [f"{name}: {' '.join(notes)}" for name, notes in by.items()]
            for j, by in leg_notes.items()
        },
        tuple(departure),
    )
