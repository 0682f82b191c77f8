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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Actor, Atlas, CountryPolicy, Event, Leg
from nkescape.atlas.estimate import scale_odds
from nkescape.routing.network import Calendar, Network
from nkescape.routing.query import PlanError, Query

__all__ = ["Built", "build_network", "events_in_force", "p_sent_back"]

# Operators whose prices a funding actor's price factor applies to; travellers pay their own way
# on legs they run themselves, and state transfers cost them nothing.
_BROKERED = frozenset({"broker", "guide", "driver", "boatman", "ngo"})


def p_sent_back(
    atlas: Atlas, country: str, year: int, _seen: frozenset[str] = frozenset()
) -> float:
    """Probability that a person caught in ``country`` ends up returned, deported back or killed.

    Outcome means are normalised to sum to one; deportation onward counts with the probability
    that the receiving country sends the person back in turn.
    """
    policy = atlas.policy_for(country, year)
    if policy is None:
        return 1.0
    items = {name: p.mean for name, p in policy.outcomes.items()}
    total = sum(items.values()) or 1.0
    bad = items.get("repatriated", 0.0) + items.get("killed", 0.0)
    onward = items.get("deported_onward", 0.0)
    if onward and policy.deported_to is not None and country not in _seen:
        bad += onward * p_sent_back(atlas, policy.deported_to, year, _seen | {country})
    elif onward:
        bad += onward
    return min(1.0, bad / total)


@dataclass(frozen=True, eq=False)
class Built:
    """A Network and what is needed to explain its numbers."""

    network: Network
    query: Query
    year: int
    actor: Actor
    events: tuple[Event, ...]
    p_intercept: NDArray[np.float64]
    p_back: NDArray[np.float64]
    cost_total: NDArray[np.float64]
    leg_events: dict[int, list[str]]


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

    For planning (``history`` false) that is every event in force that the legs' figures do not
    already include. For history (the flow model) the legs' figures describe the world after the
    lasting ``in_baseline`` events, so before such an event's date its factors are undone (power
    -1), and from its date only its closures hold (power 0); a baseline event with an end date
    was temporary, so it applies while it lasts. Undoing cannot reopen a leg an event closed:
    the leg's own years already say when it ran.
    """
    out: list[tuple[Event, int]] = []
    for event in atlas.events.values():
        if not event.in_baseline:
            if event.active(day):
                out.append((event, 1))
        elif history:
            if event.until is not None:
                if event.active(day):
                    out.append((event, 1))
            elif day < event.date:
                out.append((event, -1))
            else:
                # Its factors are in the legs' figures already, but a closure still holds.
                out.append((event, 0))
    return tuple(out)


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
    p_int = c.p_intercept.copy()
    is_open = np.stack([c.usable(year, m) for m in range(1, 13)])

    in_force = events_in_force(atlas, query.date, history=query.history)
    # Only events that have happened are reported as in force.
    events = tuple(event for event, power in in_force if power > 0)
    leg_events: dict[int, list[str]] = {}
    for event, power in in_force:
        for effect in event.effects:
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
            for hit_leg in np.flatnonzero(hit).tolist():
                leg_events.setdefault(hit_leg, []).append(f"{event.name}: {effect.note}")
            if effect.closes and power >= 0:
                is_open[:, hit] = False
            for factor, table in ((effect.duration_factor, days), (effect.cost_factor, cost)):
                if factor is not None:
                    table[:, hit] *= factor.mean**power
            if effect.p_intercept_factor is not None:
                p_int[:, hit] = scale_odds(p_int[:, hit], effect.p_intercept_factor.mean**power)

    for j, leg in enumerate(legs):
        for g in leg.group:
            n = group.count(g.who)
            if n == 0:
                continue
            for factor, table in ((g.duration_factor, days), (g.cost_factor, cost)):
                if factor is not None:
                    table[:, j] *= factor.mean**n
            if g.p_intercept_factor is not None:
                p_int[:, j] = scale_odds(p_int[:, j], g.p_intercept_factor.mean**n)
        if leg.operator in _BROKERED:
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

    countries = [atlas.places[leg.from_].country for leg in legs]
    back = np.array([p_sent_back(atlas, country, year) for country in countries])
    p_fail = np.minimum(p_int * back, 1.0 - 1e-12)
    # Paying later from resettlement money: nothing changes hands up front on brokered legs.
    upfront = cost.copy()
    if actor.pay_later:
        upfront[:, [j for j, leg in enumerate(legs) if leg.operator in _BROKERED]] = 0.0

    n_places = c.n_places
    safe = np.array([atlas.is_safe(p.country, year) for p in atlas.places.values()])
    wait_ok = np.zeros(n_places, dtype=np.bool_)
    wait_risk = np.zeros(n_places)
    wait_cost = np.zeros(n_places)
    for i, place in enumerate(atlas.places.values()):
        policy: CountryPolicy | None = atlas.policy_for(place.country, year)
        if policy is None or policy.hiding is None:
            continue
        caught = policy.hiding.p_caught_per_day.mean * p_sent_back(atlas, place.country, year)
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
        cost=upfront,
        risk=-np.log1p(-p_fail),
        open=is_open,
        safe=safe,
        wait_ok=wait_ok,
        wait_risk_per_day=wait_risk,
        wait_cost_per_day=wait_cost,
        calendar=Calendar(query.date),
    )
    assert n_legs == network.n_legs
    return Built(network, query, year, actor, events, p_int, back, cost, leg_events)
