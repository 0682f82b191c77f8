"""``plan()``: the Pareto set of itineraries for a person or group, explained leg by leg.

Figures are expected values from the atlas's estimates; each itinerary also carries a band from
the estimates' bounds. The simulator gives full distributions.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nkescape.atlas import Atlas
from nkescape.atlas.geo import leg_line
from nkescape.routing.build import Built, build_network
from nkescape.routing.network import HORIZON_MONTHS
from nkescape.routing.outcome import expected_outcomes
from nkescape.routing.query import DESTINATION, Funding, Group, PlanError, Query, check_year
from nkescape.routing.search import WAIT, Label, lower_bounds, pareto_search

__all__ = ["PLAN_FORMAT", "Itinerary", "Plan", "Step", "plan"]

# The layout of ``Plan.to_json``: raised when a key is renamed, removed or changes meaning.
PLAN_FORMAT = 1


@dataclass(frozen=True)
class Step:
    """One move of an itinerary: a leg, or waiting in hiding until the next month."""

    kind: str  # "leg" or "wait"
    leg: str | None
    name: str
    mode: str
    operator: str
    from_place: str
    to_place: str
    start_day: float
    date: dt.date
    month: int
    days: float
    cost_usd: float
    cost_upfront_usd: float
    cost_later_usd: float
    p_intercept: float
    p_intercept_range: tuple[float, float]
    p_sent_back: float
    if_caught: str
    notes: tuple[str, ...]
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "leg": self.leg,
            "name": self.name,
            "mode": self.mode,
            "operator": self.operator,
            "from": self.from_place,
            "to": self.to_place,
            "start_day": round(self.start_day, 2),
            "date": self.date.isoformat(),
            "month": self.month,
            "days": round(self.days, 2),
            "cost_usd": round(self.cost_usd, 2),
            "cost_upfront_usd": round(self.cost_upfront_usd, 2),
            "cost_later_usd": round(self.cost_later_usd, 2),
            "p_intercept": round(self.p_intercept, 5),
            "p_intercept_range": [round(x, 5) for x in self.p_intercept_range],
            "p_sent_back_if_caught": round(self.p_sent_back, 4),
            "if_caught": self.if_caught,
            "notes": list(self.notes),
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Itinerary:
    """A way from the origin to the destination with its figures (expected values and bands).

    For a group that sets out on it: ``p_reach_safety`` and ``p_reach_destination`` are the
    chances of reaching a country that does not send people back, and the destination;
    ``expected_days`` and ``expected_days_to_safety`` the mean days among those who get there;
    ``expected_cost_usd`` the mean price of what a group uses before it arrives or its journey
    ends (so below the full price when journeys end early). These are what the simulator's means
    estimate (``routing/outcome.py``). If everything goes as planned: ``days`` (waits included)
    and ``cost_usd``, the full price whoever pays, of which the group pays ``cost_upfront_usd`` as
    it goes and ``cost_later_usd`` after arriving, from resettlement money (pay-later brokers),
    and a sponsor (an NGO) pays ``cost_sponsor_usd``.
    """

    steps: tuple[Step, ...]
    p_reach_safety: float
    p_reach_destination: float
    p_reach_safety_range: tuple[float, float]
    days: float
    days_range: tuple[float, float]
    cost_usd: float
    cost_upfront_usd: float
    cost_later_usd: float
    cost_sponsor_usd: float
    expected_days: float | None
    expected_days_to_safety: float | None
    expected_cost_usd: float
    safety_at: str | None
    channels: tuple[str, ...]
    distance_km: float

    @property
    def legs(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind == "leg")

    @property
    def places(self) -> tuple[str, ...]:
        out = [self.steps[0].from_place]
        out += [s.to_place for s in self.steps if s.kind == "leg"]
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "p_reach_safety": round(self.p_reach_safety, 4),
            "p_reach_safety_range": [round(x, 4) for x in self.p_reach_safety_range],
            "p_reach_destination": round(self.p_reach_destination, 4),
            "days": round(self.days, 1),
            "days_range": [round(x, 1) for x in self.days_range],
            "cost_usd": round(self.cost_usd),
            "cost_upfront_usd": round(self.cost_upfront_usd),
            "cost_later_usd": round(self.cost_later_usd),
            "cost_sponsor_usd": round(self.cost_sponsor_usd),
            "expected_days": _round(self.expected_days, 1),
            "expected_days_to_safety": _round(self.expected_days_to_safety, 1),
            "expected_cost_usd": round(self.expected_cost_usd),
            "safety_at": self.safety_at,
            "channels": list(self.channels),
            "distance_km": round(self.distance_km),
            "places": list(self.places),
            "legs": [s.to_json() for s in self.steps],
        }


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


@dataclass(frozen=True)
class Plan:
    """The answer to a planning question: ranked Pareto-optimal itineraries."""

    query: Query
    itineraries: tuple[Itinerary, ...]
    events: tuple[str, ...] = field(default=())
    # What the events in force do to setting out at all (not to a leg), e.g. departures held low.
    departure_notes: tuple[str, ...] = field(default=())
    # What makes the figures less trustworthy than usual, e.g. a year the atlas's policies miss.
    warnings: tuple[str, ...] = field(default=())
    ranking: str = "highest probability of reaching safety, then fewest days"

    @property
    def origin(self) -> str:
        return self.query.origin

    @property
    def destination(self) -> str:
        return self.query.destination

    @property
    def date(self) -> dt.date:
        return self.query.date

    @property
    def group(self) -> Group:
        return self.query.group

    @property
    def funding(self) -> Funding:
        return self.query.funding

    @property
    def profile(self) -> str | None:
        return self.query.profile

    @property
    def budget(self) -> float | None:
        return self.query.budget

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            **self.query.to_json(),
            "ranking": self.ranking,
            "events_in_force": list(self.events),
            "departure_notes": list(self.departure_notes),
            "warnings": list(self.warnings),
            "itineraries": [it.to_json() for it in self.itineraries],
        }

    def to_geojson(self, atlas: Atlas) -> dict[str, Any]:
        """Each itinerary's legs as LineStrings (property ``rank``), places as Points."""
        features: list[dict[str, Any]] = []
        seen: set[str] = set()
        for rank, it in enumerate(self.itineraries, start=1):
            for step in it.legs:
                a, b = atlas.places[step.from_place], atlas.places[step.to_place]
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "LineString",
                            "coordinates": leg_line(a.lat, a.lon, b.lat, b.lon),
                        },
                        "properties": {"rank": rank, **step.to_json()},
                    }
                )
            for pid in it.places:
                if pid in seen:
                    continue
                seen.add(pid)
                p = atlas.places[pid]
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                        "properties": {"id": p.id, "name": p.name, "country": p.country},
                    }
                )
        return {"type": "FeatureCollection", "features": features}


