"""Fit, backtest and scenarios as users ask for them: tables with intervals, and their scores."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas
from nkescape.flows.calibrate import (
    FitProgress,
    Posterior,
    ProgressFn,
    calibrate,
    noisy_totals,
    predictive,
    run_tasks,
    stock_value,
)
from nkescape.flows.defaults import (
    LAST_YEAR,
    NEVER_FIT,
    QUICK_CHAINS,
    QUICK_STEPS,
    QUICK_WALKERS,
    SCORE_YEARS,
    SHARE_FROM,
    TRANSIT_RUNS,
)
from nkescape.flows.model import FlowInputs, FlowRun, flow_inputs, run_flows
from nkescape.flows.observed import Observed, load_arrivals
from nkescape.flows.parameters import FlowConfig, StockEstimate, load_config

__all__ = [
    "LAST_YEAR",
    "QUICK_CHAINS",
    "QUICK_STEPS",
    "QUICK_WALKERS",
    "SCORE_YEARS",
    "FitProgress",
    "FitReport",
    "ScenarioReport",
    "StockRow",
    "StockYear",
    "YearRow",
    "fit_flows",
    "fit_range",
    "prepare",
    "report_fit",
    "run_scenario",
]

# Fewer fitted years than this leave the parameters to the priors.
MIN_FIT_YEARS = 5
LEVEL = 0.9
# The span of years whose calendar months make the average year of `monthly_arrivals`: the
# scored years, when arrivals came through China by the routes of the atlas's legs' era.
SEASON_YEARS = SCORE_YEARS
ROUTE_NAMES = {
    "TH": "Thailand",
    "MN": "Mongolia",
    "LA": "Laos",
    "VN": "Vietnam",
    "KH": "Cambodia",
    "CN-air": "China, by air on forged papers",
    "CN-embassy": "China, through an embassy",
    "CN-sea": "China, by sea",
    "dmz": "the DMZ",
    "sea": "the sea",
    "abroad": "posts abroad",
}


@dataclass(frozen=True)
class YearRow:
    year: int
    observed: int | None
    median: float
    low: float
    high: float
    women_observed: float | None
    women_model: float
    fitted: bool

    @property
    def inside(self) -> bool | None:
        if self.observed is None:
            return None
        return self.low <= self.observed <= self.high


@dataclass(frozen=True)
class StockRow:
    """The model's North Koreans in China at the end of a year against a published range."""

    estimate: StockEstimate
    median: float
    low: float
    high: float
    settled: float | None = None  # of the people, the median share settled (married, sold...)

    @property
    def inside(self) -> bool:
        return self.estimate.low <= self.median <= self.estimate.high


@dataclass(frozen=True)
class StockYear:
    """The model's North Koreans in China at the end of a year (90% interval over the draws)."""

    year: int
    median: float
    low: float
    high: float
    settled: float  # median number of them settled


