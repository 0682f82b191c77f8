"""``nkescape simulate``: many journeys along a planned itinerary, with intervals."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from nkescape.cli._common import Overlay, Parameters, console, fail, load, with_parameters
from nkescape.cli.plan import Budget, Date, From, FundingOpt, GroupOpt, Month, To, _date, _funding
from nkescape.report import write_simulation_plots
from nkescape.report.journeys import JourneyWriter
from nkescape.routing import PlanError, plan
from nkescape.simulate import SimulationError, Summary, simulate, simulate_adaptive


def simulate_command(
    origin: From = None,
    destination: To = "seoul",
    month: Month = None,
    date: Date = None,
    group: GroupOpt = "1w",
    budget: Budget = None,
    funding: FundingOpt = "self",
    itinerary: Annotated[
        int, typer.Option("--itinerary", help="Which of the plan's itineraries (1 = best).")
    ] = 1,
    adaptive: Annotated[
        bool,
        typer.Option("--adaptive", help="Re-plan at every place instead of one itinerary."),
    ] = False,
    runs: Annotated[int, typer.Option("--runs", help="Number of journeys.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).")] = 1,
    device: Annotated[
        str, typer.Option("--device", help="cpu (default), gpu, or auto (GPU if JAX sees one).")
    ] = "cpu",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="CPU kernel: auto (numba when installed), numba, or numpy (the reference).",
        ),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary.")] = False,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for summary.json and the plots (PNG).")
    ] = Path("out/simulate"),
    parquet: Annotated[
        bool, typer.Option("--parquet", help="Also write every journey to journeys.parquet.")
    ] = False,
    overlay: Overlay = None,
    parameters: Parameters = None,
) -> None:
    """Simulate many journeys along a planned itinerary: odds, days and dollars with intervals."""
    atlas = with_parameters(load(None, overlay), parameters)
    try:
        result = plan(
            atlas,
            origin,
            destination,
            month=month,
            date=_date(date),
            group=group,
            budget=budget,
            funding=_funding(funding),
        )
    except PlanError as exc:
        fail(str(exc))
    if not 1 <= itinerary <= len(result.itineraries):
        fail(f"--itinerary: choose 1-{len(result.itineraries)} (the plan has that many)")
    if adaptive and (parquet or device != "cpu"):
        fail("--adaptive runs on the CPU and keeps counts only (drop --parquet and --device)")
    chosen = result.itineraries[itinerary - 1]
    writer: JourneyWriter | None = None
    if parquet:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            legs = tuple(s.leg for s in chosen.legs if s.leg is not None)
            writer = JourneyWriter(out_dir / "journeys.parquet", legs)
        except (ImportError, OSError) as exc:
            fail(str(exc))
    try:
        with (
            Progress(transient=True, disable=as_json) as bar,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            task = bar.add_task("simulating journeys", total=runs)
            if adaptive:
                summary = simulate_adaptive(
                    atlas,
                    query=result.query,
                    runs=runs,
                    seed=seed,
                    progress=lambda n: bar.advance(task, n),
                )
            else:
                summary = simulate(
                    atlas,
                    chosen,
                    query=result.query,
                    runs=runs,
                    seed=seed,
                    device=device,
                    backend=backend,
                    on_chunk=writer.write if writer is not None else None,
                    progress=lambda n: bar.advance(task, n),
                )
    except SimulationError as exc:
        fail(str(exc))
    finally:
        if writer is not None:
            writer.close()
    for warning in caught:
        print(f"nkescape: warning: {warning.message}", file=sys.stderr)
    header = (
        f"{runs:,} journeys {result.origin} -> {result.destination} from {result.date}, "
        f"{result.group.label()}, "
        + (
            "adaptive (re-planning at every place)"
            if adaptive
            else f"itinerary {itinerary} ({len(chosen.legs)} legs)"
        )
        + f", seed {seed}"
    )
    extra = [out_dir / "journeys.parquet"] if writer is not None else []
    report_summary(summary, header, out_dir, as_json=as_json, extra=extra)


def report_summary(
    summary: Summary, header: str, out_dir: Path, *, as_json: bool, extra: list[Path] | None = None
) -> None:
    """Write summary.json and the plots to ``out_dir``; print the summary (or its JSON)."""
    data = summary.to_json()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "summary.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        plots = write_simulation_plots(summary, out_dir)
    except OSError as exc:
        fail(f"cannot write to {out_dir}: {exc.strerror}")
    if as_json:
        print(json.dumps(data, indent=2))
        return
    out = console()
    out.print(header, markup=False)
    for key in ("p_reach_safety", "p_reach_destination"):
        lo, hi = data[key]["ci95"]
        out.print(f"{key}: {data[key]['value']:.4f} (95% CI {lo:.4f}-{hi:.4f})", markup=False)
    table = Table(show_edge=False)
    for col in ("", "p10", "median", "p90", "mean"):
        table.add_column(col)
    for label, key in (
        ("days to safety", "days_to_safety"),
        ("days to destination", "days_to_destination"),
        ("cost US$", "cost_usd"),
    ):
        q = data[key]
        table.add_row(
            label,
            *(f"{q[k]:,.1f}" if q[k] is not None else "-" for k in ("p10", "p50", "p90", "mean")),
        )
    out.print(table)
    funnel = Table(title="where journeys end", show_edge=False)
    for col in ("leg", "entered", "repatriated", "in hiding", "dead", "handed to embassy"):
        funnel.add_column(col)
    for row in data["funnel"]:
        funnel.add_row(
            row["leg"],
            f"{row['entered']:,}",
            f"{row.get('repatriated', 0):,}",
            f"{row.get('in-hiding', 0):,}",
            f"{row.get('dead', 0):,}",
            f"{row.get('reached-destination', 0):,}",
        )
    out.print(funnel)
    written = [out_dir / "summary.json", *plots, *(extra or [])]
    out.print("wrote " + ", ".join(str(p) for p in written), markup=False)
