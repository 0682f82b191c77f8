"""``nkescape flows``: fit the population model, backtest it, and run what-if scenarios."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nkescape.atlas import AtlasError
from nkescape.cli._common import Overlay, console, fail, load
from nkescape.flows.analysis import (
    QUICK_CHAINS,
    QUICK_STEPS,
    SCORE_YEARS,
    FitReport,
    fit_flows,
    prepare,
    report_fit,
    run_scenario,
)
from nkescape.flows.calibrate import PosteriorError, load_posterior
from nkescape.flows.model import SCENARIO_KEYS
from nkescape.report.flows import stock_line, write_fit_report, write_scenario_report

app = typer.Typer(
    help="The flow model: yearly escapes and arrivals, fitted, with scenarios.",
    no_args_is_help=True,
)

OUT = Path("out/flows")
# The model runs to the last observed year at least, so that fits are scored on every count.
_LAST_OBSERVED = 2025

Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).")]
Out = Annotated[Path, typer.Option("--out", help="Folder for the posterior, plots and report.")]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler tcp://HOST:PORT (default: local processes; "
        "'sync' runs in this process).",
    ),
]
Chains = Annotated[int, typer.Option("--chains", help="Independent MCMC chains (Dask tasks).")]
Steps = Annotated[int, typer.Option("--steps", help="MCMC steps per chain (half are burn-in).")]
Walkers = Annotated[int, typer.Option("--walkers", help="emcee walkers per chain.")]
Generations = Annotated[
    int, typer.Option("--generations", help="Differential-evolution generations for the mode.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _fit(
    train_until: int,
    seed: int,
    chains: int,
    steps: int,
    walkers: int,
    generations: int,
    scheduler: str | None,
    overlay: list[Path] | None,
    out: Path,
    as_json: bool,
    backtest: bool,
) -> FitReport:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    atlas = load(None, overlay)
    con = console()
    try:
        with con.status("reading the atlas into monthly transit tables (planner + simulator)"):
            _, inputs, observed = prepare(atlas, _LAST_OBSERVED, seed=seed)
        with con.status("calibrating") as status:
            posterior = fit_flows(
                inputs,
                observed,
                train_until=train_until,
                seed=seed,
                chains=chains,
                walkers=walkers,
                steps=steps,
                generations=generations,
                scheduler=scheduler,
                progress=lambda msg: status.update(msg),
            )
    except AtlasError as exc:
        for problem in exc.problems:
            print(problem)
        fail("the flow parameters file has problems (listed above)")
    except (ValueError, OSError) as exc:
        fail(str(exc))
    score = (max(train_until + 1, SCORE_YEARS[0]), SCORE_YEARS[1]) if backtest else SCORE_YEARS
    report = report_fit(inputs, observed, posterior, score_years=score, seed=seed)
    try:
        out.mkdir(parents=True, exist_ok=True)
        posterior.save(out / "posterior.json")
        written = write_fit_report(report, out, backtest=backtest)
        (out / "fit.json").write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    if as_json:
        print(json.dumps(report.to_json(), indent=1))
        return report
    table = Table(
        title=f"Arrivals in South Korea: observed and model (fitted on "
        f"{posterior.fit_years[0]}-{posterior.fit_years[-1]}; 90% interval)"
    )
    for col in ("year", "observed", "model", "90% interval", "inside", "women obs", "women model"):
        table.add_column(col, justify="right")
    for r in report.rows:
        if r.year < 1999:
            continue
        table.add_row(
            f"{r.year}" + ("" if r.fitted else "*"),
            "" if r.observed is None else f"{r.observed:,}",
            f"{r.median:,.0f}",
            f"{r.low:,.0f}-{r.high:,.0f}",
            {True: "yes", False: "no", None: ""}[r.inside],
            "" if r.women_observed is None else f"{100 * r.women_observed:.0f}%",
            f"{100 * r.women_model:.0f}%",
        )
    con.print(table)
    con.print("* not fitted", markup=False)
    meta = posterior.meta
    con.print(
        f"chains: {meta.get('chains')}, acceptance {meta.get('acceptance')}, autocorrelation "
        f"{meta.get('autocorrelation_steps')} steps, R-hat (largest) {meta.get('r_hat_max')}",
        markup=False,
    )
    taus = [t for t in meta.get("autocorrelation_steps") or [] if t == t]
    if taus and posterior.meta.get("steps", 0) < 50 * max(taus):
        con.print(
            "note: the chains are shorter than 50 autocorrelation times; "
            "run with more --steps (e.g. 2000) for a converged posterior",
            markup=False,
        )
    con.print("parameters (posterior median, 90% interval):", markup=False)
    for name in posterior.names:
        lo, mid, hi = posterior.interval(name)
        con.print(f"  {name}: {mid:.4g} ({lo:.4g}-{hi:.4g})", markup=False)
    if report.stock:
        con.print(
            "North Koreans in China at the end of the year, model (median, 90% interval) "
            "against published estimates:",
            markup=False,
        )
        for stock in report.stock:
            con.print("  " + stock_line(stock), markup=False)
    a, b = report.score_years
    print(f"MAPE {a}-{b}: {report.mape:.1f}%")
    print(f"years {a}-{b} inside the 90% interval: {100 * report.coverage:.0f}%")
    print(
        f"largest gap in women's share, 2006-{b}: {report.share_gap:.1f} points "
        f"({report.share_year})"
    )
    print(
        "wrote " + ", ".join(str(p) for p in [out / "posterior.json", out / "fit.json", *written])
    )
    return report


@app.command("fit")
def fit_command(
    train_until: Annotated[int, typer.Option("--train-until", help="Last year to fit.")] = 2019,
    seed: Seed = 1,
    chains: Chains = QUICK_CHAINS,
    steps: Steps = QUICK_STEPS,
    walkers: Walkers = 32,
    generations: Generations = 150,
    scheduler: Scheduler = None,
    overlay: Overlay = None,
    out: Out = OUT,
    as_json: AsJson = False,
) -> None:
    """Calibrate to the ministry's yearly arrivals; print the fit table and write the plots."""
    _fit(
        train_until,
        seed,
        chains,
        steps,
        walkers,
        generations,
        scheduler,
        overlay,
        out,
        as_json,
        backtest=False,
    )


