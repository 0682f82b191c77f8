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
from nkescape.flows.transit import Transit, transit_tables
from nkescape.routing import p_sent_back

__all__ = ["SCENARIO_KEYS", "FlowInputs", "FlowRun", "flow_inputs", "run_flows"]

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
    arrive_ref: float  # transit success in the legs' own era, the level departures are set at
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
        channel=config.onward_channel,
        runs=transit_runs,
        seed=seed,
    )
    n = (end_year - start + 1) * 12
    if transit.n_months < n or transit.start_year != start:
        raise ValueError("the transit tables do not cover the model's months")
    days = [dt.date(start + i // 12, i % 12 + 1, 1) for i in range(n)]
    crossing = {
        leg.id
        for leg in atlas.legs.values()
        if atlas.places[leg.from_].country == "KP" and atlas.places[leg.to].country == "CN"
    }
    onward = {leg for route in transit.route for leg in route.split(">") if leg}
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
    for event in atlas.events.values():
        for effect in event.effects:
            if effect.people_moved is None:
                continue
            active = np.array([event.active(d) for d in days])
            if active.any():
                moved[active] += effect.people_moved.central / active.sum()
    years = np.array([d.year for d in days])
    # The legs' figures come from sources of 2007-2017 (events.yaml): departure rates are set
    # against the chance of getting through in those years.
    era = (years >= 2007) & (years <= 2017)
    ref = float(np.median(transit.arrive[:n][era])) if era.any() else float(transit.arrive.max())
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
        arrive_ref=max(ref, _TINY),
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


def run_flows(inputs: FlowInputs, theta: NDArray[np.float64]) -> FlowRun:
    """Run the model for each row of ``theta`` (natural units, columns in config order)."""
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
    base_exit = base_exit * tr.cross_open[None, :n]
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
    reach = np.maximum(tr.arrive[:n], 0.0) / inputs.arrive_ref
    way_open = price_term * reach[None, :] ** cfg.risk_response  # (K, T)
    onward = col["onward_rate"][:, None] * way_open
    unsettle = col["unsettle_rate"][:, None] * way_open
    lag = tr.lag_months[:n]
    lag_lo = np.minimum(np.floor(lag).astype(np.int64), _MAX_LAG - 2)
    lag_frac = lag - np.floor(lag)
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
    total_s_all = np.maximum(c_all + unsettle.T[:, :, None], _TINY)
    leave_s_all = -np.expm1(-total_s_all)
    onward_t = np.ascontiguousarray(onward.T)  # (T, K)

    hidden = np.zeros((k, 2))  # in China, looking for a way on
    settled = np.zeros((k, 2))  # in China, married, sold, held or working
    # Journeys under way by the month they arrive in, a ring: slot (t + lag) % _MAX_LAG.
    pipe = np.zeros((_MAX_LAG, k, 2))
    arrived_total = np.full(k, cfg.arrivals_before_start)
    pull = col["pull"]
    arrivals = np.zeros((n, k, 2))
    repatriated = np.zeros((n, k))
    hiding = np.zeros((n, k, 2))
    settled_stock = np.zeros((n, k, 2))
    back_china = tr.back_china[:n]
    back_other = tr.back_other[:n]
    stay = tr.stay[:n]
    arrive = tr.arrive[:n]
    for t in range(n):
        pull_t = (arrived_total / cfg.arrivals_before_start) ** pull
        hidden += to_hidden[t]
        settled += to_settled[t]
        c = c_all[t]
        # Women and men set out at one rate: a rate by sex was calibrated (0.5-4 times as
        # often for women) and its posterior sat at even (0.99, 90% 0.54-2.4), trading off
        # against men being caught more often.
        o = (onward_t[t] * pull_t)[:, None]
        hazard = c + o
        leave = -np.expm1(-hazard)
        total = np.maximum(hazard, _TINY)
        hidden_leaving = hidden * leave
        caught = hidden_leaving * c / total
        out = hidden_leaving * o / total
        # The settled are caught at their sex's rate (no source sets a household apart from
        # other hiding) and start looking for a way on at their own, slower rate.
        total_s = total_s_all[t]
        leave_s = settled * leave_s_all[t]
        caught_s = leave_s * c / total_s
        settled -= leave_s
        sent_back_cn = out * back_china[t] * china_back[t]
        hidden += (
            -caught
            - out
            + (leave_s - caught_s)
            + out * stay[t]
            + out * back_china[t] * (1 - china_back[t])
        )
        caught = caught + caught_s
        got = out * arrive[t]
        head = t % _MAX_LAG
        pipe[(head + lag_lo[t]) % _MAX_LAG] += got * (1 - lag_frac[t])
        pipe[(head + lag_lo[t] + 1) % _MAX_LAG] += got * lag_frac[t]
        now = pipe[head] + direct_sex
        if inputs.moved[t] > 0:
            # An airlift takes people who had gathered over months; they come out of those
            # hiding, in the sexes' proportions there, and arrive at once.
            in_hiding = np.maximum(hidden.sum(1, keepdims=True), _TINY)
            lifted = hidden / in_hiding * np.minimum(inputs.moved[t], in_hiding)
            hidden -= lifted
            now = now + lifted
        pipe[head] = 0.0
        arrivals[t] = now
        repatriated[t] = (
            turned_back[t] + caught.sum(1) + sent_back_cn.sum(1) + (out * back_other[t]).sum(1)
        )
        hiding[t] = hidden + settled
        settled_stock[t] = settled
        arrived_total = arrived_total + now.sum(1)

    def by_month(series: NDArray[np.float64]) -> NDArray[np.float64]:  # (T, K, 2) -> (K, 2, T)
        return np.ascontiguousarray(series.transpose(1, 2, 0))

    departures = np.ascontiguousarray(crossed_all.transpose(0, 2, 1))
    return FlowRun(
        inputs.months,
        by_month(arrivals),
        departures,
        np.ascontiguousarray(repatriated.T),
        by_month(hiding),
        by_month(settled_stock),
    )
