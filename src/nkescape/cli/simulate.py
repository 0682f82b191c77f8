"""``nkescape simulate``: many journeys along a planned itinerary, with intervals.

Results (the summary, or its JSON with ``--json``) go to standard output; the progress bar,
warnings and the names of the files written (``summary.json``, the plots, ``journeys.parquet``)
go to standard error. A run never lands silently on an earlier one (``run_folder``).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# The simulator's vocabularies: the CLI's choices are built from them, not written again.
from nkescape.backends import (
    BACKEND_HELP,
    BACKENDS,
    DEVICE_HELP,
    DEVICES,
    BackendError,
    resolve,
)
from nkescape.cli._common import (
    Force,
    Overlay,
    Parameters,
    announce,
    console,
    fail,
    library_errors,
    load,
    run_folder,
    scheduler_option,
    stderr_console,
    warn,
    with_parameters,
)
from nkescape.cli._posterior import Draws, check_draws
from nkescape.cli.plan import (
    SELF_FUNDED,
    SIMULATE_OUT,
    Budget,
    Date,
    From,
    FundingOpt,
    GroupOpt,
    Month,
    To,
    funding_of,
)
from nkescape.routing.query import DESTINATION

if TYPE_CHECKING:
    from nkescape.atlas import Atlas
    from nkescape.routing import Plan
    from nkescape.simulate import Chunk, Summary

DeviceChoice = StrEnum("DeviceChoice", [(d, d) for d in DEVICES])  # type: ignore[misc]
BackendChoice = StrEnum("BackendChoice", [(b, b) for b in BACKENDS])  # type: ignore[misc]
ON_CPU = DeviceChoice("cpu")
AUTO_BACKEND = BackendChoice("auto")


def run_journeys(
    atlas: Atlas,
    result: Plan,
    itinerary: int,
    *,
    runs: int,
    seed: int,
    device: str = "cpu",
    backend: str = "auto",
    scheduler: str | None = None,
    adaptive: bool = False,
    on_start: Callable[[Summary], None] | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> Summary:
    """Simulate with a progress bar and the library's warnings on stderr; bad input exits 1."""
    from rich.progress import Progress

    from nkescape.simulate import simulate, simulate_adaptive

    err = stderr_console()
    with (
        library_errors(),
        Progress(console=err, transient=True, disable=not err.is_terminal) as bar,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        task = bar.add_task("simulating journeys", total=runs)

        def advance(n: int) -> None:
            bar.advance(task, n)

        if adaptive:
            summary = simulate_adaptive(
                atlas, query=result.query, runs=runs, seed=seed, progress=advance
            )
        else:
            summary = simulate(
                atlas,
                result,
                itinerary,
                runs=runs,
                seed=seed,
                device=device,
                backend=backend,
                scheduler=scheduler,
                progress=advance,
                on_start=on_start,
                on_chunk=on_chunk,
            )
    for warning in caught:
        warn(str(warning.message))
    return summary


def simulate_command(
    origin: From = None,
    destination: To = DESTINATION,
    month: Month = None,
    date: Date = None,
    group: GroupOpt = "1w",
    budget: Budget = None,
    funding: FundingOpt = SELF_FUNDED,
    itinerary: Annotated[
        int,
        typer.Option(
            "--itinerary", help="Which of the plan's itineraries (1 = best).", metavar="N"
        ),
    ] = 1,
    adaptive: Annotated[
        bool,
        typer.Option("--adaptive", help="Re-plan at every place instead of one itinerary."),
    ] = False,
    runs: Annotated[int, typer.Option("--runs", help="Number of journeys.", metavar="N")] = 100_000,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed (same seed, same numbers).", metavar="N")
    ] = 1,
    device: Annotated[DeviceChoice, typer.Option("--device", help=DEVICE_HELP)] = ON_CPU,
    backend: Annotated[BackendChoice, typer.Option("--backend", help=BACKEND_HELP)] = AUTO_BACKEND,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run the chunks as Dask tasks: tcp://HOST:PORT (a running scheduler's workers), "
            "'local' (a cluster of processes here) or 'sync' (here, one by one) [default: threads "
            "in this process]; the same seed gives the same numbers. CPU kernels, without "
            "--parquet.",
            callback=scheduler_option,
            metavar="ADDRESS",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON summary (the same as summary.json).")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help=f"Folder for summary.json and the plots (PNG) [default: {SIMULATE_OUT}, or "
            f"{SIMULATE_OUT}-2, -3... when taken].",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    force: Force = False,
    parquet: Annotated[
        bool, typer.Option("--parquet", help="Also write every journey to journeys.parquet.")
    ] = False,
    overlay: Overlay = None,
    parameters: Parameters = None,
    draws: Draws = None,
) -> None:
    """Simulate many journeys along a planned itinerary: odds, days and dollars with intervals."""
    from nkescape.routing import plan

    check_draws(draws, parameters, adaptive=adaptive, parquet=parquet)

    if adaptive and (
        parquet or device.value != "cpu" or backend.value not in ("auto", "numpy") or scheduler
    ):
        fail(
            "--adaptive runs the NumPy kernel in this process and keeps counts only (drop "
            "--parquet, --device, --backend and --scheduler)"
        )
    if parquet and (device.value == "gpu" or backend.value == "jax"):
        fail("--parquet needs a CPU kernel (--backend numpy or numba): JAX keeps only counts")
    if parquet and scheduler is not None:
        fail(
            "--parquet needs every journey in this process; Dask workers return counts only "
            "(drop --scheduler, or --parquet)"
        )
    if not adaptive:
        # Before anything is planned or written: a kernel or device that cannot run here.
        try:
            resolve(backend.value, device.value)
        except BackendError as exc:
            fail(str(exc))
    folder = run_folder(out_dir, SIMULATE_OUT, force=force, marker="summary.json")
    base = load(None, overlay)
    atlas = with_parameters(base, parameters)
    with library_errors():
        result = plan(
            atlas,
            origin,
            destination,
            month=month,
            date=date,
            group=group,
            budget=budget,
            funding=funding_of(funding),
        )
    if not 1 <= itinerary <= len(result.itineraries):
        fail(f"--itinerary: choose 1-{len(result.itineraries)} (the plan has that many)")
    chosen = result.itineraries[itinerary - 1]
    if draws is not None and parameters is not None:
        # Imported here: the posterior's draws are needed only with --draws.
        from nkescape.cli._posterior import simulate_over_draws

        simulate_over_draws(
            base,
            parameters,
            result,
            itinerary,
            draws=draws,
            runs=runs,
            seed=seed,
            out_dir=folder,
            as_json=as_json,
            device=device.value,
            backend=backend.value,
            scheduler=scheduler,
        )
        return
    parquet_path = folder / "journeys.parquet"
    writer: Any = None
    if parquet:
        from nkescape.report.journeys import JourneyWriter

        try:
            folder.mkdir(parents=True, exist_ok=True)
            legs = tuple(s.leg for s in chosen.legs if s.leg is not None)
            writer = JourneyWriter(parquet_path, legs)
        except (ImportError, OSError) as exc:
            fail(str(exc))
    try:
        summary = run_journeys(
            atlas,
            result,
            itinerary,
            runs=runs,
            seed=seed,
            device=device.value,
            backend=backend.value,
            scheduler=scheduler,
            adaptive=adaptive,
            on_start=writer.start if writer is not None else None,
            on_chunk=writer.write if writer is not None else None,
        )
    finally:
        if writer is not None:
            writer.close()
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
    report_summary(summary, header, folder, as_json=as_json, extra=[parquet_path] if writer else [])


def write_summary(
    data: dict[str, Any],
    summary: Summary,
    out_dir: Path,
    *,
    as_json: bool,
    extra: list[Path] | None = None,
    detail: str = "",
) -> bool:
    """Write ``data`` as summary.json and the plots of ``summary`` to ``out_dir`` (announced on
    stderr, or exit 1); with ``as_json`` print the JSON and return True: nothing else follows."""
    # Imported here: matplotlib is the slowest import of all, and only a run needs it.
    from nkescape.report import write_simulation_plots

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "summary.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        plots = write_simulation_plots(summary, out_dir)
    except OSError as exc:
        fail(f"cannot write to {out_dir}: {exc.strerror}")
    announce([out_dir / "summary.json", *plots, *(extra or [])], detail)
    if as_json:
        print(json.dumps(data, indent=2))
        sys.stdout.flush()
    return as_json


def report_summary(
    summary: Summary, header: str, out_dir: Path, *, as_json: bool, extra: list[Path] | None = None
) -> None:
    """Write summary.json and the plots to ``out_dir`` (announced on stderr); print the summary.

    With ``as_json`` standard output holds only the JSON (the same as summary.json).
    """
    from rich import box
    from rich.table import Table

    data = summary.to_json()
    if write_summary(data, summary, out_dir, as_json=as_json, extra=extra):
        return
    out = console()
    out.print(header, markup=False)
    for key in ("p_reach_safety", "p_reach_destination"):
        lo, hi = data[key]["ci95"]
        out.print(f"{key}: {data[key]['value']:.4f} (95% CI {lo:.4f}-{hi:.4f})", markup=False)
    if data["p_wounded_if_safe"] is not None:
        # Computed from the legs' figures, not drawn: see Summary.p_wounded_if_safe.
        out.print(
            f"reached safety wounded: {data['p_wounded_if_safe']:.4f} of those who reached "
            "safety (legs crossed under fire, independent)",
            markup=False,
        )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for col in ("", "p10", "median", "p90", "mean"):
        table.add_column(col, justify="right" if col else "left")
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
    out.print("Where journeys end:", markup=False)
    funnel = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for col in ("leg", "entered", "repatriated", "in hiding", "dead", "handed to embassy"):
        funnel.add_column(col, justify="left" if col == "leg" else "right")
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
