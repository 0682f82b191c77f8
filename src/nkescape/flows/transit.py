"""What the atlas says about crossing into China and moving on from it, month by month, 1994 on.

The flow model takes no transit figure of its own: for every month it asks the planner for the
safest way from a hiding place in China to Seoul under the events of that date (as history
happened, see ``events_in_force``), and the simulator for how journeys on that way end and how
long they take. Crossing the river is read from the atlas's crossing legs for the same month.
Months with the same events, legs in use, policies and season share one simulation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas
from nkescape.flows.defaults import TRANSIT_RUNS
from nkescape.routing import PlanError, build_network, events_in_force, plan
from nkescape.routing.query import DESTINATION, Group, Query
from nkescape.simulate import simulate
from nkescape.simulate.kernel import OUTCOMES

__all__ = ["Transit", "month_index", "transit_tables"]

_DAYS_PER_MONTH = 365.25 / 12
_O = {name: i for i, name in enumerate(OUTCOMES)}


def month_index(start_year: int, year: int, month: int) -> int:
    """Index of (year, month) on a monthly axis starting in January of ``start_year``."""
    return (year - start_year) * 12 + month - 1


@dataclass(frozen=True, eq=False)
class Transit:
    """Per-month figures (axis 0: months from January ``start_year``).

    ``arrive``, ``back_china``, ``back_other``, ``stay``, ``dead``: fractions of journeys from
    China that reach Seoul (or another safe country), are sent back to North Korea from China,
    are sent back from elsewhere, stay in hiding (caught and released or stranded, back in
    China), or die. ``lag_months``: mean months from setting
    out to arriving in Seoul. ``cross_fail``: chance a river crossing attempt is stopped and the
    person sent back; ``cross_open``: whether any crossing leg is open that month.
    """

    start_year: int
    arrive: NDArray[np.float64]
    back_china: NDArray[np.float64]
    back_other: NDArray[np.float64]
    stay: NDArray[np.float64]
    dead: NDArray[np.float64]
    lag_months: NDArray[np.float64]
    cross_fail: NDArray[np.float64]
    cross_open: NDArray[np.bool_]
    route: tuple[str, ...]  # the itinerary's legs, per month, joined by ">"

    @property
    def n_months(self) -> int:
        return len(self.arrive)


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


def _crossing(atlas: Atlas, day: dt.date) -> tuple[float, bool]:
    """Mean chance of being stopped and sent back over the crossing legs open in ``day``'s month."""
    crossing = [
        j
        for j, leg_id in enumerate(atlas.compiled.leg_ids)
        if atlas.places[atlas.legs[leg_id].from_].country == "KP"
        and atlas.places[atlas.legs[leg_id].to].country == "CN"
    ]
    query = Query(
        origin="hyesan",
        destination=DESTINATION,
        date=day,
        group=Group(),
        budget=None,
        profile=None,
        funding="self",
        history=True,
    )
    built = build_network(atlas, query)
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
    channel: str,
    runs: int = TRANSIT_RUNS,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Transit:
    """Transit figures for every month from January ``start_year`` to December ``end_year``.

    ``hide_at`` is where people hiding in China set out from and ``channel`` the way they take
    (both from the flow parameters file, with their sources).
    """
    n = (end_year - start_year + 1) * 12
    cols = {k: np.zeros(n) for k in ("arrive", "back_china", "back_other", "stay", "dead", "lag")}
    cross_fail = np.zeros(n)
    cross_open = np.zeros(n, dtype=bool)
    routes: list[str] = []
    cache: dict[tuple[object, ...], tuple[dict[str, float], str, float, bool]] = {}
    for i in range(n):
        day = dt.date(start_year + i // 12, i % 12 + 1, 1)
        key = _signature(atlas, day)
        if key not in cache:
            cache[key] = (
                *_onward(atlas, day, hide_at, channel, runs, seed),
                *_crossing(atlas, day),
            )
        figures, route, fail, is_open = cache[key]
        for k, v in figures.items():
            cols[k][i] = v
        routes.append(route)
        cross_fail[i], cross_open[i] = fail, is_open
        if progress is not None:
            progress(1)
    return Transit(
        start_year=start_year,
        arrive=cols["arrive"],
        back_china=cols["back_china"],
        back_other=cols["back_other"],
        stay=cols["stay"],
        dead=cols["dead"],
        lag_months=cols["lag"],
        cross_fail=cross_fail,
        cross_open=cross_open,
        route=tuple(routes),
    )


def _onward(
    atlas: Atlas, day: dt.date, hide_at: str, channel: str, runs: int, seed: int
) -> tuple[dict[str, float], str]:
    """Simulated outcomes of the planner's safest way from China to Seoul on ``day``."""
    try:
        p = plan(
            atlas,
            hide_at,
            DESTINATION,
            date=day,
            group="1w",
            funding="broker-later",
            channel=channel,
            history=True,
        )
    except PlanError:
        # No way out that month: everyone who would set out stays in hiding.
        stay = {"arrive": 0.0, "back_china": 0.0, "back_other": 0.0, "stay": 1.0, "dead": 0.0}
        return {**stay, "lag": 0.0}, ""
    best = p.itineraries[0]
    summary = simulate(atlas, best, query=p.query, runs=runs, seed=seed, workers=1)
    total = summary.runs
    out = summary.outcomes / total
    arrive = out[_O["reached-destination"]] + out[_O["reached-safety"]]
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
        "stay": float(out[_O["in-hiding"]]),
        "dead": float(out[_O["dead"]]),
        "lag": days / _DAYS_PER_MONTH,
    }, ">".join(summary.legs)
