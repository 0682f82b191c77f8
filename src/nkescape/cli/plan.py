"""``nkescape plan`` and ``nkescape options``: ways out for a person or group, explained."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nkescape.atlas import Atlas
from nkescape.cli._common import Overlay, Parameters, console, fail, load, with_parameters
from nkescape.routing import FUNDING, Itinerary, Plan, PlanError, plan
from nkescape.routing.query import Funding

From = Annotated[str | None, typer.Option("--from", help="Start place id, e.g. hyesan.")]
To = Annotated[str, typer.Option("--to", help="Destination place id.")]
Month = Annotated[int | None, typer.Option("--month", help="Departure month 1-12.")]
Date = Annotated[str | None, typer.Option("--date", help="Departure date YYYY-MM-DD.")]
GroupOpt = Annotated[
    str,
    typer.Option(
        "--group",
        help="Who travels: e.g. 2w,1m,1c (w women, m men, c children, e elderly, d disabled).",
    ),
]
Budget = Annotated[float | None, typer.Option("--budget", help="US$ available up front.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Who the person is.")]
FundingOpt = Annotated[
    str, typer.Option("--funding", help=f"How it is paid: {', '.join(FUNDING)}.")
]
Avoid = Annotated[
    str | None, typer.Option("--avoid", help="Places or countries to avoid, e.g. CN,LA.")
]
MaxDays = Annotated[float | None, typer.Option("--max-days", help="Longest expected journey.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _date(date: str | None) -> dt.date | None:
    if date is None:
        return None
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        fail(f"--date: cannot read {date!r} (write YYYY-MM-DD, e.g. 2017-09-01)")


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def _summary(it: Itinerary) -> str:
    places = list(it.places)
    if len(places) > 6:
        places = [*places[:3], "...", *places[-2:]]
    waited = sum(s.days for s in it.steps if s.kind == "wait")
    wait = f" (waits {waited:.0f} days in all)" if waited else ""
    return " > ".join(places) + wait


def _print_plan(out: Console, atlas: Atlas, result: Plan, detail: int) -> None:
    out.print(
        f"Plan {result.origin} -> {result.destination}, leaving {result.date.isoformat()}, "
        f"{result.group.label()}, funding {result.funding}"
        + (f", profile {result.profile}" if result.profile else "")
        + (f", budget US${result.budget:,.0f}" if result.budget is not None else ""),
        markup=False,
    )
    if result.events:
        out.print("Events in force: " + "; ".join(result.events), markup=False)
    table = Table(
        title=f"{len(result.itineraries)} Pareto-optimal itineraries (ranked by {result.ranking})",
        show_edge=False,
    )
    for col in (
        "#",
        "P(safety)",
        "band",
        "P(Seoul)",
        "days",
        "days band",
        "US$ total",
        "US$ up front",
        "safe at",
        "route",
    ):
        table.add_column(col, overflow="fold")
    for rank, it in enumerate(result.itineraries, start=1):
        lo, hi = it.p_reach_safety_range
        table.add_row(
            str(rank),
            _pct(it.p_reach_safety),
            f"{_pct(lo)}-{_pct(hi)}",
            _pct(it.p_reach_destination),
            f"{it.days:.0f}",
            f"{it.days_range[0]:.0f}-{it.days_range[1]:.0f}",
            f"{it.cost_usd:,.0f}",
            f"{it.cost_upfront_usd:,.0f}",
            it.safety_at or "-",
            _summary(it),
        )
    out.print(table)
    for rank, it in enumerate(result.itineraries[:detail], start=1):
        legs = Table(title=f"itinerary {rank}, leg by leg", show_edge=False)
        for col in (
            "date",
            "leg",
            "mode",
            "days",
            "US$",
            "p(caught)",
            "if caught",
            "season, group, events",
            "sources",
        ):
            legs.add_column(col, overflow="fold")
        for s in it.steps:
            legs.add_row(
                s.date.isoformat(),
                s.leg or "wait",
                s.mode,
                f"{s.days:.1f}",
                f"{s.cost_usd:,.0f}",
                f"{_pct(s.p_intercept)}",
                s.if_caught,
                " / ".join(s.notes),
                ", ".join(s.sources),
            )
        out.print(legs)
    out.print(
        "Figures are expected values from sourced estimates; bands come from the estimates' "
        "bounds. Run `nkescape simulate` for full distributions.",
        markup=False,
    )


def plan_command(
    origin: From = None,
    destination: To = "seoul",
    month: Month = None,
    date: Date = None,
    group: GroupOpt = "1w",
    budget: Budget = None,
    profile: ProfileOpt = None,
    funding: FundingOpt = "self",
    avoid: Avoid = None,
    max_days: MaxDays = None,
    as_json: AsJson = False,
    geojson: Annotated[
        Path | None, typer.Option("--geojson", help="Write the itineraries as GeoJSON here.")
    ] = None,
    detail: Annotated[int, typer.Option("--detail", help="Itineraries to explain leg by leg.")] = 2,
    simulate_runs: Annotated[
        int, typer.Option("--simulate", help="Also simulate the top itinerary this many times.")
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --simulate.")] = 1,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the simulation's summary and plots.")
    ] = Path("out/simulate"),
    overlay: Overlay = None,
    parameters: Parameters = None,
) -> None:
    """Plan the ways out for a person or group: probabilities, days and dollars, explained."""
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
            profile=profile,
            funding=_funding(funding),
            avoid=tuple(a.strip() for a in (avoid or "").split(",") if a.strip()),
            max_days=max_days,
        )
    except PlanError as exc:
        fail(str(exc))
    if geojson is not None:
        try:
            geojson.write_text(json.dumps(result.to_geojson(atlas)) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {geojson}: {exc.strerror}")
    if as_json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    _print_plan(console(), atlas, result, detail)
    if simulate_runs:
        # Imported here: the simulate command imports this module for its shared options.
        from nkescape.cli.simulate import report_summary
        from nkescape.simulate import SimulationError, simulate

        try:
            summary = simulate(
                atlas, result.itineraries[0], query=result.query, runs=simulate_runs, seed=seed
            )
        except SimulationError as exc:
            fail(str(exc))
        report_summary(
            summary,
            f"Simulation of itinerary 1: {simulate_runs:,} journeys, seed {seed}",
            out_dir,
            as_json=False,
        )


def _funding(text: str) -> Funding:
    for known in FUNDING:
        if text == known:
            return known
    fail(f"--funding: unknown {text!r} (one of {', '.join(FUNDING)})")


def options_command(
    profile: Annotated[str, typer.Option("--profile", help="Who the person is.")],
    at: Annotated[str | None, typer.Option("--at", help="Where they are now.")] = None,
    destination: To = "seoul",
    month: Month = None,
    date: Date = None,
    group: GroupOpt = "1w",
    funding: FundingOpt = "self",
    as_json: AsJson = False,
    overlay: Overlay = None,
) -> None:
    """List the channels open to a profile, each with its best itinerary's figures."""
    atlas = load(None, overlay)
    if profile not in atlas.profiles:
        from nkescape.routing.query import suggest

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
                    date=_date(date),
                    group=group,
                    profile=profile,
                    funding=_funding(funding),
                    channel=channel.id,
                )
            except PlanError as exc:
                if "unknown" in str(exc) or "group" in str(exc):
                    fail(str(exc))
                continue
            using = [it for it in result.itineraries if channel.id in it.channels]
            if using and (best is None or using[0].p_reach_safety > best[1].p_reach_safety):
                best = (start, using[0])
        row: dict[str, Any] = {"channel": channel.id, "name": channel.name}
        if best is not None:
            row |= {"from": best[0], **best[1].to_json()}
        rows.append(row)
    if as_json:
        print(json.dumps({"profile": profile, "options": rows}, indent=2, ensure_ascii=False))
        return
    out = console()
    table = Table(title=f"ways out for {atlas.profiles[profile].name}", show_edge=False)
    for col in ("channel", "from", "P(safety)", "days", "US$", "route"):
        table.add_column(col, overflow="fold")
    for row in rows:
        if "p_reach_safety" not in row:
            table.add_row(row["channel"], "-", "-", "-", "-", "no route from here")
            continue
        table.add_row(
            row["channel"],
            row["from"],
            _pct(row["p_reach_safety"]),
            f"{row['days']:.0f}",
            f"{row['cost_usd']:,.0f}",
            " > ".join(row["places"]),
        )
    out.print(table)
