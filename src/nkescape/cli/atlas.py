"""``nkescape atlas``: check, show and export the atlas.

Results go to standard output; the overlay's replacements, warnings and the files written go to
standard error.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nkescape.atlas.schema import SHOW_ORDER
from nkescape.cli._common import EXIT_CODES, Overlay, announce, console, fail, load, note

if TYPE_CHECKING:
    from rich.console import Console

    from nkescape.atlas import Atlas

app = typer.Typer(help="Check, show and export the atlas.", no_args_is_help=True)

# The kinds of entry, in the order the atlas shows them: the choices of `show --kind`.
Kind = StrEnum("Kind", [(k, k) for k in SHOW_ORDER])  # type: ignore[misc]

Dirs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Atlas directories to use instead of the bundled atlas (later ones override "
        "earlier ones by id).",
        show_default=False,
    ),
]


def estimate_stats(atlas: Atlas) -> tuple[int, int]:
    """Number of estimates in the atlas, and how many rest only on assumption sources."""
    from nkescape.atlas import Estimate
    from nkescape.atlas.validate import walk

    total = assumed = 0
    for d in atlas.definitions.values():
        for _, model in walk(d.entry):
            if isinstance(model, Estimate):
                total += 1
                if all(atlas.sources[s].kind == "assumption" for s in model.source):
                    assumed += 1
    return total, assumed


@app.command(epilog=EXIT_CODES)
def check(dirs: Dirs = None, overlay: Overlay = None) -> None:
    """Validate the atlas and print its counts; exit 1 listing every problem."""
    from rich.table import Table

    atlas = load(dirs, overlay)
    for o in atlas.overrides:
        note(f"override: {o.key[0]} {o.key[1]} from {o.by.where} replaces {o.replaced.where}")
    out = console()
    counts = atlas.counts()
    table = Table(title="atlas", show_edge=False)
    table.add_column("kind")
    table.add_column("entries", justify="right")
    for kind, n in counts.items():
        table.add_row(kind, str(n))
    out.print(table)
    kinds = Counter(s.kind for s in atlas.sources.values())
    out.print("sources by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    total, assumed = estimate_stats(atlas)
    out.print(
        f"estimates: {total}, of which {assumed} ({assumed / max(total, 1):.0%}) rest only on "
        "the project's modelling judgement"
    )
    out.print("layers: " + ", ".join(atlas.layers), markup=False)
    out.print("atlas OK: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()), markup=False)


def _years(entry: Any) -> str:
    years = getattr(entry, "in_use", None)
    if years is None:
        return "always"
    until = years.until if years.until is not None else ""
    # A policy's period may run between days (2013-05-10), where a hyphen would not separate them.
    sep = " to " if isinstance(years.start, dt.date) or isinstance(until, dt.date) else "-"
    return f"{years.start}{sep}{until}"


class _Rows:
    """One kind's entries as rows of text, shown as a table when it fits the width."""

    def __init__(self, title: str, *columns: str) -> None:
        self.title = title
        self.columns = columns
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def print(self, out: Console) -> None:
        """A table if every row fits on one line, else one block per entry (never a cell
        folded to a few letters a line): its id, then ``column: value`` pairs, wrapped."""
        from rich import box
        from rich.table import Table

        widths = [
            max([len(c), *(len(r[j]) for r in self.rows)]) for j, c in enumerate(self.columns)
        ]
        out.print(self.title, markup=False)
        if sum(widths) + 2 * (len(widths) - 1) <= out.width:
            table = Table(
                box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0)
            )
            for c in self.columns:
                table.add_column(c, no_wrap=True)
            for r in self.rows:
                table.add_row(*r)
            out.print(table)
            return
        for r in self.rows:
            out.print(r[0], markup=False, highlight=False)
            pairs = "; ".join(f"{c}: {v}" for c, v in zip(self.columns[1:], r[1:], strict=True))
            text = textwrap.fill(
                pairs, width=out.width, initial_indent="    ", subsequent_indent="    "
            )
            out.print(text, markup=False, highlight=False, soft_wrap=True)