def _policy_line(atlas: Atlas, country: str, day: dt.date) -> str:
    policy = atlas.policy_for(country, day)
    if policy is None:
        return f"{country}: no policy in the atlas"
    outcomes = ", ".join(
        f"{name.replace('_', ' ')} {p.format()}" for name, p in policy.outcomes.items()
    )
    onward = f" (to {policy.deported_to})" if policy.deported_to else ""
    return f"{country}: {outcomes}{onward}; held {policy.detention_days.format(' days')}"


def _explain(atlas: Atlas, built: Built, label: Label) -> Itinerary:
    c = atlas.compiled
    net = built.network
    cal = net.calendar
    steps: list[Step] = []
    channels: list[str] = []
    safety_at: str | None = None
    if net.safe[c.place_index[built.query.origin]]:
        safety_at = built.query.origin
    reached_safe = safety_at is not None
    days_lo = days_hi = 0.0
    distance = 0.0
    for node, move, t in label.moves():
        month = cal.month(t)
        m = month - 1
        place = c.place_ids[node]
        if move == WAIT:
            t_next = cal.next_start(t) or t
            d = t_next - t
            days_lo += d
            days_hi += d
            if steps and steps[-1].kind == "wait" and steps[-1].from_place == place:
                # Consecutive months of waiting read as one step.
                last = steps[-1]
                steps[-1] = replace(
                    last,
                    days=last.days + d,
                    cost_usd=last.cost_usd + d * float(net.wait_cost_per_day[node]),
                    cost_upfront_usd=last.cost_upfront_usd + d * float(net.wait_cost_per_day[node]),
                    p_intercept=-math.expm1(-(last.days + d) * float(net.wait_risk_per_day[node])),
                )
                continue
            policy = atlas.policy_for(atlas.jurisdiction(place), built.query.date)
            hiding = policy.hiding if policy else None
            at_home = place == built.query.origin
            steps.append(
                Step(
                    kind="wait",
                    leg=None,
                    name=(
                        "Wait at home before setting out"
                        if at_home
                        else f"Wait in hiding at {atlas.places[place].name}"
                    ),
                    mode="wait",
                    operator="self",
                    from_place=place,
                    to_place=place,
                    start_day=t,
                    date=cal.date(t),
                    month=month,
                    days=d,
                    cost_usd=d * float(net.wait_cost_per_day[node]),
                    cost_upfront_usd=d * float(net.wait_cost_per_day[node]),
                    cost_later_usd=0.0,
                    p_intercept=-math.expm1(-d * float(net.wait_risk_per_day[node])),
                    p_intercept_range=(0.0, 0.0),
                    p_sent_back=1.0,
                    if_caught="-"
                    if at_home
                    else _policy_line(atlas, atlas.jurisdiction(place), built.query.date),
                    notes=("A leg out of here is open, safer or faster in a later month.",),
                    sources=tuple(hiding.p_caught_per_day.source) if hiding and not at_home else (),
                )
            )
            continue
        leg = atlas.legs[c.leg_ids[move]]
        gates = sorted(atlas.entry_channels(leg.id))
        channels += [g for g in gates if g not in channels]
        notes = [f"{e.note}" for e in leg.seasonal if month in e.months]
        group = built.query.group
        notes += [f"{g.who}: {g.note}" for g in leg.group if group.count(g.who) > 0]
        notes += built.leg_events.get(move, [])
        sources = list(leg.source)
        for est in (leg.duration_days, leg.cost_usd, leg.p_intercept):
            sources += [s for s in est.source if s not in sources]
        p_int = float(built.p_intercept[m, move])
        p_range = (
            float(built.p_intercept_bounds[0][m, move]),
            float(built.p_intercept_bounds[1][m, move]),
        )
        back = float(built.p_back[move])
        dur = float(net.days[m, move])
        # The band moves with the month's figure: the season's factor and the events'.
        lo, hi = leg.duration_days.band_around(dur)
        days_lo += lo
        days_hi += hi
        distance += atlas.leg_distance(leg).central
        steps.append(
            Step(
                kind="leg",
                leg=leg.id,
                name=leg.name,
                mode=leg.mode,
                operator=leg.operator,
                from_place=leg.from_,
                to_place=leg.to,
                start_day=t,
                date=cal.date(t),
                month=month,
                days=dur,
                cost_usd=float(built.cost_total[m, move]),
                cost_upfront_usd=float(built.cost_upfront[m, move]),
                cost_later_usd=float(built.cost_later[m, move]),
                p_intercept=p_int,
                p_intercept_range=p_range,
                p_sent_back=back,
                if_caught=_policy_line(atlas, atlas.jurisdiction(leg.from_), built.query.date),
                notes=tuple(notes),
                sources=tuple(sources),
            )
        )
        if not reached_safe and net.safe[c.place_index[leg.to]]:
            reached_safe = True
            safety_at = leg.to
    moves = list(label.moves())
    # The figures, then the band: every leg at the low, then the high end of its interception.
    expected, low, high = expected_outcomes(
        atlas, built, moves, (built.p_intercept, *built.p_intercept_bounds)
    )
    price = sum(s.cost_usd for s in steps)
    later = sum(s.cost_later_usd for s in steps)
    upfront = sum(s.cost_upfront_usd for s in steps)
    return Itinerary(
        steps=tuple(steps),
        p_reach_safety=expected.p_reach_safety,
        p_reach_destination=expected.p_reach_destination,
        p_reach_safety_range=(
            min(low.p_reach_safety, high.p_reach_safety),
            max(low.p_reach_safety, high.p_reach_safety),
        ),
        days=label.t,
        days_range=(days_lo, days_hi),
        cost_usd=price,
        cost_upfront_usd=upfront,
        cost_later_usd=later,
        cost_sponsor_usd=max(0.0, price - upfront - later),
        expected_days=expected.days,
        expected_days_to_safety=expected.days_to_safety,
        expected_cost_usd=expected.cost_usd,
        safety_at=safety_at,
        channels=tuple(channels),
        distance_km=distance,
    )


