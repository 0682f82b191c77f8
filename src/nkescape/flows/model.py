"""The monthly population model: leaving North Korea, living in China, moving on, arriving.

Vectorised over parameter sets: ``run_flows(inputs, theta)`` with ``theta`` of shape (K, P)
runs K models at once, one Python step per month, so a calibration walker ensemble or a
posterior ensemble costs about as much as a single run.

Per month and sex: departures = rate x push (famine, crackdowns, closures: the atlas's
outflow factors) x broker prices ^ -elasticity, of which the river crossing stops and sends back
a share (the atlas's crossing legs in that month). In China a sourced share settle (married or
sold into households, held by traffickers, in work) and the rest hide and look for a way on.
Both are caught (the atlas's hiding risk, scaled). Those looking set out at a rate pulled up by
the people already in the South and following the chance of getting through (the simulated
transit); the settled start looking, slowly, as far as the way is open. Journeys end in arrival
after the simulated lag, repatriation, death, or a return to hiding. One-off operations (the 2004
airlift from Vietnam, an event's ``people_moved``) take people from hiding straight to arrival.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas, EventEffect
from nkescape.flows.defaults import SCENARIO_KEYS, TRANSIT_RUNS, check_scenario
from nkescape.flows.parameters import FlowConfig
from nkescape.flows.transit import Transit, river_crossings, transit_tables
from nkescape.routing import p_sent_back

__all__ = ["SCENARIO_KEYS", "FlowInputs", "FlowRun", "flow_inputs", "route_choice", "run_flows"]

_DAYS_PER_MONTH = 365.25 / 12
# A factor whose range reaches 0 (a sealed border) is floored here so that logs stay finite.
_TINY = 1e-9
_MAX_LAG = 60


@dataclass(frozen=True, eq=False)
class FlowInputs:
    """Everything the monthly model reads, derived once from the atlas and the parameters file."""

    config: FlowConfig
    transit: Transit
    months: NDArray[np.int64]  # (T,) year*12 + month-1
    # Flow-level event factors: per effect, its range and the months it holds.
    out_active: NDArray[np.float64]  # (T, E_out)
    out_range: NDArray[np.float64]  # (E_out, 2)
    out_param: tuple[str | None, ...]  # parameter that sets this factor, else severity
    exit_price_active: NDArray[np.float64]
    exit_price_range: NDArray[np.float64]
    onward_price_active: NDArray[np.float64]
    onward_price_range: NDArray[np.float64]
    repat_active: NDArray[np.float64]
    repat_range: NDArray[np.float64]
    hide_catch: NDArray[np.float64]  # (T,) monthly hazard of being caught and sent back
    moved: NDArray[np.float64]  # (T,) people taken out at once (airlifts), from hiding to arrival
    moved_route: tuple[str, ...]  # (T,) the route those people reach safety by ("" if none)
    arrive_ref: float  # transit success in the legs' own era, the level departures are set at
    # Route choice: log of the median budget over each route's price, the price taken at the
    # level of broker prices the events set (T, R; -inf where the route is closed), and the same
    # for the cheapest route in the legs' own era, the level departures are set at.
    route_budget_gap: NDArray[np.float64]
    ref_budget_gap: float
    # Calendar months: factors on crossing into China and on setting out from it (T,).
    season_exit: NDArray[np.float64]
    season_onward: NDArray[np.float64]
    scenario: dict[str, float] = field(default_factory=dict)
    scenario_from: int = 0  # month index from which the scenario holds

    @property
    def n_months(self) -> int:
        return len(self.months)

    @property
    def start_year(self) -> int:
        return int(self.months[0] // 12)

    def through(self, year: int) -> FlowInputs:
        """The same inputs ending in December ``year``: the model is causal, so its months up to
        there come out as they do in the longer run."""
        n = min(self.n_months, max(0, (year - self.start_year + 1) * 12))
        return dataclasses.replace(
            self,
            months=self.months[:n],
            out_active=self.out_active[:n],
            exit_price_active=self.exit_price_active[:n],
            onward_price_active=self.onward_price_active[:n],
            repat_active=self.repat_active[:n],
            hide_catch=self.hide_catch[:n],
            moved=self.moved[:n],
            moved_route=self.moved_route[:n],
            route_budget_gap=self.route_budget_gap[:n],
            season_exit=self.season_exit[:n],
            season_onward=self.season_onward[:n],
        )

    def with_scenario(self, values: dict[str, float], from_index: int) -> FlowInputs:
        check_scenario(values)
        return dataclasses.replace(self, scenario=dict(values), scenario_from=from_index)


@dataclass(frozen=True, eq=False)
class FlowRun:
    """Monthly series of K model runs; sex axis: 0 women, 1 men."""

    months: NDArray[np.int64]
    arrivals: NDArray[np.float64]  # (K, 2, T)
    departures: NDArray[np.float64]  # (K, 2, T): crossed into China
    repatriated: NDArray[np.float64]  # (K, T): sent back, at the river or from China and beyond
    hiding: NDArray[np.float64]  # (K, 2, T): in China at the end of the month, settled or not
    settled: NDArray[np.float64]  # (K, 2, T): of those, the settled
    # With run_flows(..., detail=True): arrivals by the route they came by (K, R, T).
    routes: tuple[str, ...] = ()
    route_arrivals: NDArray[np.float64] | None = None
    # Arrivals from China by arrival year (``stay_years``) and whole calendar years spent in
    # China, a = arrival year - crossing year (K, Y, A; the last bin: A - 1 or more).
    stay_years: NDArray[np.int64] | None = None
    stay_hist: NDArray[np.float64] | None = None

    def yearly(self, what: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Years and yearly totals (sums; for the stocks ``hiding`` and ``settled``, December's)."""
        series = getattr(self, what)
        years = self.months // 12
        uniq = np.unique(years)
        if what in ("hiding", "settled"):
            idx = [np.flatnonzero(years == y)[-1] for y in uniq]
            return uniq, series[..., idx]
        out = np.stack([series[..., years == y].sum(axis=-1) for y in uniq], axis=-1)
        return uniq, out

    def year_end(self, what: str, year: int) -> NDArray[np.float64]:
        """(K, 2) a stock, ``hiding`` or ``settled``, at the end of December ``year``."""
        at = np.flatnonzero(self.months == year * 12 + 11)
        if at.size == 0:
            raise ValueError(f"the run does not reach December {year}")
        out: NDArray[np.float64] = getattr(self, what)[..., at[0]]
        return out