def _tables(atlas: Atlas) -> dict[str, _Rows]:
    table = _Rows

    places = table("places", "id", "name", "country", "kind", "lat", "lon", "defined at")
    for p in atlas.places.values():
        places.add_row(
            p.id,
            p.name,
            p.country,
            p.kind,
            f"{p.lat:.2f}",
            f"{p.lon:.2f}",
            atlas.origin("places", p.id).where,
        )
    legs = table(
        "legs",
        "id",
        "from -> to",
        "mode",
        "by",
        "days",
        "US$",
        "p(caught)",
        "km",
        "months",
        "years",
    )
    for leg in atlas.legs.values():
        months = "all" if len(leg.months) == 12 else ",".join(map(str, leg.months))
        legs.add_row(
            leg.id,
            f"{leg.from_} -> {leg.to}",
            leg.mode,
            leg.operator,
            leg.duration_days.format(),
            leg.cost_usd.format(),
            leg.p_intercept.format(),
            f"{atlas.leg_distance(leg).central:,.0f}",
            months,
            _years(leg),
        )
    channels = table("channels", "id", "name", "profiles", "entry legs", "seed items")
    for ch in atlas.channels.values():
        channels.add_row(
            ch.id,
            ch.name,
            ", ".join(p.id for p in atlas.profiles_for(ch.id)),
            ", ".join(ch.entry_legs),
            ", ".join(f"{c.seed}#{c.item}" for c in ch.covers),
        )
    profiles = table("profiles", "id", "name", "starts", "channels")
    for pr in atlas.profiles.values():
        profiles.add_row(
            pr.id,
            pr.name,
            ", ".join(pr.starts),
            ", ".join(c.id for c in atlas.channels_for(pr.id)),
        )
    policies = table(
        "policies", "id", "country", "years", "if caught", "detention days", "sends back"
    )
    for po in atlas.policies.values():
        policies.add_row(
            po.id,
            po.country,
            _years(po),
            ", ".join(f"{k} {v.format()}" for k, v in po.outcomes.items()),
            po.detention_days.format(),
            "yes" if po.sends_back else "no",
        )
    actors = table(
        "actors", "id", "kind", "price factor", "pay later", "robbed", "turned in", "sold"
    )
    for a in atlas.actors.values():
        r = a.reliability
        actors.add_row(
            a.id,
            a.kind,
            a.price_factor.format(),
            "yes" if a.pay_later else "no",
            r.robbed.format(),
            r.turned_in.format(),
            r.sold.format(),
        )
    events = table("events", "date", "id", "name", "effects")
    for e in sorted(atlas.events.values(), key=lambda e: e.date):
        events.add_row(str(e.date), e.id, e.name, str(len(e.effects)))
    cases = table("cases", "year", "id", "people", "channel", "outcome", "path")
    for c in sorted(atlas.cases.values(), key=lambda c: c.year):
        cases.add_row(str(c.year), c.id, str(c.people), c.channel, c.outcome, " -> ".join(c.path))
    sources = table("sources", "id", "kind", "year", "title")
    for s in atlas.sources.values():
        sources.add_row(s.id, s.kind, str(s.year or ""), s.title)
    return {
        "places": places,
        "legs": legs,
        "channels": channels,
        "profiles": profiles,
        "policies": policies,
        "actors": actors,
        "events": events,
        "cases": cases,
        "sources": sources,
    }


@app.command(epilog=EXIT_CODES)
def show(
    dirs: Dirs = None,
    overlay: Overlay = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object, a list per kind.")
    ] = False,
    kind: Annotated[
        list[Kind] | None,
        typer.Option(
            "--kind",
            help="Show only this kind (repeatable): " + ", ".join(SHOW_ORDER) + ".",
            metavar="KIND",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the atlas as tables, or as one JSON object with a list per kind."""
    atlas = load(dirs, overlay)
    wanted = [k.value for k in kind] if kind else None
    if as_json:
        from nkescape.atlas.model import ATLAS_JSON_FORMAT

        data = atlas.to_json()
        if wanted:
            data = {k: v for k, v in data.items() if k in wanted}
        print(json.dumps({"format": ATLAS_JSON_FORMAT, **data}, indent=2, ensure_ascii=False))
        return
    out = console()
    for name, rows in _tables(atlas).items():
        if wanted is None or name in wanted:
            rows.print(out)
            out.print()


class Format(StrEnum):
    """The formats ``export`` writes."""

    geojson = "geojson"


@app.command(epilog=EXIT_CODES)
def export(
    dirs: Dirs = None,
    overlay: Overlay = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.geojson,
    output: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here instead of standard output.", metavar="FILE"),
    ] = None,
) -> None:
    """Export the atlas for maps: places as points, legs as lines (GeoJSON)."""
    from nkescape.atlas import to_geojson

    atlas = load(dirs, overlay)
    text = json.dumps(to_geojson(atlas), ensure_ascii=False)
    if output is None:
        print(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    announce([output], f"{len(atlas.places)} places, {len(atlas.legs)} legs")