def _warnings(atlas: Atlas, query: Query, found: list[Itinerary]) -> tuple[str, ...]:
    """Say when the atlas's policies do not cover the departure year on the way."""
    day = query.date
    first = min((p.in_use.first_day for p in atlas.policies.values()), default=day)
    out: list[str] = []
    if day < first:
        out.append(
            f"the departure ({day.isoformat()}) is before every policy in the atlas (the "
            f"first starts on {first.isoformat()}): no country is safe and a capture anywhere "
            "counts as being sent back"
        )
    countries = sorted({atlas.places[p].country for it in found for p in it.places})
    missing = [c for c in countries if atlas.policy_for(c, day) is None]
    if missing and day >= first:
        out.append(
            f"the atlas has no policy for {', '.join(missing)} on {day.isoformat()}: a capture "
            "there counts as being sent back"
        )
    return tuple(out)


def _criteria(it: Itinerary) -> tuple[float, float, float, float]:
    """What an itinerary is judged by, each to be made small."""
    return (-it.p_reach_safety, -it.p_reach_destination, it.days, it.cost_usd - it.cost_later_usd)


def _non_dominated(found: list[Itinerary]) -> list[Itinerary]:
    """The itineraries no other one beats on every criterion.

    The search's survival leaves out broker betrayal, which depends on how many legs of the
    whole itinerary hired hands run; with it included some itineraries the search kept can be
    beaten, and they go.
    """
    scores = [_criteria(it) for it in found]
    return [
        it
        for it, a in zip(found, scores, strict=True)
        if not any(b != a and all(x <= y for x, y in zip(b, a, strict=True)) for b in scores)
    ]