@app.command("backtest")
def backtest_command(
    train_until: Annotated[int, typer.Option("--train-until", help="Last year to fit.")] = 2015,
    seed: Seed = 1,
    chains: Chains = QUICK_CHAINS,
    steps: Steps = QUICK_STEPS,
    walkers: Walkers = 32,
    generations: Generations = 150,
    scheduler: Scheduler = None,
    overlay: Overlay = None,
    out: Out = OUT / "backtest",
    as_json: AsJson = False,
) -> None:
    """Fit up to --train-until and score the predicted years after it, up to 2019."""
    if train_until >= SCORE_YEARS[1]:
        fail(f"--train-until must be before {SCORE_YEARS[1]} to leave years to predict")
    _fit(
        train_until,
        seed,
        chains,
        steps,
        walkers,
        generations,
        scheduler,
        overlay,
        out,
        as_json,
        backtest=True,
    )


def _parse_sets(sets: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for text in sets:
        match = re.fullmatch(r"\s*([a-z.]+)\s*=\s*([-+0-9.eE]+)\s*", text)
        if match is None:
            fail(f"cannot read --set {text!r} (write KEY=FACTOR, e.g. china.repatriation=0)")
        key = match.group(1)
        try:
            value = float(match.group(2))
        except ValueError:
            fail(f"cannot read --set {text!r}: {match.group(2)!r} is not a number")
        if not math.isfinite(value):
            fail(f"--set {key}: give a finite factor (got {match.group(2)})")
        if key not in SCENARIO_KEYS:
            fail(f"unknown scenario key {key!r} (valid: {', '.join(SCENARIO_KEYS)})")
        if value < 0:
            fail(f"--set {key}: factors cannot be negative (got {value:g})")
        values[key] = value
    return values


@app.command("scenario")
def scenario_command(
    sets: Annotated[
        list[str],
        typer.Option("--set", help="KEY=FACTOR, repeatable; keys: " + ", ".join(SCENARIO_KEYS)),
    ],
    start: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")] = "2026-01",
    years: Annotated[int, typer.Option("--years", help="Years to project.")] = 5,
    parameters: Annotated[
        Path | None,
        typer.Option(
            "--parameters",
            help="Posterior file from `flows fit` (default: out/flows/posterior.json).",
        ),
    ] = None,
    seed: Seed = 1,
    scheduler: Scheduler = "sync",
    overlay: Overlay = None,
    out: Out = OUT / "scenario",
    as_json: AsJson = False,
) -> None:
    """Project arrivals, repatriations and North Koreans in China under a what-if."""
    values = _parse_sets(sets)
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", start)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        fail(f"cannot read --from {start!r} (write YYYY-MM, e.g. 2026-01)")
    when = dt.date(int(match.group(1)), int(match.group(2)), 1)
    if years < 1:
        fail(f"--years must be at least 1 (got {years})")
    first = when.year * 12 + when.month - 1
    end_year = (first + 12 * years - 1) // 12
    atlas = load(None, overlay)
    path = parameters or OUT / "posterior.json"
    try:
        from nkescape.flows.parameters import load_config

        config = load_config(atlas)
        if when.year < config.start_year or end_year > 2100:
            fail(
                f"--from {start} + {years} years is outside the model's range "
                f"({config.start_year}-01 to 2100-12)"
            )
        if not path.exists() and parameters is None:
            console().print(f"no posterior at {path}: run `nkescape flows fit` first", markup=False)
            raise typer.Exit(1)
        posterior = load_posterior(path, config.names)
        with console().status("reading the atlas into monthly transit tables"):
            _, inputs, _ = prepare(atlas, max(end_year, _LAST_OBSERVED), seed=seed)
        report = run_scenario(
            inputs, posterior, values, when, years, seed=seed, scheduler=scheduler
        )
    except PosteriorError as exc:
        fail(str(exc))
    except AtlasError as exc:
        for problem in exc.problems:
            print(problem)
        fail("the flow parameters file has problems (listed above)")
    except (ValueError, OSError) as exc:
        fail(str(exc))
    try:
        written = write_scenario_report(report, out)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    if as_json:
        print(json.dumps(report.to_json(), indent=1))
        return
    con = console()
    what = ", ".join(f"{k}={v:g}" for k, v in values.items())
    for key, label in (
        ("arrivals", "arrivals in South Korea"),
        ("repatriated", "sent back"),
        ("hiding", "in China (settled or hiding), December"),
    ):
        table = Table(title=f"{label}: baseline vs {what} (median, 90% interval)")
        for col in ("year", "baseline", "scenario"):
            table.add_column(col, justify="right")
        for j, y in enumerate(report.years):
            b, s = report.table[key]["baseline"][:, j], report.table[key]["scenario"][:, j]
            table.add_row(
                str(y),
                f"{b[1]:,.0f} ({b[0]:,.0f}-{b[2]:,.0f})",
                f"{s[1]:,.0f} ({s[0]:,.0f}-{s[2]:,.0f})",
            )
        con.print(table)
    print("wrote " + ", ".join(str(p) for p in written))
