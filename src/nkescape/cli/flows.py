"""``nkescape flows``: fit the population model, backtest it, and run what-if scenarios.

Results (the fit table, the scores, the scenario tables, or their JSON) go to standard output;
progress (the mode search, then the chains' steps), warnings and the files written go to
standard error. A fit never lands silently on an earlier one (``run_folder``). The library (NumPy,
SciPy, emcee, Dask, matplotlib) is imported inside the commands, so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nkescape.cli._common import (
    EXIT_CODES,
    Force,
    Overlay,
    announce,
    console,
    fail,
    library_errors,
    load,
    note,
    prog,
    run_folder,
    scheduler_option,
    stderr_console,
    warn,
)
from nkescape.flows.defaults import (
    FIT_FILE,
    FLOWS_OUT,
    LAST_OBSERVED,
    POSTERIOR_FILE,
    QUICK_CHAINS,
    QUICK_STEPS,
    QUICK_WALKERS,
    SCENARIO_KEYS,
    SCORE_YEARS,
    convergence_warning,
    parse_scenario_sets,
    scenario_window,
)

if TYPE_CHECKING:
    from nkescape.flows.analysis import FitReport, ScenarioReport
    from nkescape.flows.calibrate import FitProgress, ProgressFn

app = typer.Typer(
    help="The flow model: yearly escapes and arrivals, fitted, with scenarios.",
    no_args_is_help=True,
)

OUT = FLOWS_OUT
POSTERIOR = POSTERIOR_FILE  # what every fit writes: the marker of a folder holding one


Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).")]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help=f"Folder for the posterior, plots and report [default: {OUT}, or {OUT}-2, ... "
        "when it holds a fit].",
        metavar="DIR",
        show_default=False,
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler tcp://HOST:PORT (default: a local cluster of processes; "
        "'sync' runs in this process).",
        callback=scheduler_option,
        metavar="ADDRESS",
    ),
]
Chains = Annotated[
    int,
    typer.Option("--chains", help="MCMC chains (Dask tasks) from the one mode search.", min=1),
]
Steps = Annotated[
    int, typer.Option("--steps", help="MCMC steps per chain (the first half burn-in).", min=2)
]
Walkers = Annotated[int, typer.Option("--walkers", help="emcee walkers per chain.", min=2)]
Generations = Annotated[
    int,
    typer.Option("--generations", help="Differential-evolution generations for the mode.", min=1),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@contextmanager
def _progress(chains: int, steps: int) -> Iterator[ProgressFn]:
    """A callback showing the fit's progress on stderr: a bar per stage on a terminal, else a
    line as each stage starts and every tenth of the way. A stage of total 0 has no steps."""
    err = stderr_console()
    units = {"mode search": "generations", "sampling": f"steps ({chains} chains x {steps})"}
    if not err.is_terminal:
        printed: dict[str, int] = {}

        def line(p: FitProgress) -> None:
            if p.total <= 0:
                note(f"{p.stage} ...")
                return
            tenth = 10 * p.done // p.total
            if printed.get(p.stage, -1) < tenth:
                printed[p.stage] = tenth
                note(f"{p.stage}: {p.done:,}/{p.total:,} {units.get(p.stage, '')}".rstrip())

        yield line
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(p: FitProgress) -> None:
            total = p.total if p.total > 0 else None
            if p.stage not in tasks:
                for other in tasks.values():  # a new stage: the ones before it are over
                    bar.stop_task(other)
                label = f"{p.stage}, {units[p.stage]}" if p.stage in units else p.stage
                tasks[p.stage] = bar.add_task(label, total=total)
            bar.update(tasks[p.stage], completed=p.done, total=total)

        yield update


def _fit(
    train_until: int,
    seed: int,
    chains: int,
    steps: int,
    walkers: int,
    generations: int,
    scheduler: str | None,
    overlay: list[Path] | None,
    out: Path | None,
    force: bool,
    as_json: bool,
    backtest: bool,
) -> FitReport:
    from nkescape.flows.analysis import FitProgress, fit_flows, fit_range, prepare, report_fit
    from nkescape.flows.observed import load_arrivals
    from nkescape.flows.parameters import load_config
    from nkescape.report.flows import write_fit_report

    atlas = load(None, overlay)
    with library_errors():
        config = load_config(atlas)
        lo, hi = fit_range(load_arrivals(), config.start_year)
    if backtest:
        hi = min(hi, SCORE_YEARS[1] - 1)  # leave years to predict
    if not lo <= train_until <= hi:
        fail(
            f"--train-until {train_until} is outside the years a "
            f"{'backtest' if backtest else 'fit'} can end in ({lo}-{hi})"
        )
    default = OUT / "backtest" if backtest else OUT
    folder = run_folder(out, default, force=force, marker=POSTERIOR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write to {folder}: {exc.strerror or exc}")
    with library_errors(), _progress(chains, steps) as say:
        say(FitProgress("transit tables (planner + simulator on the atlas)", 0, 0))
        _, inputs, observed = prepare(atlas, LAST_OBSERVED, seed=seed)
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
            progress=say,
        )
        say(FitProgress("the report (predictive runs, plots)", 0, 0))
        score = (max(train_until + 1, SCORE_YEARS[0]), SCORE_YEARS[1]) if backtest else SCORE_YEARS
        report = report_fit(inputs, observed, posterior, score_years=score, seed=seed, atlas=atlas)
    try:
        posterior.save(folder / POSTERIOR)
        written = write_fit_report(report, folder, backtest=backtest)
        (folder / FIT_FILE).write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write to {folder}: {exc.strerror or exc}")
    verdict = convergence_warning(posterior.meta)
    if verdict is not None:
        warn(verdict)
    announce([folder / POSTERIOR, folder / FIT_FILE, *written])
    if folder != OUT and not backtest:
        note(
            f"to project from this fit: {prog()} flows scenario --parameters "
            f"{folder / POSTERIOR} --set KEY=FACTOR"
        )
    if as_json:
        print(json.dumps(report.to_json(), indent=1))
        return report
    _print_fit(report)
    return report


def _print_fit(report: FitReport) -> None:
    from rich.table import Table

    from nkescape.report.flows import stock_line

    con = console()
    posterior = report.posterior
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
        f"chains: {meta.get('chains')} x {meta.get('walkers')} walkers x {meta.get('steps')} "
        f"steps ({meta.get('burn_in')} burn-in), acceptance {meta.get('acceptance')}, "
        f"autocorrelation {meta.get('autocorrelation_steps')} steps; R-hat (largest) "
        f"{meta.get('r_hat_max')}, effective sample size (smallest) bulk "
        f"{meta.get('ess_bulk_min')}, tail {meta.get('ess_tail_min')}",
        markup=False,
    )
    con.print("parameters (posterior median, 90% interval; R-hat):", markup=False)
    r_hats = meta.get("r_hat") or {}
    for name in posterior.names:
        lo, mid, hi = posterior.interval(name)
        con.print(f"  {name}: {mid:.4g} ({lo:.4g}-{hi:.4g}); {r_hats.get(name)}", markup=False)
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


TrainUntil = Annotated[int, typer.Option("--train-until", help="Last year to fit.")]


@app.command("fit", epilog=EXIT_CODES)
def fit_command(
    train_until: TrainUntil = SCORE_YEARS[1],
    seed: Seed = 1,
    chains: Chains = QUICK_CHAINS,
    steps: Steps = QUICK_STEPS,
    walkers: Walkers = QUICK_WALKERS,
    generations: Generations = 150,
    scheduler: Scheduler = None,
    overlay: Overlay = None,
    out: Out = None,
    force: Force = False,
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
        force,
        as_json,
        backtest=False,
    )


@app.command("backtest", epilog=EXIT_CODES)
def backtest_command(
    train_until: TrainUntil = 2015,
    seed: Seed = 1,
    chains: Chains = QUICK_CHAINS,
    steps: Steps = QUICK_STEPS,
    walkers: Walkers = QUICK_WALKERS,
    generations: Generations = 150,
    scheduler: Scheduler = None,
    overlay: Overlay = None,
    out: Out = None,
    force: Force = False,
    as_json: AsJson = False,
) -> None:
    """Fit up to --train-until and score the predicted years after it, up to 2019."""
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
        force,
        as_json,
        backtest=True,
    )


def _parse_sets(sets: list[str]) -> dict[str, float]:
    with library_errors():
        values = parse_scenario_sets(sets)
    return values


@app.command("scenario", epilog=EXIT_CODES)
def scenario_command(
    sets: Annotated[
        list[str],
        typer.Option("--set", help="KEY=FACTOR, repeatable; keys: " + ", ".join(SCENARIO_KEYS)),
    ],
    start: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")] = "2026-01",
    years: Annotated[int, typer.Option("--years", help="Years to project.", min=1)] = 5,
    parameters: Annotated[
        Path | None,
        typer.Option(
            "--parameters",
            help=f"Posterior file from `flows fit` [default: {OUT / POSTERIOR}].",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    seed: Seed = 1,
    scheduler: Scheduler = "sync",
    overlay: Overlay = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the scenario's plot and report.")
    ] = OUT / "scenario",
    as_json: AsJson = False,
) -> None:
    """Project arrivals, repatriations and North Koreans in China under a what-if."""
    from nkescape.flows.analysis import prepare, run_scenario
    from nkescape.flows.calibrate import load_posterior
    from nkescape.flows.parameters import load_config
    from nkescape.report.flows import write_scenario_report

    values = _parse_sets(sets)
    atlas = load(None, overlay)
    with library_errors():
        config = load_config(atlas)
        when, end_year = scenario_window(start, years, config.start_year)
    path = parameters or OUT / POSTERIOR
    if parameters is None and not path.exists():
        fail(f"no posterior at {path}: run `{prog()} flows fit` first, or pass --parameters FILE")
    with library_errors():
        posterior = load_posterior(path, config.names)
        with stderr_console().status("reading the atlas into monthly transit tables"):
            _, inputs, _ = prepare(atlas, max(end_year, LAST_OBSERVED), seed=seed)
        report = run_scenario(
            inputs, posterior, values, when, years, seed=seed, scheduler=scheduler
        )
    try:
        written = write_scenario_report(report, out)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    announce(written)
    if as_json:
        print(json.dumps(report.to_json(), indent=1))
        return
    _print_scenario(report, values)


def _print_scenario(report: ScenarioReport, values: dict[str, float]) -> None:
    from rich.table import Table

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
