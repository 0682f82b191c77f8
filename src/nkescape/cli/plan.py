"""``nkescape plan`` and ``nkescape options``: ways out for a person or group, explained.

The plan prints one summary line per itinerary, sized for a 100-column terminal; ``--detail N``
adds the top N itineraries leg by leg, with what happens to those caught and the sources.
``--parameters POSTERIOR --draws K`` adds each itinerary's figures across K samples of the flow
posterior, and runs ``--simulate`` over the same samples (``cli/_posterior.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nkescape.cli._common import (
    Force,
    Overlay,
    Parameters,
    announce,
    console,
    fail,
    library_errors,
    load,
    prog,
    run_folder,
    warn,
    with_parameters,
)
from nkescape.cli._posterior import Draws, check_draws

# The planner's vocabulary of funding: the CLI's choices are built from it, not written again;
# dates and avoid lists are read as the dashboard reads them.
from nkescape.routing.query import DESTINATION, FUNDING, PlanError, parse_avoid
from nkescape.routing.query import parse_date as read_date

if TYPE_CHECKING:
    from rich.console import Console

    from nkescape.atlas import Atlas
    from nkescape.routing import Itinerary, Plan
    from nkescape.routing.query import Funding

FundingChoice = StrEnum("FundingChoice", [(f, f) for f in FUNDING])  # type: ignore[misc]
SELF_FUNDED = FundingChoice("self")


def funding_of(choice: FundingChoice) -> Funding:
    """The planner's funding value for a ``--funding`` choice."""
    return FUNDING[FUNDING.index(choice.value)]


def parse_date(text: str) -> dt.date:
    """``--date``: an ISO date; a bad one is a usage error (exit 2) that shows the format."""
    try:
        return read_date(text)
    except PlanError as exc:
        raise typer.BadParameter(str(exc)) from None