def _hits(atlas: Atlas, effect: EventEffect, legs: set[str], countries: set[str]) -> bool:
    if set(effect.legs) & legs or set(effect.countries) & countries:
        return True
    modes = {atlas.legs[leg].mode for leg in legs}
    return bool(set(effect.modes) & modes)


def _factor_table(
    atlas: Atlas,
    days: list[dt.date],
    name: str,
    legs: set[str],
    countries: set[str],
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Months x effects activity, effects' (low, high), and their event ids, for one factor."""
    cols: list[NDArray[np.float64]] = []
    ranges: list[tuple[float, float]] = []
    ids: list[str] = []
    for event in atlas.events.values():
        for effect in event.effects:
            factor = getattr(effect, name)
            if factor is None or not _hits(atlas, effect, legs, countries):
                continue
            if event.id in ids:
                # One factor per event: several effects (the Tumen and the Yalu fees of 2010)
                # describe one change, not changes that multiply.
                continue
            cols.append(np.array([1.0 if event.active(d) else 0.0 for d in days]))
            ranges.append(factor.bounds)
            ids.append(event.id)
    active = np.stack(cols, axis=1) if cols else np.zeros((len(days), 0))
    return active, np.array(ranges).reshape(-1, 2), ids


def flow_inputs(
    atlas: Atlas,
    config: FlowConfig,
    end_year: int,
    *,
    transit: Transit | None = None,
    transit_runs: int = TRANSIT_RUNS,
    seed: int = 0,
) -> FlowInputs:
    """Derive the model's monthly inputs from the atlas, January start_year to December end_year."""
    start = config.start_year
    if end_year < start:
        raise ValueError(f"end year {end_year} is before the model's start {start}")
    transit = transit or transit_tables(
        atlas,
        start,
        end_year,
        hide_at=config.hide_at,
        profile=config.onward_profile,
        runs=transit_runs,
        seed=seed,
    )
    n = (end_year - start + 1) * 12
    if transit.n_months < n or transit.start_year != start:
        raise ValueError("the transit tables do not cover the model's months")
    days = [dt.date(start + i // 12, i % 12 + 1, 1) for i in range(n)]
    crossing = {atlas.compiled.leg_ids[j] for j in river_crossings(atlas)}
    onward = transit.legs_used
    out_a, out_r, out_ids = _factor_table(atlas, days, "outflow_factor", crossing, {"KP"})
    event_param = {p.event: p.id for p in config.priors if p.event is not None}
    xp_a, xp_r, _ = _factor_table(atlas, days, "cost_factor", crossing, {"KP"})
    op_a, op_r, _ = _factor_table(atlas, days, "cost_factor", onward, {"CN"})
    rp_a, rp_r, _ = _factor_table(atlas, days, "repatriation_factor", set(), {"CN"})
    hide = np.zeros(n)
    for i, d in enumerate(days):
        policy = atlas.policy_for("CN", d)
        if policy is not None and policy.hiding is not None:
            daily = policy.hiding.p_caught_per_day.mean * p_sent_back(atlas, "CN", d)
            hide[i] = -np.log1p(-daily) * _DAYS_PER_MONTH
    moved = np.zeros(n)
    moved_route = [""] * n
    for event in atlas.events.values():
        for effect in event.effects:
            if effect.people_moved is None:
                continue
            active = np.array([event.active(d) for d in days])
            if active.any():
                moved[active] += effect.people_moved.central / active.sum()
                # An operation reaches safety where its legs leave from (the 2004 airlift:
                # Hanoi, so Vietnam); the model keeps one route a month for them.
                where = [atlas.places[atlas.legs[leg].from_].country for leg in effect.legs]
                name = where[0] if where else (effect.countries or ("",))[0]
                for at in np.flatnonzero(active).tolist():
                    moved_route[at] = name
    years = np.array([d.year for d in days])
    # The legs' figures come from sources of 2007-2017 (events.yaml): departure rates are set
    # against the chance of getting through in those years.
    era = (years >= 2007) & (years <= 2017)
    # Budgets keep up with the broker prices the events set (relatives in the South pay the
    # going rate), so a route is out of reach for being dear in itself, not for the year.
    price_level = _log_series(op_a, op_r, np.array([config.event_severity]))[0]  # (T,)
    with np.errstate(divide="ignore"):
        log_price = np.log(np.where(transit.open[:n], transit.cost_usd[:n], 0.0))
    gap = np.log(config.budget_median_usd) - (log_price - price_level[:, None])
    gap = np.where(transit.open[:n], gap, -np.inf)
    cheapest = gap.max(axis=1, initial=-np.inf)
    usable = era & np.isfinite(cheapest)
    ref_gap = float(np.median(cheapest[usable])) if usable.any() else 0.0
    # The chance of getting through of the routes chosen, at the prior median of the budgets'
    # spread: the level departures are set at (a constant, the same for every parameter row).
    spread = np.array([config.priors[config.index("budget_spread")].median()])
    shares, _ = _choice(gap, transit.arrive[:n], config.risk_response, spread, ref_gap)
    mixed = (shares[0] * np.maximum(transit.arrive[:n], 0.0)).sum(axis=1)
    ref = float(np.median(mixed[era])) if era.any() else float(mixed.max(initial=0.0))
    return FlowInputs(
        config=config,
        transit=transit,
        months=np.array([d.year * 12 + d.month - 1 for d in days], dtype=np.int64),
        out_active=out_a,
        out_range=out_r,
        out_param=tuple(event_param.get(e) for e in out_ids),
        exit_price_active=xp_a,
        exit_price_range=xp_r,
        onward_price_active=op_a,
        onward_price_range=op_r,
        repat_active=rp_a,
        repat_range=rp_r,
        hide_catch=hide,
        moved=moved,
        moved_route=tuple(moved_route),
        arrive_ref=max(ref, _TINY),
        route_budget_gap=gap,
        ref_budget_gap=ref_gap,
        season_exit=np.array([config.departure_season[d.month - 1] for d in days]),
        season_onward=np.array([config.onward_season[d.month - 1] for d in days]),
    )


def _log_series(
    active: NDArray[np.float64], ranges: NDArray[np.float64], u: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(K, T) log of the product of factors in force, each at position u in its range."""
    if active.shape[1] == 0:
        return np.zeros((len(u), active.shape[0]))
    values = ranges[None, :, 0] + u[:, None] * (ranges[None, :, 1] - ranges[None, :, 0])
    logs = np.log(np.maximum(values, _TINY))  # (K, E)
    return logs @ active.T


def run_flows(inputs: FlowInputs, theta: NDArray[np.float64], *, detail: bool = False) -> FlowRun:
    """Run the model for each row of ``theta`` (natural units, columns in config order).

    With ``detail`` the run also holds what the reports read and the likelihood does not:
    arrivals by route (``routes``, ``route_arrivals``) and by years spent in China
    (``stay_years``, ``stay_hist``)."""
    theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
    cfg = inputs.config
    col = {name: theta[:, i] for i, name in enumerate(cfg.names)}
    k, n = theta.shape[0], inputs.n_months
    tr = inputs.transit
    sev = np.full(k, cfg.event_severity)

    # Departure multipliers from events: linked ones take their parameter, the rest severity.
    log_out = np.zeros((k, n))
    for j, param in enumerate(inputs.out_param):
        lo, hi = inputs.out_range[j]
        value = col[param] if param is not None else lo + sev * (hi - lo)
        log_out += np.log(np.maximum(value, _TINY))[:, None] * inputs.out_active[None, :, j]
    eps = col["price_elasticity"][:, None]
    log_out -= eps * _log_series(inputs.exit_price_active, inputs.exit_price_range, sev)
    log_onward_price = _log_series(inputs.onward_price_active, inputs.onward_price_range, sev)
    log_repat = _log_series(inputs.repat_active, inputs.repat_range, sev)

    scen = inputs.scenario
    after = np.arange(n) >= inputs.scenario_from
    nk_out = np.where(after, scen.get("nk.outflow", 1.0), 1.0)
    border = np.where(after, scen.get("border.control", 1.0), 1.0)
    fees = np.where(after, scen.get("broker.fees", 1.0), 1.0)
    ngo = np.where(after, scen.get("ngo.funding", 1.0), 1.0)
    china_back = np.where(after, scen.get("china.repatriation", 1.0), 1.0)

    base_exit = (
        col["exit_rate"][:, None] * np.exp(log_out) * nk_out[None, :] * fees[None, :] ** -eps
    )
    base_exit = base_exit * (tr.cross_open[:n] * inputs.season_exit)[None, :]
    odds = tr.cross_fail[:n] / np.maximum(1 - tr.cross_fail[:n], _TINY) * border
    cross_fail = odds / (1 + odds)
    # Women's share of those crossing: a straight line in log-odds through its 2008 value.
    years_from_2008 = (inputs.months - 2008 * 12) / 12
    s08 = np.clip(col["women_share_2008"], _TINY, 1 - _TINY)
    logit = np.log(s08 / (1 - s08))[:, None] + col["women_share_trend"][:, None] * years_from_2008
    women = 1 / (1 + np.exp(-logit))  # (K, T)
    catch_scale = col["hiding_catch_scale"][:, None] * np.stack(
        [np.ones(k), col["men_catch_ratio"]], axis=1
    )
    catch = inputs.hide_catch[None, :] * np.exp(log_repat) * china_back[None, :]  # (K, T), women
    ngo_share = cfg.ngo_share
    price_term = (1 - ngo_share) * (np.exp(log_onward_price) * fees[None, :]) ** -eps + (
        ngo_share * ngo[None, :]
    )
    shares, level = route_choice(inputs, col["budget_spread"])  # (K, T, R), (K, T)
    arrive = np.maximum(tr.arrive[:n], 0.0)  # (T, R)
    reach = (shares * arrive[None]).sum(axis=2) / inputs.arrive_ref  # (K, T)
    way_open = price_term * level * reach**cfg.risk_response * inputs.season_onward  # (K, T)
    onward = col["onward_rate"][:, None] * way_open
    unsettle = col["unsettle_rate"][:, None] * way_open
    # Where the journeys of a month end, mixed over the routes chosen (K, T).
    stay = (shares * tr.stay[None, :n]).sum(axis=2)
    back_china = (shares * tr.back_china[None, :n]).sum(axis=2)
    back_other = (shares * tr.back_other[None, :n]).sum(axis=2)
    # Each route's arrivals go into the pipe at its own lag, split between the two whole months
    # around it: per month, the routes open and what a person setting out adds at each slot.
    lag = tr.lag_months[:n]
    lag_lo = np.minimum(np.floor(lag).astype(np.int64), _MAX_LAG - 2)  # (T, R)
    lag_frac = lag - np.floor(lag)
    got = shares * arrive[None]  # (K, T, R)
    got_lo = np.ascontiguousarray((got * (1 - lag_frac)[None]).transpose(1, 2, 0))  # (T, R, K)
    got_hi = np.ascontiguousarray((got * lag_frac[None]).transpose(1, 2, 0))
    open_routes = [np.flatnonzero(tr.open[t]).tolist() for t in range(n)]
    direct = col["direct_per_year"] / 12
    direct_sex = np.stack(
        [direct * cfg.direct_women_share, direct * (1 - cfg.direct_women_share)], axis=1
    )

    # What does not depend on the state is computed for every month at once, laid out month-first
    # so that each step reads contiguous slices: the loop is bound by NumPy's per-call overhead on
    # small (K, 2) arrays, not by arithmetic. Every value is the same expression as one month's.
    by_sex = np.stack([women, 1 - women], axis=2)  # (K, T, 2)
    tries_all = base_exit[:, :, None] * by_sex
    crossed_all = tries_all * (1 - cross_fail)[None, :, None]
    turned_back = (tries_all - crossed_all).sum(2).T  # (T, K)
    settle = cfg.settle_share
    to_hidden = np.ascontiguousarray((crossed_all * (1 - settle)).transpose(1, 0, 2))  # (T, K, 2)
    to_settled = np.ascontiguousarray((crossed_all * settle).transpose(1, 0, 2))
    c_all = np.ascontiguousarray(
        (catch[:, :, None] * catch_scale[:, None, :]).transpose(1, 0, 2)
    )  # (T, K, 2)
    unsettle_t = np.ascontiguousarray(unsettle.T)  # (T, K)
    onward_t = np.ascontiguousarray(onward.T)  # (T, K)
    # Time in China: everyone there belongs to the cohort of the calendar year they crossed in
    # (axis C), so that leaving can depend on the years already spent, and arrivals carry it.
    cohort = inputs.months // 12 - inputs.start_year  # (T,) the cohort crossing in month t
    ramp = settled_ramp(inputs)  # (T, C)

    n_cohorts = int(cohort[-1]) + 1
    hidden = np.zeros((k, 2))  # in China, looking for a way on
    # In China, married, sold, held or working, by crossing year: their chance of setting out
    # depends on it. Cohort-first, so that the cohorts so far are one contiguous block.
    settled = np.zeros((n_cohorts, k, 2))
    # With detail, those looking by crossing year too (their own chance does not depend on it,
    # so the likelihood's runs keep only their total), and who set out of each cohort.
    hidden_c = np.zeros((n_cohorts, k, 2)) if detail else None
    out_by_cohort = np.zeros((n, k, n_cohorts)) if detail else None
    lifted_by_cohort = np.zeros((n, k, n_cohorts)) if detail else None
    # Journeys under way by the month they arrive in, a ring: slot (t + lag) % _MAX_LAG.
    pipe = np.zeros((_MAX_LAG, k, 2))
    arrived_total = np.full(k, cfg.arrivals_before_start)
    pull = col["pull"]
    arrivals = np.zeros((n, k, 2))
    repatriated = np.zeros((n, k))
    hiding = np.zeros((n, k, 2))
    settled_stock = np.zeros((n, k, 2))
    # Of those setting out, the share back in hiding in China (stranded, or caught and let go).
    back_hiding = np.ascontiguousarray((stay + back_china * (1 - china_back[None, :])).T)
    back_cn = np.ascontiguousarray((back_china * china_back[None, :]).T)  # (T, K)
    back_other_t = np.ascontiguousarray(back_other.T)
    setting_out = np.zeros((n, k))
    moved_out = np.zeros((n, k))
    for t in range(n):
        m = int(cohort[t]) + 1  # cohorts so far; later ones are still empty
        st = settled[:m]
        pull_t = (arrived_total / cfg.arrivals_before_start) ** pull
        hidden += to_hidden[t]
        st[m - 1] += to_settled[t]
        c = c_all[t]
        # Women and men set out at one rate: a rate by sex was calibrated (0.5-4 times as
        # often for women) and its posterior sat at even (0.99, 90% 0.54-2.4), trading off
        # against men being caught more often.
        o = (onward_t[t] * pull_t)[:, None]
        hazard = c + o
        leave = -np.expm1(-hazard) / np.maximum(hazard, _TINY)
        f_caught, f_out = leave * c, leave * o  # (K, 2): shares of those looking
        caught = (hidden * f_caught).sum(1)
        out = hidden * f_out
        # The settled are caught at their sex's rate (no source sets a household apart from
        # other hiding) and start looking for a way on at their own, slower rate, which grows
        # with the years they have spent in China (``settled_ramp``).
        total_s = np.maximum(c + unsettle_t[t][:, None] * ramp[t, :m, None, None], _TINY)
        leave_s = st * -np.expm1(-total_s)
        freed = leave_s - leave_s * (c / total_s)  # (m, K, 2): start looking, not caught
        st -= leave_s
        freed_total = freed.sum(0)
        caught = caught + (leave_s.sum(0) - freed_total).sum(1)
        keep = 1 - f_caught - f_out * (1 - back_hiding[t][:, None])
        if hidden_c is not None:
            assert out_by_cohort is not None
            hc = hidden_c[:m]
            hc[m - 1] += to_hidden[t]
            out_by_cohort[t, :, :m] = (hc * f_out).sum(2).T
            hc *= keep
            hc += freed
        hidden = hidden * keep + freed_total
        going = out  # (K, 2)
        head = t % _MAX_LAG
        for r in open_routes[t]:
            lo = head + lag_lo[t, r]
            pipe[lo % _MAX_LAG] += going * got_lo[t, r][:, None]
            pipe[(lo + 1) % _MAX_LAG] += going * got_hi[t, r][:, None]
        setting_out[t] = going.sum(1)
        now = pipe[head] + direct_sex
        if inputs.moved[t] > 0:
            # An airlift takes people who had gathered over months; they come out of those
            # hiding, in the sexes' (and cohorts') proportions there, and arrive at once.
            in_hiding = np.maximum(hidden.sum(1, keepdims=True), _TINY)
            taken = np.minimum(inputs.moved[t], in_hiding) / in_hiding  # (K, 1)
            lifted = hidden * taken
            hidden = hidden - lifted
            now = now + lifted
            moved_out[t] = lifted.sum(1)
            if hidden_c is not None:
                assert lifted_by_cohort is not None
                lifted_by_cohort[t, :, :m] = (hidden_c[:m] * taken[None]).sum(2).T
                hidden_c[:m] *= 1 - taken[None]
        pipe[head] = 0.0
        arrivals[t] = now
        repatriated[t] = turned_back[t] + caught + going.sum(1) * (back_cn[t] + back_other_t[t])
        settled_now = st.sum(0)
        hiding[t] = hidden + settled_now
        settled_stock[t] = settled_now
        arrived_total = arrived_total + now.sum(1)

    def by_month(series: NDArray[np.float64]) -> NDArray[np.float64]:  # (T, K, 2) -> (K, 2, T)
        return np.ascontiguousarray(series.transpose(1, 2, 0))

    departures = np.ascontiguousarray(crossed_all.transpose(0, 2, 1))
    run = FlowRun(
        inputs.months,
        by_month(arrivals),
        departures,
        np.ascontiguousarray(repatriated.T),
        by_month(hiding),
        by_month(settled_stock),
    )
    if not detail:
        return run
    routes, by_route = _route_arrivals(
        inputs, setting_out, got_lo, got_hi, lag_lo, moved_out, col["direct_per_year"]
    )
    assert out_by_cohort is not None and lifted_by_cohort is not None
    years, stay_hist = _stay_hist(inputs, out_by_cohort, lifted_by_cohort, got_lo, got_hi, lag_lo)
    return dataclasses.replace(
        run, routes=routes, route_arrivals=by_route, stay_years=years, stay_hist=stay_hist
    )


def settled_ramp(inputs: FlowInputs) -> NDArray[np.float64]:
    """(T, C) how far the settled of each crossing year (C) have come to their full chance of
    starting to look for a way on, in each month: from 0 when they cross to 1 after
    ``settled_ramp_years`` (a child born in China and its family hold a woman at first; savings
    and contact with the South grow), counted from the middle of the year they crossed in."""
    years = inputs.config.settled_ramp_years
    cohorts = np.arange(int(inputs.months[-1] // 12 - inputs.start_year) + 1)
    crossed = (inputs.start_year + cohorts) * 12 + 5.5  # the middle of each crossing year
    spent = (inputs.months[:, None] - crossed[None, :]) / 12  # (T, C) years in China
    if years <= 0:
        return np.ones_like(spent)
    return np.clip(spent / years, 0.0, 1.0)


def _stay_hist(
    inputs: FlowInputs,
    out_by_cohort: NDArray[np.float64],
    lifted_by_cohort: NDArray[np.float64],
    got_lo: NDArray[np.float64],
    got_hi: NDArray[np.float64],
    lag_lo: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Arrivals from China by arrival year and years in China (K, Y, A): those who crossed in
    calendar year c and arrived in year y have spent a = y - c years (A - 1: that or more)."""
    n, k, n_c = out_by_cohort.shape
    tr = inputs.transit
    by_month = lifted_by_cohort.copy()  # (T, K, C) arrivals by arrival month and cohort
    months = np.arange(n)
    for j in range(len(tr.routes)):
        for shift, part in ((0, got_lo), (1, got_hi)):
            at = months + lag_lo[:, j] + shift
            keep = at < n
            np.add.at(by_month, at[keep], (out_by_cohort * part[:, j, :, None])[keep])
    arrival_year = inputs.months // 12
    years = np.unique(arrival_year)
    a_bins = inputs.config.stay_bins
    hist = np.zeros((k, len(years), a_bins))
    first = inputs.start_year
    for i, y in enumerate(years.tolist()):
        per_cohort = by_month[arrival_year == y].sum(axis=0)  # (K, C)
        spent = np.minimum(np.maximum(y - (first + np.arange(n_c)), 0), a_bins - 1)
        for c in range(min(n_c, y - first + 1)):
            hist[:, i, spent[c]] += per_cohort[:, c]
    return years.astype(np.int64), hist


def route_choice(
    inputs: FlowInputs, spread: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each route's share of those setting out from China (K, T, R), and how many of them can
    pay for any way out, against the legs' own era (K, T).

    A route draws people in proportion to the chance that someone can pay for it (budgets
    lognormal around the fee data's median with log spread ``spread``, one per parameter row)
    times its chance of getting through raised to ``risk_response``, the risk people accept.
    """
    n = inputs.n_months
    return _choice(
        inputs.route_budget_gap,
        inputs.transit.arrive[:n],
        inputs.config.risk_response,
        spread,
        inputs.ref_budget_gap,
    )


def _choice(
    gap: NDArray[np.float64],
    arrive: NDArray[np.float64],
    risk_response: float,
    spread: NDArray[np.float64],
    ref_gap: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # SciPy is imported here, not at the top: `nkescape --help` must not pay for it.
    from scipy.special import ndtr

    sd = np.maximum(spread, _TINY)[:, None, None]
    afford = ndtr(gap[None] / sd)  # (K, T, R), 0 where closed
    weight = afford * np.maximum(arrive[None], 0.0) ** risk_response
    total = weight.sum(axis=2, keepdims=True)
    shares = np.where(total > 0, weight / np.maximum(total, _TINY), 0.0)
    level = afford.max(axis=2, initial=0.0) / ndtr(ref_gap / sd[:, :, 0])
    return shares, level


def _route_arrivals(
    inputs: FlowInputs,
    setting_out: NDArray[np.float64],
    got_lo: NDArray[np.float64],
    got_hi: NDArray[np.float64],
    lag_lo: NDArray[np.int64],
    moved_out: NDArray[np.float64],
    direct_per_year: NDArray[np.float64],
) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Arrivals by the route they came by (K, R, T): the journeys from China at each route's
    lag, the one-off operations, and the direct defections split by ``direct_routes``."""
    n, k = setting_out.shape
    cfg = inputs.config
    tr = inputs.transit
    extra = [r for r in dict.fromkeys(inputs.moved_route) if r and r not in tr.routes]
    routes = (*tr.routes, *extra, *(r for r in cfg.direct_routes if r not in tr.routes))
    out = np.zeros((n, len(routes), k))
    months = np.arange(n)
    for j in range(len(tr.routes)):
        for shift, part in ((0, got_lo), (1, got_hi)):
            at = months + lag_lo[:, j] + shift
            keep = at < n
            np.add.at(out[:, j, :], at[keep], (setting_out * part[:, j, :])[keep])
    for t in np.flatnonzero(inputs.moved):
        out[t, routes.index(inputs.moved_route[t])] += moved_out[t]
    for name, share in cfg.direct_routes.items():
        out[:, routes.index(name), :] += (direct_per_year / 12 * share)[None, :]
    return routes, np.ascontiguousarray(out.transpose(2, 1, 0))