def _search(atlas: Atlas, query: Query, epsilon: float, backend: str) -> tuple[Built, list[Label]]:
    built = build_network(atlas, query)
    c = atlas.compiled
    required = None
    if query.require_channel is not None:
        entries = set(atlas.channels[query.require_channel].entry_legs)
        required = np.array([leg_id in entries for leg_id in c.leg_ids], dtype=np.bool_)
    labels = pareto_search(
        built.network,
        c.place_index[query.origin],
        c.place_index[query.destination],
        max_days=query.max_days if query.max_days is not None else math.inf,
        budget=query.budget if query.budget is not None else math.inf,
        epsilon=epsilon,
        backend=backend,
        required=required,
    )
    return built, labels


def _why_none(atlas: Atlas, query: Query, epsilon: float, backend: str) -> str:
    """Which constraint removed the last route: relax each in turn and see what comes back."""
    c = atlas.compiled
    origin = c.place_index[query.origin]
    relaxations: list[tuple[str, Query]] = []
    if query.budget is not None:
        relaxations.append((f"the budget of US${query.budget:,.0f}", replace(query, budget=None)))
    if query.max_days is not None:
        relaxations.append((f"the limit of {query.max_days:g} days", replace(query, max_days=None)))
    if query.avoid:
        relaxations.append(
            (f"avoiding {', '.join(sorted(query.avoid))}", replace(query, avoid=frozenset()))
        )
    if query.require_channel is not None:
        relaxations.append(
            (f"using the channel {query.require_channel!r}", replace(query, require_channel=None))
        )
    if query.profile is not None:
        relaxations.append((f"the profile {query.profile!r}", replace(query, profile=None)))
    for what, relaxed in relaxations:
        _, labels = _search(atlas, relaxed, epsilon, backend)
        if labels:
            best = min(labels, key=lambda lab: lab.cost)
            extra = ""
            if what.startswith("the budget"):
                extra = f"; the cheapest route needs US${best.cost:,.0f} up front"
            elif what.startswith("the limit"):
                extra = f"; the fastest route takes {min(lab.t for lab in labels):.0f} days"
            return f"{what} removes the last route{extra}"
    built = build_network(atlas, query)
    fastest = float(lower_bounds(built.network, c.place_index[query.destination]).days[origin])
    horizon = built.network.calendar.month_starts[-1]
    if math.isfinite(fastest) and fastest > horizon:
        return (
            f"the fastest way takes about {fastest:,.0f} days, past the {horizon:,.0f} days "
            f"({HORIZON_MONTHS} months) the planner looks ahead"
        )
    return (
        f"no leg in use on {query.date.isoformat()} joins them (events in force or the legs' "
        "years of use close the way; try another --date)"
    )