@dataclass(frozen=True)
class FitReport:
    rows: tuple[YearRow, ...]
    posterior: Posterior
    mape: float
    coverage: float
    share_gap: float  # largest |observed - model| women's share, in points, from SHARE_FROM
    share_year: int
    score_years: tuple[int, int]
    stock: tuple[StockRow, ...] = ()
    stock_by_year: tuple[StockYear, ...] = ()
    # What the model says inside the yearly totals, as fit.json holds it (docs/design.md 16).
    route_shares: dict[str, Any] = field(default_factory=dict)
    monthly_arrivals: dict[str, Any] = field(default_factory=dict)
    years_in_china: dict[str, Any] = field(default_factory=dict)
    origin_shares: dict[str, Any] | None = None
    validation: list[dict[str, Any]] | None = None
    validation_markdown: str | None = None  # report.md's table of the same rows

    def to_json(self) -> dict[str, Any]:
        inside = {
            "route_shares": self.route_shares,
            "monthly_arrivals": self.monthly_arrivals,
            "years_in_china": self.years_in_china,
            "origin_shares": self.origin_shares,
            "validation": self.validation,
        }
        return {
            **self._totals_json(),
            **{k: v for k, v in inside.items() if v is not None},
        }

    def _totals_json(self) -> dict[str, Any]:
        return {
            "mape_percent": round(self.mape, 2),
            "share_inside_90": round(self.coverage, 3),
            "largest_women_share_gap_points": round(self.share_gap, 2),
            "score_years": list(self.score_years),
            "fit_years": list(self.posterior.fit_years),
            "parameters": {
                name: dict(
                    zip(("low", "median", "high"), self.posterior.interval(name), strict=True)
                )
                for name in self.posterior.names
            },
            "years": [
                {
                    "year": r.year,
                    "observed": r.observed,
                    "median": round(r.median, 1),
                    "low": round(r.low, 1),
                    "high": round(r.high, 1),
                    "women_observed": r.women_observed,
                    "women_model": round(r.women_model, 4),
                    "fitted": r.fitted,
                }
                for r in self.rows
            ],
            "stock_in_china": [
                {
                    "year": r.estimate.year,
                    "measure": r.estimate.measure,
                    "published_low": r.estimate.low,
                    "published_high": r.estimate.high,
                    "source": list(r.estimate.source),
                    "median": round(r.median, 4),
                    "low": round(r.low, 4),
                    "high": round(r.high, 4),
                    "settled_share": None if r.settled is None else round(r.settled, 4),
                }
                for r in self.stock
            ],
            "stock_in_china_by_year": [
                {
                    "year": r.year,
                    "median": round(r.median, 1),
                    "low": round(r.low, 1),
                    "high": round(r.high, 1),
                    "settled_median": round(r.settled, 1),
                }
                for r in self.stock_by_year
            ],
            "meta": self.posterior.meta,
        }


def prepare(
    atlas: Atlas, end_year: int, *, seed: int = 0, transit_runs: int = TRANSIT_RUNS
) -> tuple[FlowConfig, FlowInputs, Observed]:
    """Config, model inputs up to December ``end_year`` and the observed series."""
    config = load_config(atlas)
    inputs = flow_inputs(atlas, config, end_year, seed=seed, transit_runs=transit_runs)
    return config, inputs, load_arrivals()


def fit_years(observed: Observed, train_until: int, start: int) -> tuple[int, ...]:
    """Years the calibration sees: observed, up to ``train_until``, never the COVID years."""
    return tuple(
        y
        for y in observed.years
        if start <= y <= train_until and not NEVER_FIT[0] <= y <= NEVER_FIT[1]
    )


def fit_range(observed: Observed, start_year: int) -> tuple[int, int]:
    """The years a fit may end in: from the first with enough counts before it to the last
    count. The first counted year after the model's first year is the first fitted."""
    first = max(min(observed.years), start_year + 1)
    return first + MIN_FIT_YEARS - 1, max(observed.years)


def fit_flows(
    inputs: FlowInputs,
    observed: Observed,
    *,
    train_until: int = SCORE_YEARS[1],
    seed: int = 0,
    chains: int = QUICK_CHAINS,
    walkers: int = QUICK_WALKERS,
    steps: int = QUICK_STEPS,
    generations: int = 150,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
) -> Posterior:
    """Calibrate on the observed years from the first single-year count to ``train_until``."""
    lo, hi = fit_range(observed, inputs.start_year)
    if not lo <= train_until <= hi:
        raise ValueError(
            f"cannot fit up to {train_until}: a fit ends in {lo}-{hi} (the counts run "
            f"{min(observed.years)}-{hi} and a fit needs {MIN_FIT_YEARS} years of them)"
        )
    years = fit_years(observed, train_until, max(min(observed.years), inputs.start_year + 1))
    return calibrate(
        inputs,
        observed,
        years,
        seed=seed,
        chains=chains,
        walkers=walkers,
        steps=steps,
        generations=generations,
        scheduler=scheduler,
        progress=progress,
    )


