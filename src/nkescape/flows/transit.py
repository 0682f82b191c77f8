"""What the atlas says about crossing into China and moving on from it, month by month, 1994 on.

The flow model takes no transit figure of its own: for every month it asks the planner for the
ways from a hiding place in China to Seoul under the events of that date (as history happened,
see ``events_in_force``), groups them by where people first reach safety (a country that does
not send them back, or the country a handover or a flight leaves from), keeps the best of each
group and asks the simulator how journeys on it end and how long they take. Crossing the river
is read from the atlas's crossing legs for the same month. Months with the same events, legs in
use, policies and season share one simulation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas
from nkescape.flows.defaults import TRANSIT_RUNS
from nkescape.routing import (
    Itinerary,
    PlanError,
    build_network,
    events_in_force,
    pareto_search,
    plan,
)
from nkescape.routing.query import DESTINATION, Group, Query
from nkescape.simulate import Summary, simulate
from nkescape.simulate.kernel import OUTCOMES

__all__ = [
    "OUTCOME_KEYS",
    "Transit",
    "month_index",
    "river_crossings",
    "route_group",
    "transit_tables",
]

_DAYS_PER_MONTH = 365.25 / 12
_O = {name: i for i, name in enumerate(OUTCOMES)}
# What each journey from China ends in, per route and month (``Transit``'s arrays of that name).
OUTCOME_KEYS = ("arrive", "back_china", "back_other", "stay", "dead")
# Plans per channel: each one leaves out the ways to safety already found, so a channel's routes
# come out one group after another; the atlas holds far fewer groups than this.
_MAX_PLANS = 8
# Tables already made, per atlas (atlases are immutable): the planner and simulator take tens of
# seconds for the model's years, and a process (the test suite, the dashboard) asks again.
_MEMO: weakref.WeakKeyDictionary[Atlas, dict[tuple[object, ...], Transit]]
_MEMO = weakref.WeakKeyDictionary()
_MEMO_SIZE = 4
# The routes the planner finds for a month do not depend on how many journeys are simulated on
# them: kept per atlas and month signature for tables of another size or seed.
_PLANS: weakref.WeakKeyDictionary[
    Atlas, dict[tuple[object, ...], dict[str, tuple[Itinerary, Query]]]
]
_PLANS = weakref.WeakKeyDictionary()


def month_index(start_year: int, year: int, month: int) -> int:
    """Index of (year, month) on a monthly axis starting in January of ``start_year``."""
    return (year - start_year) * 12 + month - 1


@dataclass(frozen=True, eq=False)
class Transit:
    """Per-month, per-route figures (axis 0: months from January ``start_year``; axis 1: the
    routes, ``routes``).

    ``arrive``, ``back_china``, ``back_other``, ``stay``, ``dead``: fractions of journeys from
    China on a route that reach Seoul (or another safe country), are sent back to North Korea
    from China, are sent back from elsewhere, stay in hiding (caught and released or stranded,
    back in China), or die. ``lag_months``: mean months from setting out to arriving in Seoul.
    ``cost_usd``: the route's full price as planned; ``open``: whether the planner found the
    route that month (where it did not, the other arrays hold 0). ``cross_fail``: chance a river
    crossing attempt is stopped and the person sent back; ``cross_open``: whether any crossing
    leg is open that month.
    """

    start_year: int
    routes: tuple[str, ...]
    arrive: NDArray[np.float64]
    back_china: NDArray[np.float64]
    back_other: NDArray[np.float64]
    stay: NDArray[np.float64]
    dead: NDArray[np.float64]
    lag_months: NDArray[np.float64]
    cost_usd: NDArray[np.float64]
    open: NDArray[np.bool_]
    cross_fail: NDArray[np.float64]
    cross_open: NDArray[np.bool_]
    legs: tuple[tuple[str, ...], ...]  # per month, per route: the itinerary's legs joined by ">"

    @property
    def n_months(self) -> int:
        return len(self.arrive)

    def head(self, n: int) -> Transit:
        """The first ``n`` months."""
        cut = {
            f.name: getattr(self, f.name)[:n]
            for f in dataclasses.fields(self)
            if f.name not in ("start_year", "routes")
        }
        return dataclasses.replace(self, **cut)

    @property
    def legs_used(self) -> set[str]:
        """Every leg of every route in any month."""
        return {leg for month in self.legs for route in month for leg in route.split(">") if leg}


def route_group(atlas: Atlas, itinerary: Itinerary, day: dt.date) -> tuple[str, str] | None:
    """The route an itinerary belongs to, and what to avoid to find the next one.

    A route is named by where people first reach safety: the safe country they walk, wade or
    sail into (Thailand, Mongolia), or, for a flight or a boat straight to the destination's
    country, the country it leaves from (a handover in Laos or Vietnam; from China, by air
    (``CN-air``: forged papers bought from brokers; ``CN-embassy``: asylum in an embassy, then a
    state's flight) or by sea (``CN-sea``)). None if the itinerary never reaches a safe country.
    """
    home = atlas.places[itinerary.places[-1]].country
    for step in itinerary.legs:
        assert step.leg is not None
        leg = atlas.legs[step.leg]
        frm, to = atlas.places[leg.from_], atlas.places[leg.to]
        if not atlas.is_safe(to.country, day) or atlas.is_safe(frm.country, day):
            continue
        if to.country != home and leg.mode != "flight":
            return to.country, to.country
        name = frm.country
        if frm.country == "CN":
            # Out of China: a state's handover after asylum in an embassy, papers and a flight
            # bought from brokers, or a boat.
            if leg.operator == "state":
                name = "CN-embassy"
            else:
                name = "CN-air" if leg.mode == "flight" else "CN-sea"
        # A place whose every way on leads into safety is a gate, and leaving it out finds the
        # next route; a hub (Shenyang) is not left out, or nothing else would be found.
        return name, leg.from_ if _gate(atlas, leg.from_, day) else ""
    return None


def _gate(atlas: Atlas, place: str, day: dt.date) -> bool:
    outs = [leg for leg in atlas.legs.values() if leg.from_ == place]
    return bool(outs) and all(atlas.is_safe(atlas.places[leg.to].country, day) for leg in outs)


def _signature(atlas: Atlas, day: dt.date) -> tuple[object, ...]:
    """What the transit figures of a month depend on, so that equal months share one run."""
    year = day.year
    c = atlas.compiled
    policies = tuple(
        sorted(
            (country, p.id)
            for country in {pl.country for pl in atlas.places.values()}
            if (p := atlas.policy_for(country, day)) is not None
        )
    )
    safe = tuple(
        sorted(k for k in {pl.country for pl in atlas.places.values()} if atlas.is_safe(k, day))
    )
    events = tuple((e.id, power) for e, power in events_in_force(atlas, day, history=True))
    return (day.month, c.usable(year, day.month).tobytes(), policies, safe, events)


def river_crossings(atlas: Atlas) -> tuple[int, ...]:
    """Indices (in ``atlas.compiled``) of the legs from North Korea into China: the crossings
    that departures, their events and their provinces are read from."""
    c = atlas.compiled
    return tuple(
        j
        for j, leg_id in enumerate(c.leg_ids)
        if atlas.places[atlas.legs[leg_id].from_].country == "KP"
        and atlas.places[atlas.legs[leg_id].to].country == "CN"
    )


def _crossing(atlas: Atlas, day: dt.date) -> tuple[float, bool]:
    """Mean chance of being stopped and sent back over the crossing legs open in ``day``'s month."""
    crossing = river_crossings(atlas)
    built = build_network(atlas, Query.of_legs(day, "hyesan", history=True))
    m = day.month - 1
    open_ = [j for j in crossing if built.network.open[m, j]]
    if not open_:
        return 0.0, False
    fail = built.p_intercept[m, open_] * built.p_back[open_]
    return float(np.mean(fail)), True


def transit_tables(
    atlas: Atlas,
    start_year: int,
    end_year: int,
    *,
    hide_at: str,
    profile: str,
    runs: int = TRANSIT_RUNS,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Transit:
    """Transit figures for every month from January ``start_year`` to December ``end_year``.

    ``hide_at`` is where people hiding in China set out from and ``profile`` who they are (its
    channels are the ways they may take; both from the flow parameters file, with sources).
    """
    n = (end_year - start_year + 1) * 12
    # Each month's figures depend on its own date only, so a longer table's first months are
    # the shorter one's.
    key = (start_year, hide_at, profile, runs, seed)
    memo = _MEMO.setdefault(atlas, {})
    held = memo.get(key)
    if held is not None and held.n_months >= n:
        if progress is not None:
            progress(n)
        return held.head(n)
    tables = _tables(atlas, start_year, n, hide_at, profile, runs, seed, progress)
    if len(memo) >= _MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = tables
    return tables


def _tables(
    atlas: Atlas,
    start_year: int,
    n: int,
    hide_at: str,
    profile: str,
    runs: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> Transit:
    cross_fail = np.zeros(n)
    cross_open = np.zeros(n, dtype=bool)
    per_month: list[dict[str, tuple[dict[str, float], str]]] = []
    cache: dict[tuple[object, ...], tuple[dict[str, tuple[dict[str, float], str]], float, bool]]
    cache = {}
    for i in range(n):
        day = dt.date(start_year + i // 12, i % 12 + 1, 1)
        key = _signature(atlas, day)
        if key not in cache:
            cache[key] = (
                _onward(atlas, day, key, hide_at, profile, runs, seed),
                *_crossing(atlas, day),
            )
        found, fail, is_open = cache[key]
        per_month.append(found)
        cross_fail[i], cross_open[i] = fail, is_open
        if progress is not None:
            progress(1)
    # Routes in a fixed order: by how many months each is open, most first, then by name.
    months_open: dict[str, int] = {}
    for found in per_month:
        for name in found:
            months_open[name] = months_open.get(name, 0) + 1
    routes = tuple(sorted(months_open, key=lambda r: (-months_open[r], r)))
    cols = {k: np.zeros((n, len(routes))) for k in (*OUTCOME_KEYS, "lag", "cost")}
    is_route = np.zeros((n, len(routes)), dtype=bool)
    legs: list[tuple[str, ...]] = []
    for i, found in enumerate(per_month):
        for j, name in enumerate(routes):
            if name in found:
                is_route[i, j] = True
                for k, v in found[name][0].items():
                    cols[k][i, j] = v
        legs.append(tuple(found[r][1] if r in found else "" for r in routes))
    for arr in (*cols.values(), is_route, cross_fail, cross_open):
        arr.setflags(write=False)  # shared by every caller of the memo below
    return Transit(
        start_year=start_year,
        routes=routes,
        arrive=cols["arrive"],
        back_china=cols["back_china"],
        back_other=cols["back_other"],
        stay=cols["stay"],
        dead=cols["dead"],
        lag_months=cols["lag"],
        cost_usd=cols["cost"],
        open=is_route,
        cross_fail=cross_fail,
        cross_open=cross_open,
        legs=tuple(legs),
    )


def _routes(
    atlas: Atlas, day: dt.date, hide_at: str, profile: str
) -> dict[str, tuple[Itinerary, Query]]:
    """The best itinerary of each route the planner finds on ``day``, with its plan's query.

    Each channel open to ``profile`` is planned in turn; after each plan the gates of the routes
    found (a safe country, a handover's airport) are left out, so the next plan finds the routes
    those had dominated. Best: the highest chance of reaching safety, then the fewest days.
    """
    best: dict[str, tuple[Itinerary, Query]] = {}
    for channel in atlas.profiles[profile].channels:
        avoid: set[str] = set()
        for _ in range(_MAX_PLANS):
            if avoid and not _any_route(atlas, day, hide_at, profile, channel, avoid):
                break
            try:
                p = plan(
                    atlas,
                    hide_at,
                    DESTINATION,
                    date=day,
                    group="1w",
                    funding="broker-later",
                    profile=profile,
                    channel=channel,
                    avoid=tuple(sorted(avoid)),
                    history=True,
                )
            except PlanError:
                break
            gates = set()
            for it in p.itineraries:
                found = route_group(atlas, it, day)
                if found is None:
                    continue
                name, gate = found
                held = best.get(name)
                if held is None or _rank(it) < _rank(held[0]):
                    best[name] = (it, p.query)
                if gate:
                    gates.add(gate)
            if gates <= avoid:
                break
            avoid |= gates
    return best


def _any_route(
    atlas: Atlas, day: dt.date, hide_at: str, profile: str, channel: str, avoid: set[str]
) -> bool:
    """Whether the planner would find any itinerary: a search without the explanation a
    refused plan gives, which costs several more searches (most channels' last plan finds
    nothing, once their routes are all left out)."""
    query = Query(
        origin=hide_at,
        destination=DESTINATION,
        date=day,
        group=Group.parse("1w"),
        budget=None,
        profile=profile,
        funding="broker-later",
        avoid=frozenset(avoid),
        require_channel=channel,
        history=True,
    )
    c = atlas.compiled
    entries = set(atlas.channels[channel].entry_legs)
    required = np.array([leg_id in entries for leg_id in c.leg_ids], dtype=np.bool_)
    built = build_network(atlas, query)
    labels = pareto_search(
        built.network, c.place_index[hide_at], c.place_index[DESTINATION], required=required
    )
    return bool(labels)


def _rank(it: Itinerary) -> tuple[float, float, float]:
    return (-round(it.p_reach_safety, 6), it.days, it.cost_usd)


def _onward(
    atlas: Atlas,
    day: dt.date,
    signature: tuple[object, ...],
    hide_at: str,
    profile: str,
    runs: int,
    seed: int,
) -> dict[str, tuple[dict[str, float], str]]:
    """Simulated outcomes of each route from China to Seoul on ``day`` (``runs`` journeys in
    all), and its legs; no entry for a route the planner does not find."""
    out: dict[str, tuple[dict[str, float], str]] = {}
    plans = _PLANS.setdefault(atlas, {})
    key = (hide_at, profile, signature)
    if key not in plans:
        plans[key] = _routes(atlas, day, hide_at, profile)
    found = plans[key]
    # The month's journeys are shared among its routes: the model mixes the routes, so their
    # sampling errors average (a mixture of four routes at a quarter of the journeys each is
    # about as precise as one route at all of them), and the tables cost what one route did.
    each = max(runs // max(len(found), 1), 1)
    for name, (it, query) in found.items():
        summary = simulate(atlas, it, query=query, runs=each, seed=seed, workers=1)
        out[name] = (_figures(atlas, summary, it), ">".join(summary.legs))
    return out


def _figures(atlas: Atlas, summary: Summary, it: Itinerary) -> dict[str, float]:
    total = summary.runs
    share = summary.outcomes / total
    arrive = share[_O["reached-destination"]] + share[_O["reached-safety"]]
    back = summary.funnel[:, _O["repatriated"]]
    in_china = np.array(
        [atlas.places[atlas.legs[leg].from_].country == "CN" for leg in summary.legs]
    )
    # Journeys that end in a safe country short of Seoul are transferred later; their time to
    # safety stands in for the whole when none reaches Seoul within the run.
    days = summary.quantiles("destination")["mean"] or summary.quantiles("safety")["mean"] or 0.0
    return {
        "arrive": float(arrive),
        "back_china": float(back[in_china].sum() / total),
        "back_other": float(back[~in_china].sum() / total),
        "stay": float(share[_O["in-hiding"]]),
        "dead": float(share[_O["dead"]]),
        "lag": days / _DAYS_PER_MONTH,
        "cost": float(it.cost_usd),
    }