def plan(
    atlas: Atlas,
    origin: str | None = None,
    destination: str = DESTINATION,
    *,
    month: int | None = None,
    date: dt.date | None = None,
    group: Group | str = "1w",
    budget: float | None = None,
    profile: str | None = None,
    funding: Funding = "self",
    avoid: tuple[str, ...] | frozenset[str] = (),
    max_days: float | None = None,
    channel: str | None = None,
    epsilon: float = 0.0,
    today: dt.date | None = None,
    history: bool = False,
    backend: str = "auto",
) -> Plan:
    """Plan the ways from ``origin`` to ``destination`` for a group, departure and budget.

    Parameters
    ----------
    atlas
        The atlas to plan on.
    origin
        Place id; defaults to the first start of ``profile``.
    destination
        Place id, Seoul by default.
    month, date
        Departure month (the first of that month this year, or next year if it has passed) or
        exact date. Default: ``today``.
    group
        A :class:`Group` or text such as ``"2w,1m,1c"``.
    budget
        US$ the journey can draw on as it goes, all members together, with a sponsor's money
        when one pays (``funding="ngo"``); what a pay-later broker is paid after arrival does
        not count against it.
    profile
        Who travels: only channels open to that profile are used.
    funding
        ``self`` (paying a broker), ``broker-later`` (paying from resettlement money), ``ngo``,
        ``church``.
    avoid
        Place ids or country codes not to pass through.
    max_days
        Longest acceptable expected journey.
    channel
        Keep only itineraries that enter this channel (use one of its entry legs).
    epsilon
        Accept an epsilon-Pareto set (see ``pareto_search``); 0 is exact.
    history
        Apply every event as it happened on ``date``, undoing those the legs' figures include
        for dates before them (for the past, as the flow model needs); see ``events_in_force``.
    backend
        The search's kernel: ``numpy`` (plain Python), ``numba`` (compiled; the ``fast``
        extra) or ``auto`` (numba from ``NUMBA_FROM_NODES`` places when installed); both give
        the same itineraries. See ``nkescape.backends.resolve``.

    Raises
    ------
    PlanError
        On bad input, naming the field; or when no route is left, naming the constraint that
        removed the last one.
    BackendError
        For a backend that is unknown or cannot run here (with the fix).

    Examples
    --------
    >>> from nkescape.atlas import toy_atlas
    >>> p = plan(toy_atlas(), "home", "capital", month=1, today=dt.date(2017, 1, 1))
    >>> p.itineraries[0].legs[0].leg
    'river-ice'
    """
    today = today or dt.date.today()
    if month is not None and date is not None:
        raise PlanError("give a month or a date, not both")
    if month is not None:
        if not 1 <= month <= 12:
            raise PlanError(f"unknown month {month} (months are 1-12)")
        year = today.year if month >= today.month else today.year + 1
        date = dt.date(year, month, 1)
    when = date or today
    check_year(when.year, f"date: {when.isoformat()}")
    if origin is None:
        if profile is None or profile not in atlas.profiles:
            raise PlanError("give an origin place, or a profile to start from its first place")
        origin = atlas.profiles[profile].starts[0]
    grp = Group.parse(group) if isinstance(group, str) else group
    query = Query(
        origin=origin,
        destination=destination,
        date=when,
        group=grp,
        budget=budget,
        profile=profile,
        funding=funding,
        avoid=frozenset(avoid),
        max_days=max_days,
        require_channel=channel,
        history=history,
    )
    query.check(atlas)
    built, labels = _search(atlas, query, epsilon, backend)
    if not labels:
        why = _why_none(atlas, query, epsilon, backend)
        raise PlanError(f"no route from {origin!r} to {destination!r}: {why}")
    itineraries = sorted(
        _non_dominated([_explain(atlas, built, lab) for lab in labels]),
        key=lambda it: (-round(it.p_reach_safety, 6), it.days, it.cost_usd),
    )
    return Plan(
        query=query,
        itineraries=tuple(itineraries),
        warnings=_warnings(atlas, query, itineraries),
        events=tuple(e.name for e in built.events),
        departure_notes=built.departure_notes,
    )
