"""``--draws K``: ``plan`` and ``simulate`` over K draws of the flow model's posterior.

With ``--parameters POSTERIOR`` alone, both commands run on one calibrated atlas. With
``--draws K`` as well, the plan (made on that atlas) is evaluated, or its itinerary simulated,
on K atlases that each hold one posterior sample's China hiding risk, and the output says how
far the figures move with the parameters (``nkescape.flows.uncertainty``). Like the rest of the
CLI, this module imports the library inside its functions, so that ``--help`` stays fast.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nkescape.cli._common import (
    console,
    fail,
    library_errors,
    stderr_console,
    warn,
)

if TYPE_CHECKING:
    from rich.console import Console

    from nkescape.atlas import Atlas
    from nkescape.flows.calibrate import Posterior
    from nkescape.flows.uncertainty import PosteriorPlan, PosteriorSimulation, ShareSpread
    from nkescape.routing import Plan

__all__ = [
    "Draws",
    "check_draws",
    "print_plan_spread",
    "read_posterior",
    "report_posterior_simulation",
    "run_posterior_journeys",
    "simulate_over_draws",
]

Draws = Annotated[
    int | None,
    typer.Option(
        "--draws",
        help="With --parameters: also run over K samples of the posterior (2 up to its number "
        "of samples, chosen by --seed), and show how far the figures move with the parameters.",
        min=2,
        metavar="K",
        show_default=False,
    ),
]


def check_draws(
    draws: int | None, parameters: Path | None, *, adaptive: bool = False, parquet: bool = False
) -> None:
    """Usage errors (exit 2, one line) for ``--draws`` with options it cannot go with."""
    if draws is None:
        return
    if parameters is None:
        fail("--draws needs --parameters POSTERIOR: the posterior to draw from", 2)
    if adaptive:
        fail("--draws simulates one itinerary on each draw: drop --adaptive", 2)
    if parquet:
        fail("--draws keeps counts only: drop --parquet", 2)


def read_posterior(atlas: Atlas, path: Path) -> Posterior:
    """The posterior at ``path`` for the flow model of ``atlas``, or exit 1 in one line."""
    # Imported here: the flow model pulls in emcee and Dask, which plain planning never needs.
    from nkescape.atlas import AtlasError
    from nkescape.flows.calibrate import PosteriorError, load_posterior
    from nkescape.flows.parameters import load_config

    try:
        return load_posterior(path, load_config(atlas).names)
    except PosteriorError as exc:
        fail(str(exc))
    except AtlasError as exc:
        fail(f"the flow parameters file has problems: {exc.problems[0]}")


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def _band(interval: tuple[float, float] | None, cell: Any) -> str:
    return "-" if interval is None else f"{cell(interval[0])}-{cell(interval[1])}"


def _pct_band(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"{100 * interval[0]:.1f}-{_pct(interval[1])}"


def _days(x: float) -> str:
    return f"{x:.0f}"


def _usd(x: float) -> str:
    return f"{x:,.0f}"


def print_plan_spread(out: Console, spread: PosteriorPlan) -> None:
    """The plan's figures across the draws: a row per itinerary, then what they mean."""
    from rich.markup import escape

    from nkescape.cli.plan import _say, fitted_table
    from nkescape.flows.uncertainty import LEVEL

    out.print()
    _say(
        out,
        f"Across {spread.draws} draws of the posterior (of {spread.samples} samples; China's "
        f"hiding risk x {min(spread.scales):.2g}-{max(spread.scales):.2g}), the central "
        f"{LEVEL:.0%} of each figure:",
    )
    columns = [
        ("#", True),
        ("P(safe)", True),
        ("draws", True),
        ("P(dest)", True),
        ("draws", True),
        (escape("E[days]"), True),
        ("draws", True),
        ("E[US$]", True),
        ("draws", False),
    ]
    rows = []
    for it in spread.itineraries:
        safe = it.figures["p_reach_safety"]
        dest = it.figures["p_reach_destination"]
        days = it.figures["expected_days"]
        cost = it.figures["expected_cost_usd"]
        rows.append(
            [
                str(it.rank),
                _pct(safe.planned) if safe.planned is not None else "-",
                _pct_band(safe.interval),
                _pct(dest.planned) if dest.planned is not None else "-",
                _pct_band(dest.interval),
                _days(days.planned) if days.planned is not None else "-",
                _band(days.interval, _days),
                _usd(cost.planned) if cost.planned is not None else "-",
                _band(cost.interval, _usd),
            ]
        )
    fitted_table(out, columns, rows)
    moved = any(
        len(set(figure.per_draw)) > 1 for it in spread.itineraries for figure in it.figures.values()
    )
    _say(
        out,
        (
            ""
            if moved
            else "The draws give the same figures: no itinerary here waits in hiding in China, "
            "the one place the calibrated parameter acts. "
        )
        + "The first of each pair is the plan's figure (the posterior's 90% range as one "
        "estimate), the second the draws'. E[days]: the mean days of those who arrive. The "
        "planner's figures are expected values, with no sampling error: the spread is the "
        "parameters' alone. Planned days and prices are the legs' own, the same on every draw.",
    )