From = Annotated[
    str | None, typer.Option("--from", help="Start place id, e.g. hyesan.", metavar="PLACE")
]
To = Annotated[str, typer.Option("--to", help="Destination place id.", metavar="PLACE")]
Month = Annotated[
    int | None,
    typer.Option(
        "--month",
        help="Departure month (the 1st of it, this year or next).",
        min=1,
        max=12,
        metavar="1-12",
    ),
]
Date = Annotated[
    dt.date | None,
    typer.Option(
        "--date",
        help="Departure date (instead of --month).",
        metavar="YYYY-MM-DD",
        parser=parse_date,
    ),
]
GroupOpt = Annotated[
    str,
    typer.Option(
        "--group",
        help="Who travels: e.g. 2w,1m,1c (w women, m men, c children, e elderly, d disabled).",
        metavar="GROUP",
    ),
]
Budget = Annotated[
    float | None, typer.Option("--budget", help="US$ available up front.", metavar="USD")
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="Who the person is (a profile id).", metavar="ID")
]
FundingOpt = Annotated[FundingChoice, typer.Option("--funding", help="How the journey is paid.")]
Avoid = Annotated[
    str | None,
    typer.Option("--avoid", help="Places or countries to avoid, e.g. CN,LA.", metavar="IDS"),
]
MaxDays = Annotated[
    float | None, typer.Option("--max-days", help="Longest expected journey.", metavar="DAYS")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
SIMULATE_OUT = Path("out/simulate")


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def _band_pct(lo: float, hi: float) -> str:
    return f"{100 * lo:.0f}-{100 * hi:.0f}%"


def _usd(x: float) -> str:
    return f"{x:,.0f}"


def _waited(it: Itinerary) -> float:
    return sum(s.days for s in it.steps if s.kind == "wait")


def route_summary(atlas: Atlas, it: Itinerary, origin: str, destination: str) -> str:
    """The last place in each country on the way: where the itinerary leaves it.

    The origin and destination are in the plan's first line and so left out. Itineraries that
    differ only in their legs (a bus for a car) share a summary; ``--detail`` tells them apart.
    """
    last: dict[str, str] = {}
    for place in it.places:
        country = atlas.places[place].country
        last.pop(country, None)  # re-inserted at the end: countries in the order they are left
        last[country] = place
    shown = [p for p in last.values() if p not in (origin, destination)]
    return " > ".join(shown) or "direct"


@dataclass(frozen=True)
class Column:
    """One column of the plan's summary: header, how to fill a cell, and what it means."""

    header: str
    cell: Callable[[int, Itinerary], str]
    meaning: str
    right: bool = True


def summary_columns(atlas: Atlas, result: Plan) -> list[Column]:
    """The columns of the plan's table, with the footnote line each gets (one place to relabel).

    Every cell is one short line, so that the table fits 100 columns; the route column takes
    what is left and is cut with an ellipsis.
    """
    dest = atlas.places[result.destination].name if result.destination in atlas.places else ""
    p_dest = f"P({dest})" if dest and len(dest) <= 8 else "P(dest)"
    split_cost = any(abs(it.cost_usd - it.cost_upfront_usd) >= 0.5 for it in result.itineraries)
    columns = [
        Column("#", lambda rank, _: str(rank), ""),
        Column(
            "P(safe)",
            lambda _, it: _pct(it.p_reach_safety),
            "P(safe): the chance of reaching a country that does not send people back (first "
            "at 'safe at'), counting capture, broker betrayal and what each country does to those "
            "it catches (band: every leg's chance of being caught at its bounds);",
        ),
        Column("band", lambda _, it: _band_pct(*it.p_reach_safety_range), ""),
        Column(
            p_dest,
            lambda _, it: _pct(it.p_reach_destination),
            f"{p_dest}: of reaching {result.destination};",
        ),
        Column(
            "days",
            lambda _, it: f"{it.days:.0f}",
            "days: if all goes as planned, waits included (band: legs at their 10th-90th "
            "percentiles; wait: days hiding until a leg opens);",
        ),
        Column("band", lambda _, it: f"{it.days_range[0]:.0f}-{it.days_range[1]:.0f}", ""),
        Column("wait", lambda _, it: f"{_waited(it):.0f}" if _waited(it) else "-", ""),
        Column(
            "US$",
            lambda _, it: _usd(it.cost_usd),
            "US$: the full price for the group if all goes as planned, whoever pays"
            + (";" if split_cost else ", all of it paid on the way;"),
        ),
        Column(
            "E[US$]",
            lambda _, it: _usd(it.expected_cost_usd),
            "E[US$]: the mean spent by a group that sets out (journeys that end early pay less; "
            "the simulator's mean cost);",
        ),
    ]
    if split_cost:
        columns.append(
            Column(
                "upfront",
                lambda _, it: _usd(it.cost_upfront_usd),
                "upfront: what the group pays on the way (the rest is paid by a sponsor or, to "
                "a pay-later broker, after arriving);",
            )
        )
    columns += [
        Column("safe at", lambda _, it: it.safety_at or "-", "", right=False),
        Column(
            "route",
            lambda _, it: route_summary(atlas, it, result.origin, result.destination),
            "route: the last place in each country crossed.",
            right=False,
        ),
    ]
    return columns


# Columns of the plan's tables are this many characters apart (padding, then the box's rule).
_GAP = 2


def _say(out: Console, text: str, indent: int = 0) -> None:
    """A paragraph wrapped at the console's width, later lines indented by ``indent``."""
    pad = " " * indent
    wrapped = textwrap.fill(
        text, width=out.width, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False
    )
    out.print(wrapped, markup=False, highlight=False, crop=False, soft_wrap=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def fitted_table(out: Console, columns: list[tuple[str, bool]], rows: list[list[str]]) -> None:
    """A table of one-line rows that fits the console: ``columns`` are (header, right-aligned).

    Every column but the last keeps its full width; the last (a route) takes what is left of
    the line and is cut with an ellipsis. (Rich, left to itself, narrows every column alike
    when a table is too wide, down to nothing for short ones.)
    """
    from rich import box
    from rich.table import Table

    widths = [max([len(h), *(len(row[j]) for row in rows)]) for j, (h, _) in enumerate(columns)]
    room = out.width - sum(widths[:-1]) - _GAP * (len(widths) - 1)
    widths[-1] = max(12, min(widths[-1], room))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for (header, right), w in zip(columns, widths, strict=True):
        table.add_column(header, justify="right" if right else "left", no_wrap=True, width=w)
    for row in rows:
        table.add_row(*row[:-1], _cut(row[-1], widths[-1]))
    out.print(table)


def _print_plan(out: Console, atlas: Atlas, result: Plan, detail: int) -> None:

    _say(
        out,
        f"Plan {result.origin} -> {result.destination}, leaving {result.date.isoformat()}, "
        f"{result.group.label()}, funding {result.funding}"
        + (f", profile {result.profile}" if result.profile else "")
        + (f", budget US${result.budget:,.0f}" if result.budget is not None else ""),
    )
    if result.events:
        _say(out, "Events in force: " + "; ".join(result.events))
    for line in result.departure_notes:
        _say(out, f"On setting out: {line}")
    _say(out, f"{len(result.itineraries)} Pareto-optimal itineraries, ranked by {result.ranking}:")
    columns = summary_columns(atlas, result)
    rows = [
        [col.cell(rank, it) for col in columns]
        for rank, it in enumerate(result.itineraries, start=1)
    ]
    fitted_table(out, [(c.header, c.right) for c in columns], rows)
    _say(out, " ".join(c.meaning for c in columns if c.meaning))
    for rank, it in enumerate(result.itineraries[:detail], start=1):
        _print_legs(out, rank, it)
    out.print(
        "Figures are expected values from sourced estimates, the same account the simulator draws "
        "from. "
        + ("" if detail else "Add --detail 1 to explain itinerary 1 leg by leg, with its sources; ")
        + f"`{prog()} simulate` gives full distributions.",
        markup=False,
    )


def _print_legs(out: Console, rank: int, it: Itinerary) -> None:
    """One itinerary leg by leg: a line of figures per step, then what each step means.

    Under the table, each step gets an indented paragraph: what happens to those caught there,
    the season, group and events that changed its figures, and the sources of its numbers.
    """
    from rich import box
    from rich.table import Table

    out.print()
    out.print(f"Itinerary {rank}, leg by leg:", markup=False)
    legs = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for header, right in (
        ("date", False),
        ("leg", False),
        ("mode", False),
        ("days", True),
        ("US$", True),
        ("p(caught)", True),
    ):
        legs.add_column(header, justify="right" if right else "left", no_wrap=True)
    for step in it.steps:
        legs.add_row(
            step.date.isoformat(),
            step.leg or "wait",
            step.mode,
            f"{step.days:.1f}",
            _usd(step.cost_usd),
            _pct(step.p_intercept),
        )
    out.print(legs)
    for step in it.steps:
        lines = []
        if step.kind != "wait" and step.if_caught and step.if_caught != "-":
            lines.append(f"if caught: {step.if_caught}")
        lines += list(step.notes)
        if step.sources:
            lines.append(f"sources: {', '.join(step.sources)}")
        if not lines:
            continue
        _say(out, step.leg or "wait")
        for line in lines:
            _say(out, line, indent=4)


def plan_command(
    origin: From = None,
    destination: To = DESTINATION,
    month: Month = None,
    date: Date = None,
    group: GroupOpt = "1w",
    budget: Budget = None,
    profile: ProfileOpt = None,
    funding: FundingOpt = SELF_FUNDED,
    avoid: Avoid = None,
    max_days: MaxDays = None,
    as_json: AsJson = False,
    geojson: Annotated[
        Path | None,
        typer.Option("--geojson", help="Also write the itineraries as GeoJSON.", metavar="FILE"),
    ] = None,
    detail: Annotated[
        int,
        typer.Option(
            "--detail",
            help="Explain the top N itineraries leg by leg, with their sources.",
            min=0,
            metavar="N",
        ),
    ] = 0,
    simulate_runs: Annotated[
        int,
        typer.Option(
            "--simulate",
            help="Also simulate the top itinerary this many times.",
            min=0,
            metavar="RUNS",
        ),
    ] = 0,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for --simulate and --draws.", metavar="N")
    ] = 1,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help=f"Folder for --simulate's summary and plots [default: {SIMULATE_OUT}, or "
            f"{SIMULATE_OUT}-2, -3... when taken].",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    force: Force = False,
    overlay: Overlay = None,
    parameters: Parameters = None,
    draws: Draws = None,
) -> None:
    """Plan the ways out for a person or group: probabilities, days and dollars, explained."""
    from nkescape.routing import plan

    if as_json and simulate_runs:
        fail("--json prints the plan only; for a simulation's JSON run `simulate --json`", 2)
    check_draws(draws, parameters)
    folder = (
        run_folder(out_dir, SIMULATE_OUT, force=force, marker="summary.json")
        if simulate_runs
        else None
    )
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
            profile=profile,
            funding=funding_of(funding),
            avoid=parse_avoid(avoid),
            max_days=max_days,
        )
    for line in result.warnings:
        warn(line)
    posterior = spread = None
    if draws is not None and parameters is not None:
        from nkescape.cli._posterior import read_posterior
        from nkescape.flows.uncertainty import plan_over_posterior

        posterior = read_posterior(base, parameters)
        with library_errors():
            spread = plan_over_posterior(base, posterior, result, draws=draws, seed=seed)
    if geojson is not None:
        try:
            geojson.write_text(json.dumps(result.to_geojson(atlas)) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {geojson}: {exc.strerror}")
        announce([geojson], f"{len(result.itineraries)} itineraries")
    if as_json:
        document = result.to_json()
        if spread is not None:
            document["parameter_uncertainty"] = spread.to_json()
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return
    out = console()
    _print_plan(out, atlas, result, detail)
    if spread is not None:
        from nkescape.cli._posterior import print_plan_spread

        print_plan_spread(out, spread)
    if folder is not None and posterior is not None and draws is not None:
        from nkescape.cli._posterior import report_posterior_simulation, run_posterior_journeys

        over = run_posterior_journeys(
            base, posterior, result, 1, draws=draws, runs=simulate_runs, seed=seed
        )
        report_posterior_simulation(
            over,
            f"Simulation of itinerary 1: {simulate_runs:,} journeys at each of {draws} "
            f"posterior draws, seed {seed}",
            folder,
            as_json=False,
        )
    elif folder is not None:
        # Imported here: the simulator and the plots are needed only with --simulate.
        from nkescape.cli.simulate import report_summary, run_journeys

        summary = run_journeys(atlas, result, 1, runs=simulate_runs, seed=seed)
        report_summary(
            summary,
            f"Simulation of itinerary 1: {simulate_runs:,} journeys, seed {seed}",
            folder,
            as_json=False,
        )


def options_command(
    profile: Annotated[
        str, typer.Option("--profile", help="Who the person is (a profile id).", metavar="ID")
    ],
    at: Annotated[
        str | None, typer.Option("--at", help="Where they are now.", metavar="PLACE")
    ] = None,
    destination: To = DESTINATION,
    month: Month = None,
    date: Date = None,
    group: GroupOpt = "1w",
    funding: FundingOpt = SELF_FUNDED,
    as_json: AsJson = False,
    overlay: Overlay = None,
) -> None:
    """List the channels open to a profile, each with its best itinerary's figures."""

    from nkescape.routing import PlanError, plan
    from nkescape.routing.query import suggest

    atlas = load(None, overlay)
    if profile not in atlas.profiles:
        fail(f"unknown profile {profile!r}{suggest(profile, atlas.profiles)}")
    starts = [at] if at else list(atlas.profiles[profile].starts)
    rows: list[dict[str, Any]] = []
    for channel in atlas.channels_for(profile):
        best: tuple[str, Itinerary] | None = None
        for start in starts:
            try:
                result = plan(
                    atlas,
                    start,
                    destination,
                    month=month,
                    date=date,
                    group=group,
                    profile=profile,
                    funding=funding_of(funding),
                    channel=channel.id,
                )
            except PlanError as exc:
                if "unknown" in str(exc) or "group" in str(exc):
                    fail(str(exc))
                continue
            except ValueError as exc:
                fail(str(exc))
            using = [it for it in result.itineraries if channel.id in it.channels]
            if using and (best is None or using[0].p_reach_safety > best[1].p_reach_safety):
                best = (start, using[0])
        row: dict[str, Any] = {"channel": channel.id, "name": channel.name}
        if best is not None:
            row |= {"from": best[0], **best[1].to_json()}
        rows.append(row)
    if as_json:
        from nkescape.routing.planner import PLAN_FORMAT

        document = {"format": PLAN_FORMAT, "profile": profile, "options": rows}
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return
    out = console()
    _say(out, f"Ways out for {atlas.profiles[profile].name}:")
    cells = [
        [row["channel"], "-", "-", "-", "-", "no route from here"]
        if "p_reach_safety" not in row
        else [
            row["channel"],
            row["from"],
            _pct(row["p_reach_safety"]),
            f"{row['days']:.0f}",
            _usd(row["cost_usd"]),
            " > ".join(row["places"]),
        ]
        for row in rows
    ]
    header = [("channel", False), ("from", False), ("P(safe)", True), ("days", True)]
    fitted_table(out, [*header, ("US$", True), ("route", False)], cells)