def report_fit(
    inputs: FlowInputs,
    observed: Observed,
    posterior: Posterior,
    *,
    score_years: tuple[int, int] = SCORE_YEARS,
    draws: int = 400,
    seed: int = 0,
    atlas: Atlas | None = None,
) -> FitReport:
    """Per-year medians and 90% predictive intervals, and the issue's three scores; what the
    model says inside the totals (routes, seasons, years in China) and, with ``atlas``, where
    arrivals came from and the published figures beside the model's (``validation``)."""
    run, x = predictive(inputs, posterior, draws=draws, seed=seed)
    years, arrivals = run.yearly("arrivals")
    total = arrivals.sum(axis=1)  # (K, Y)
    women = arrivals[:, 0, :] / np.maximum(total, 1e-9)
    cv = x[:, inputs.config.index("dispersion")]
    noisy = noisy_totals(total, cv, np.random.default_rng(seed))
    lo, hi = np.quantile(noisy, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    med = np.median(total, axis=0)
    wmed = np.median(women, axis=0)
    rows = []
    for j, y in enumerate(years.tolist()):
        obs, fem = observed.get(y) if y in observed.years else (None, None)
        rows.append(
            YearRow(
                year=y,
                observed=obs,
                median=float(med[j]),
                low=float(lo[j]),
                high=float(hi[j]),
                women_observed=(fem / obs) if (fem is not None and obs) else None,
                women_model=float(wmed[j]),
                fitted=y in posterior.fit_years,
            )
        )
    scored = [r for r in rows if score_years[0] <= r.year <= score_years[1] and r.observed]
    mape = float(np.mean([abs(r.median - r.observed) / r.observed for r in scored]) * 100)  # type: ignore[operator]
    coverage = float(np.mean([bool(r.inside) for r in scored]))
    gaps = [
        (abs(r.women_model - r.women_observed) * 100, r.year)
        for r in rows
        if r.women_observed is not None and SHARE_FROM <= r.year <= score_years[1]
    ]
    gap, gap_year = max(gaps) if gaps else (float("nan"), 0)
    report = FitReport(
        tuple(rows),
        posterior,
        mape,
        coverage,
        gap,
        gap_year,
        score_years,
        _stock_rows(inputs, run),
        _stock_by_year(run),
        route_shares=route_shares(inputs, run),
        monthly_arrivals=monthly_arrivals(run),
        years_in_china=years_in_china(run),
    )
    if atlas is None:
        return report
    return _with_origins_and_validation(report, atlas, inputs, run)


def _with_origins_and_validation(
    report: FitReport, atlas: Atlas, inputs: FlowInputs, run: FlowRun
) -> FitReport:
    """Arrivals by province (track O's mechanism over the model's years in China) and the
    validation table: published figures beside the model's, never fitted."""
    from nkescape.flows import origins, validation

    assert run.stay_hist is not None and run.stay_years is not None
    months = [dt.date(int(m) // 12, int(m) % 12 + 1, 1) for m in inputs.months]
    dep, names = origins.departure_shares(atlas, months)
    shares = origins.origin_shares(
        dep, months, run.stay_hist, run.stay_years.tolist(), weights=run.departures.sum(axis=1)
    )
    with_origins = dataclasses.replace(
        report,
        origin_shares=origins.origin_summary(
            shares, run.stay_years.tolist(), names, interval=LEVEL
        ),
    )
    rows = validation.validation_rows(with_origins.to_json())
    return dataclasses.replace(
        with_origins,
        validation=[dataclasses.asdict(r) for r in rows],
        validation_markdown=validation.markdown(rows),
    )


def years_in_china(run: FlowRun) -> dict[str, Any]:
    """Each year's arrivals from China by the years they had spent there: mean, median and the
    share at five years or more (a run with detail)."""
    if run.stay_hist is None or run.stay_years is None:
        raise ValueError("years in China need a run with detail (run_flows(..., detail=True))")
    hist = run.stay_hist  # (K, Y, A)
    a = np.arange(hist.shape[2])
    total = hist.sum(axis=2)
    out = []
    for j, y in enumerate(run.stay_years.tolist()):
        if not (total[:, j] > 0).all():
            continue  # a year nobody arrives from China in some draw: no distribution
        w = hist[:, j, :] / total[:, j, None]
        cum = np.cumsum(w, axis=1)
        out.append(
            {
                "year": y,
                "arrivals_from_china": _band(total[:, j], 1),
                "mean": _band((w * a).sum(axis=1), 2),
                "median": _band(np.argmax(cum >= 0.5, axis=1).astype(np.float64), 1),
                "share_5_plus": _band(w[:, 5:].sum(axis=1)),
            }
        )
    return {
        "interval": LEVEL,
        "counting": "calendar years between crossing into China and arrival",
        "top_bin": int(hist.shape[2] - 1),
        "years": out,
    }


def _band(values: NDArray[np.float64], digits: int = 4) -> dict[str, float]:
    """Median and central 90% interval over the draws (axis 0)."""
    lo, mid, hi = np.quantile(values, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2], axis=0)
    return {
        "median": round(float(mid), digits),
        "low": round(float(lo), digits),
        "high": round(float(hi), digits),
    }


def route_shares(inputs: FlowInputs, run: FlowRun) -> dict[str, Any]:
    """Each year's arrivals by the route they came by: where they first reached safety (a run
    with detail)."""
    if run.route_arrivals is None:
        raise ValueError("route shares need a run with detail (run_flows(..., detail=True))")
    years = run.months // 12
    through = set(inputs.transit.routes) | {r for r in inputs.moved_route if r}
    out = []
    for y in np.unique(years).tolist():
        by_route = run.route_arrivals[:, :, years == y].sum(axis=2)  # (K, R)
        total = by_route.sum(axis=1)
        share = by_route / np.maximum(total, 1e-9)[:, None]
        out.append(
            {
                "year": y,
                "arrivals": _band(total, 1),
                "shares": {r: _band(share[:, j]) for j, r in enumerate(run.routes)},
            }
        )
    return {
        "interval": LEVEL,
        "routes": [
            {"id": r, "name": ROUTE_NAMES.get(r, r), "through_china": r in through}
            for r in run.routes
        ],
        "years": out,
    }


def monthly_arrivals(run: FlowRun, span: tuple[int, int] = SEASON_YEARS) -> dict[str, Any]:
    """The average year: each calendar month's share of its year's arrivals, averaged over the
    years of ``span``, and the mean arrivals of that month."""
    total = run.arrivals.sum(axis=1)  # (K, T)
    years, months = run.months // 12, run.months % 12
    wanted = [y for y in range(span[0], span[1] + 1) if (years == y).sum() == 12]
    if not wanted:
        raise ValueError(f"the run holds no whole year in {span[0]}-{span[1]}")
    per_year = np.stack([total[:, years == y] for y in wanted], axis=1)  # (K, Y, 12)
    shares = per_year / np.maximum(per_year.sum(axis=2, keepdims=True), 1e-9)
    share = shares.mean(axis=1)  # (K, 12)
    people = per_year.mean(axis=1)
    quarters = share.reshape(len(share), 4, 3).sum(axis=2)
    assert (months[years == wanted[0]] == np.arange(12)).all()
    return {
        "interval": LEVEL,
        "span": [wanted[0], wanted[-1]],
        "months": [
            {"month": m + 1, "share": _band(share[:, m]), "people": _band(people[:, m], 1)}
            for m in range(12)
        ],
        "quarters": [{"quarter": q + 1, "share": _band(quarters[:, q])} for q in range(4)],
    }


def _stock_by_year(run: FlowRun) -> tuple[StockYear, ...]:
    years, hiding = run.yearly("hiding")
    _, settled = run.yearly("settled")
    people = hiding.sum(axis=1)  # (K, Y)
    lo, mid, hi = np.quantile(people, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2], axis=0)
    settled_mid = np.median(settled.sum(axis=1), axis=0)
    return tuple(
        StockYear(int(y), float(mid[j]), float(lo[j]), float(hi[j]), float(settled_mid[j]))
        for j, y in enumerate(years.tolist())
    )


def _stock_rows(inputs: FlowInputs, run: FlowRun) -> tuple[StockRow, ...]:
    """The model's stock in China (December, 90% interval over the posterior draws) in each
    year with a published estimate."""
    rows = []
    for est in inputs.config.stock_estimates:
        if est.year * 12 + 11 not in run.months:
            continue
        value = stock_value(run, est)
        lo, mid, hi = np.quantile(value, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2]).tolist()
        share = None
        if est.measure == "people":
            settled = run.year_end("settled", est.year).sum(axis=1)
            share = float(np.median(settled / np.maximum(value, 1e-9)))
        rows.append(StockRow(est, mid, lo, hi, share))
    return tuple(rows)