def run_posterior_journeys(
    atlas: Atlas,
    posterior: Posterior,
    result: Plan,
    itinerary: int,
    *,
    draws: int,
    runs: int,
    seed: int,
    **simulate_kwargs: Any,
) -> PosteriorSimulation:
    """``simulate_over_posterior`` with a progress bar and the warnings on stderr; exit 1 on
    bad input. ``atlas`` is the atlas before calibration; ``result`` the plan made on the
    calibrated one."""
    from rich.progress import Progress

    from nkescape.flows.uncertainty import simulate_over_posterior

    err = stderr_console()
    with (
        library_errors(),
        Progress(console=err, transient=True, disable=not err.is_terminal) as bar,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        task = bar.add_task(f"simulating journeys over {draws} draws", total=runs * draws)

        def advance(n: int) -> None:
            bar.advance(task, n)

        spread = simulate_over_posterior(
            atlas,
            posterior,
            result,
            itinerary,
            draws=draws,
            runs=runs,
            seed=seed,
            progress=advance,
            **simulate_kwargs,
        )
    for message in dict.fromkeys(str(w.message) for w in caught):
        warn(message)
    return spread


_SHARES = (("reach safety", "p_reach_safety"), ("reach destination", "p_reach_destination"))


def _share_row(label: str, share: ShareSpread) -> list[str]:
    lo, hi = share.ci95
    s_lo, s_hi = share.sampling_ci95
    return [
        label,
        f"{share.value:.4f}",
        f"{lo:.4f}-{hi:.4f}",
        f"{s_lo:.4f}-{s_hi:.4f}",
        f"{share.sampling_variance**0.5:.4f}",
        f"{share.parameter_variance**0.5:.4f}",
        share.dominant,
    ]


def report_posterior_simulation(
    spread: PosteriorSimulation, header: str, out_dir: Path, *, as_json: bool
) -> None:
    """Write summary.json (combined intervals) and the pooled plots; print the summary.

    With ``as_json`` standard output holds only the JSON (the same as summary.json).
    """
    from rich import box
    from rich.table import Table

    from nkescape.cli.simulate import write_summary
    from nkescape.flows.uncertainty import SPREAD_ALPHA

    data = spread.to_json()
    detail = f"{spread.draws} posterior draws pooled"
    if write_summary(data, spread.pooled, out_dir, as_json=as_json, detail=detail):
        return
    out = console()
    out.print(header, markup=False)
    out.print(
        f"{spread.runs_per_draw:,} journeys at each of {spread.draws} draws of the posterior "
        f"(of {spread.samples} samples; China's hiding risk x "
        f"{min(spread.scales):.2g}-{max(spread.scales):.2g}); 95% intervals:",
        markup=False,
    )
    shares = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for col in ("", "value", "both", "sampling alone", "sd sampling", "sd parameters", "dominant"):
        shares.add_column(col, justify="left" if col in ("", "dominant") else "right")
    for label, key in _SHARES:
        shares.add_row(*_share_row(label, getattr(spread, key)))
    out.print(shares)
    dominant = {getattr(spread, key).dominant for _, key in _SHARES}
    out.print(
        (
            "The parameters dominate: more journeys (--runs) will not narrow the intervals; "
            "a tighter posterior would."
            if "parameters" in dominant
            else "Sampling dominates, or the draws' spread is not yet clear of it (p >= "
            f"{SPREAD_ALPHA:g}): more journeys (--runs) narrow the intervals, and would show "
            "the parameters' part."
        ),
        markup=False,
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for col in ("all draws", "p10", "median", "p90", "mean", "median across draws"):
        table.add_column(col, justify="left" if col == "all draws" else "right")
    for label, key in (
        ("days to safety", "days_to_safety"),
        ("days to destination", "days_to_destination"),
        ("cost US$", "cost_usd"),
    ):
        q = data[key]
        across = q["p50_across_draws"]
        table.add_row(
            label,
            *(f"{q[k]:,.1f}" if q[k] is not None else "-" for k in ("p10", "p50", "p90", "mean")),
            f"{across[0]:,.1f}-{across[1]:,.1f}" if across is not None else "-",
        )
    out.print(table)


def simulate_over_draws(
    atlas: Atlas,
    parameters: Path,
    result: Plan,
    itinerary: int,
    *,
    draws: int,
    runs: int,
    seed: int,
    out_dir: Path,
    as_json: bool,
    **simulate_kwargs: Any,
) -> None:
    """``simulate --parameters POSTERIOR --draws K``: run, write and print, or exit 1.

    ``atlas`` is the atlas before calibration, ``result`` the plan made on the calibrated atlas
    and ``itinerary`` the rank of the one to simulate; ``simulate_kwargs`` go to ``simulate``
    (``device``, ``backend``...).
    """
    posterior = read_posterior(atlas, parameters)
    spread = run_posterior_journeys(
        atlas,
        posterior,
        result,
        itinerary,
        draws=draws,
        runs=runs,
        seed=seed,
        **simulate_kwargs,
    )
    chosen = result.itineraries[itinerary - 1]
    header = (
        f"{runs:,} journeys x {draws} posterior draws {result.origin} -> {result.destination} "
        f"from {result.date}, {result.group.label()}, itinerary {itinerary} "
        f"({len(chosen.legs)} legs), seed {seed}"
    )
    report_posterior_simulation(spread, header, out_dir, as_json=as_json)
