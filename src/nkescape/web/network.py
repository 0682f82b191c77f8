"""The network on one date, for the dashboard's map: every leg's figures in that month and year.

The figures are the planner's own: ``build_network`` gives each leg's month table after the
season, the events in force on the date and the funding's prices, for one woman paying a broker
(the planner's default question). This module only reads them out for the date's month and says
in words why a leg is out of use; it applies no season or event rule of its own.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from nkescape.atlas import Atlas, Estimate, Leg
from nkescape.atlas.geo import leg_identity
from nkescape.routing.build import build_network, p_sent_back
from nkescape.routing.query import Query, check_year

__all__ = ["MONTHS", "network_on"]

# Month names, January first, for the page's month slider (the C locale's: English).
MONTHS: tuple[str, ...] = tuple(calendar.month_name[1:])


def _month_list(months: tuple[int, ...]) -> str:
    return ", ".join(calendar.month_abbr[m] for m in months)


def _band(mid: float, estimate: Estimate) -> dict[str, float]:
    """A leg's figure in the month (``mid``, the planner's) with the band a plan shows with it."""
    low, high = estimate.band_around(mid)
    return {"low": low, "mid": mid, "high": high}


def _sources(leg: Leg, month: int) -> list[str]:
    out = list(leg.source)
    for estimate in (leg.duration_days, leg.cost_usd, leg.p_intercept):
        out += [s for s in estimate.source if s not in out]
    for effect in leg.seasonal:
        if month in effect.months:
            out += [s for s in effect.source if s not in out]
    return out


def network_on(atlas: Atlas, day: dt.date) -> dict[str, Any]:
    """Every leg, place and event in force on ``day``, as the map shows them.

    Raises
    ------
    PlanError
        For a date outside the years the atlas covers.

    Examples
    --------
    >>> from nkescape.atlas import toy_atlas
    >>> legs = {leg["id"]: leg for leg in network_on(toy_atlas(), dt.date(2017, 7, 1))["legs"]}
    >>> legs["river-wade"]["in_use"], legs["river-ice"]["why_not"]
    (True, 'not used in July (used in Dec, Jan, Feb)')
    """
    check_year(day.year, f"date: {day.isoformat()}")
    c = atlas.compiled
    query = Query.of_legs(day, c.place_ids[0])
    built = build_network(atlas, query)
    net = built.network
    m = day.month - 1
    year = day.year
    low, high = built.p_intercept_bounds
    # The closing effects in force, to name the ones among the events the builder says changed
    # a leg (it lists each event once per leg, with the notes of its effects there).
    closing = [(e.name, effect.note) for e in built.events for effect in e.effects if effect.closes]

    def shut_by(j: int) -> list[str]:
        entries = built.leg_events.get(j, [])
        return [
            f"{name}: {note}"
            for name, note in closing
            if any(entry.startswith(f"{name}: ") and note in entry for entry in entries)
        ]

    legs: list[dict[str, Any]] = []
    for j, leg_id in enumerate(c.leg_ids):
        leg = atlas.legs[leg_id]
        in_use = bool(net.open[m, j])
        why: list[str] = []
        if not in_use:
            if not c.year_from[j] <= year <= c.year_until[j]:
                span = leg.in_use
                assert span is not None  # a leg without years is in use in every year
                until = span.until if span.until is not None else "now"
                why.append(f"not in use in {year} (in use {span.start}-{until})")
            if not c.open_month[m, j]:
                why.append(
                    f"not used in {calendar.month_name[day.month]} "
                    f"(used in {_month_list(leg.months)})"
                )
            if not why:
                why.append("shut by " + "; ".join(shut_by(j) or ["an event in force"]))
        notes = [e.note for e in leg.seasonal if day.month in e.months]
        legs.append(
            {
                **leg_identity(leg),
                "years": {
                    "from": leg.in_use.start if leg.in_use else None,
                    "until": leg.in_use.until if leg.in_use else None,
                },
                "in_use": in_use,
                "why_not": "; ".join(why) if why else None,
                "p_intercept": {
                    "low": float(low[m, j]),
                    "mid": float(built.p_intercept[m, j]),
                    "high": float(high[m, j]),
                },
                "p_sent_back_if_caught": float(built.p_back[j]),
                "days": _band(float(net.days[m, j]), leg.duration_days),
                "cost_usd": _band(float(built.cost_total[m, j]), leg.cost_usd),
                "season": " ".join(notes) if notes else None,
                "events": list(built.leg_events.get(j, [])),
                "sources": _sources(leg, day.month),
            }
        )
    places = []
    for place in atlas.places.values():
        # Whose rules hold there: a post abroad is under the North's (Atlas.jurisdiction).
        rules = atlas.jurisdiction(place.id)
        policy = atlas.policy_for(rules, day)
        places.append(
            {
                "id": place.id,
                "name": place.name,
                "country": place.country,
                "kind": place.kind,
                "lat": place.lat,
                "lon": place.lon,
                "region": place.region,
                "note": place.note,
                "safe": atlas.is_safe(rules, day),
                "policy": policy.id if policy is not None else None,
                "p_sent_back_if_caught": p_sent_back(atlas, rules, day),
                "sources": list(place.source),
            }
        )
    events = [
        {
            "id": e.id,
            "name": e.name,
            "date": e.date.isoformat(),
            "until": e.until.isoformat() if e.until else None,
            "description": e.description,
            "effects": [effect.note for effect in e.effects],
            "sources": list(e.source),
        }
        for e in built.events
    ]
    return {
        "date": day.isoformat(),
        "month": day.month,
        "year": year,
        "basis": query.to_json(),
        "legs": legs,
        "places": places,
        "events": events,
        "departure_notes": list(built.departure_notes),
    }