@dataclass(frozen=True)
class ScenarioReport:
    """Yearly medians and 90% intervals of a scenario and of the baseline."""

    values: dict[str, float]
    start: dt.date
    years: tuple[int, ...]
    table: dict[str, dict[str, NDArray[np.float64]]]  # what -> {"baseline"|"scenario"} -> (3, Y)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.values,
            "from": self.start.isoformat()[:7],
            "years": list(self.years),
            "interval": LEVEL,
            **{
                what: {
                    arm: {
                        k: np.round(v[i], 1).tolist()
                        for i, k in enumerate(("low", "median", "high"))
                    }
                    for arm, v in arms.items()
                }
                for what, arms in self.table.items()
            },
        }


def run_scenario(
    inputs: FlowInputs,
    posterior: Posterior,
    values: dict[str, float],
    start: dt.date,
    years: int,
    *,
    draws: int = 400,
    seed: int = 0,
    scheduler: str | None = "sync",
) -> ScenarioReport:
    """Project ``years`` from ``start`` under ``values`` and under the baseline (same draws).

    The posterior ensemble is split into chunks run as Dask tasks (``scheduler``: None for a
    local cluster, ``tcp://...`` for a running one, ``"sync"`` here).
    """
    first = start.year * 12 + start.month - 1
    index = int(np.searchsorted(inputs.months, first))
    if first < inputs.months[0] or index + years * 12 > len(inputs.months):
        lo, hi = inputs.months[0], inputs.months[-1]
        raise ValueError(
            f"date {start.isoformat()[:7]} + {years} years is outside the model's range "
            f"({lo // 12}-{lo % 12 + 1:02d} to {hi // 12}-{hi % 12 + 1:02d})"
        )
    changed = inputs.with_scenario(values, index)
    rng = np.random.default_rng(seed)
    n = len(posterior.samples)
    x = posterior.samples[rng.choice(n, size=min(draws, n), replace=False)]
    chunks = np.array_split(x, 2)
    tasks = [(inp, c) for inp in (inputs, changed) for c in chunks if len(c)]
    runs = run_tasks(run_flows, tasks, scheduler=scheduler)
    half = len(runs) // 2
    arms = {"baseline": runs[:half], "scenario": runs[half:]}
    # Calendar years that hold the scenario's months (a start in June spans years + 1 of them).
    wanted = list(range(start.year, (first + 12 * years - 1) // 12 + 1))
    table: dict[str, dict[str, NDArray[np.float64]]] = {}
    for what in ("arrivals", "repatriated", "hiding"):
        table[what] = {}
        for arm, parts in arms.items():
            stacked = []
            for r in parts:
                ys, v = r.yearly(what)
                v = v.sum(axis=1) if v.ndim == 3 else v
                stacked.append(v[:, [int(np.flatnonzero(ys == y)[0]) for y in wanted]])
            allv = np.concatenate(stacked)
            table[what][arm] = np.quantile(allv, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2], axis=0)
    return ScenarioReport(dict(values), start, tuple(wanted), table)
