"""Published route, season, stay and origin figures beside the flow model's (``report.md``).

The figures in ``data/validation.yaml`` never enter the likelihood: the model's shares come from
its mechanisms, and this table says how close they come. A row is "inside" when the published
value or range meets the model's 90% band.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from nkescape.atlas import Atlas, AtlasError, Problem, bundled_atlas
from nkescape.flows.datafile import Strict, problem_at, read_spec, unknown_sources
from nkescape.flows.observed import load_arrivals
from nkescape.flows.origins import load_provinces

__all__ = ["VALIDATION_FILE", "Published", "Row", "load_published", "markdown", "validation_rows"]

VALIDATION_FILE = Path(__file__).parent / "data" / "validation.yaml"

Quantity = Literal["route_share", "arrivals_in_months", "years_in_china", "origin_share"]
Stat = Literal["mean", "median", "share_5_plus"]

# The field that says which part of the model's figure a quantity is compared with.
_KEY_FIELD: dict[str, str] = {
    "route_share": "routes",
    "arrivals_in_months": "months",
    "years_in_china": "stat",
    "origin_share": "provinces",
}
# fit.json's key for each quantity.
_FIT_KEY: dict[str, str] = {
    "route_share": "route_shares",
    "arrivals_in_months": "monthly_arrivals",
    "years_in_china": "years_in_china",
    "origin_share": "origin_shares",
}
_LABEL: dict[str, str] = {
    "route_share": "reached safety in",
    "arrivals_in_months": "share of the year's arrivals in",
    "years_in_china": "years in China:",
    "origin_share": "arrivals from",
}
_STATS: dict[str, str] = {
    "mean": "mean",
    "median": "median",
    "share_5_plus": "share at 5 or more",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _FigureSpec(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    quantity: Quantity
    years: tuple[int] | tuple[int, int]
    routes: tuple[str, ...] | None = Field(default=None, min_length=1)
    months: tuple[int, ...] | None = Field(default=None, min_length=1)
    stat: Stat | None = None
    provinces: tuple[str, ...] | None = Field(default=None, min_length=1)
    value: float | None = None
    low: float | None = None
    high: float | None = None
    measure: str = Field(min_length=1)
    source: tuple[str, ...] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> _FigureSpec:
        key = _KEY_FIELD[self.quantity]
        for other in _KEY_FIELD.values():
            given = getattr(self, other) is not None
            if other == key and not given:
                raise ValueError(f"a {self.quantity} figure needs {key}")
            if other != key and given:
                raise ValueError(f"{other} does not belong to a {self.quantity} figure")
        if self.value is None and (self.low is None or self.high is None):
            raise ValueError("give value, or low and high, or all three")
        lo = self.low if self.low is not None else self.value
        hi = self.high if self.high is not None else self.value
        assert lo is not None and hi is not None
        if not lo <= hi or (self.value is not None and not lo <= self.value <= hi):
            raise ValueError(
                f"need low <= value <= high (got {self.low}, {self.value}, {self.high})"
            )
        if len(self.years) == 2 and not self.years[0] < self.years[1]:
            raise ValueError("years: the first year must come before the last")
        if self.months is not None and not all(1 <= m <= 12 for m in self.months):
            raise ValueError(f"months are 1-12 (got {list(self.months)})")
        share = self.quantity != "years_in_china" or self.stat == "share_5_plus"
        if share and not 0 <= lo <= hi <= 1:
            raise ValueError("a share lies between 0 and 1")
        if not share and lo < 0:
            raise ValueError("a number of years is not negative")
        return self


class _File(Strict):
    figures: tuple[_FigureSpec, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Published:
    """One published figure: what it measures, its value or range, and its sources."""

    id: str
    quantity: str
    years: tuple[int, int]  # first and last, inclusive
    keys: tuple[str, ...]  # routes or provinces summed, months, or the statistic
    value: float | None
    low: float
    high: float
    measure: str
    source: tuple[str, ...]
    note: str | None

    @property
    def label(self) -> str:
        if self.quantity == "arrivals_in_months":
            months = [_MONTHS[int(m) - 1] for m in self.keys]
            contiguous = [int(m) for m in self.keys] == list(
                range(int(self.keys[0]), int(self.keys[-1]) + 1)
            )
            what = (
                f"{months[0]}-{months[-1]}" if contiguous and len(months) > 1 else ", ".join(months)
            )
        elif self.quantity == "years_in_china":
            what = _STATS[self.keys[0]]
        else:
            what = ", ".join(self.keys)
        return f"{_LABEL[self.quantity]} {what}"

    @property
    def unit(self) -> str:
        """``years`` for a number of years, else ``share``."""
        stat = self.keys[0] if self.quantity == "years_in_china" else ""
        return "years" if stat in ("mean", "median") else "share"

    @property
    def years_label(self) -> str:
        first, last = self.years
        return str(first) if first == last else f"{first}-{last}"

    def published_label(self) -> str:
        fmt = _format(self.unit)
        if self.value is not None and self.low == self.high:
            return fmt(self.value)
        span = f"{fmt(self.low)}-{fmt(self.high)}"
        return span if self.value is None else f"{fmt(self.value)} ({span})"


@dataclass(frozen=True)
class Row:
    """A published figure beside the model's median and 90% band for the same quantity.

    Plain fields only, so that ``dataclasses.asdict`` gives the JSON of fit.json's
    ``validation``.
    """

    id: str
    quantity: str
    label: str
    years: tuple[int, int]
    published: str  # as the table prints it
    unit: str  # share or years
    value: float | None
    published_low: float
    published_high: float
    sources: tuple[str, ...]
    median: float | None
    low: float | None
    high: float | None
    inside: bool | None  # None: the fit has no figure for it
    gap: float | None  # model median less the published value (or its range's middle)
    note: str
    measure: str


def load_published(atlas: Atlas | None = None, path: Path | None = None) -> tuple[Published, ...]:
    """Read and check the published figures; raise AtlasError naming file, line and field."""
    atlas = atlas or bundled_atlas()
    path = path or VALIDATION_FILE
    spec, lines, name = read_spec(path, VALIDATION_FILE, _File)
    found: list[Problem] = []
    provinces = set(load_provinces(atlas).names)
    seen: dict[str, int] = {}
    for i, f in enumerate(spec.figures):
        if f.id in seen:
            found.append(
                problem_at(
                    name,
                    lines,
                    ("figures", i, "id"),
                    f"duplicate id {f.id!r} (also entry {seen[f.id]})",
                )
            )
        seen.setdefault(f.id, i)
        for j, p in enumerate(f.provinces or ()):
            if p not in provinces:
                where = ("figures", i, "provinces", j)
                found.append(
                    problem_at(
                        name,
                        lines,
                        where,
                        f"unknown province {p!r} (known: {', '.join(sorted(provinces))})",
                    )
                )
    found.extend(
        unknown_sources(
            atlas,
            name,
            lines,
            [(("figures", i, "source"), f.source) for i, f in enumerate(spec.figures)],
        )
    )
    if found:
        raise AtlasError(found)
    out: list[Published] = []
    for f in spec.figures:
        keys = f.routes or f.provinces or tuple(map(str, f.months or ())) or (f.stat or "",)
        lo = f.low if f.low is not None else f.value
        hi = f.high if f.high is not None else f.value
        assert lo is not None and hi is not None
        out.append(
            Published(
                f.id,
                f.quantity,
                (f.years[0], f.years[-1]),
                keys,
                f.value,
                lo,
                hi,
                f.measure,
                f.source,
                f.note,
            )
        )
    return tuple(out)


Band = tuple[float, float, float]  # median, low, high


def validation_rows(
    fit_json: Mapping[str, Any], published: Sequence[Published] | None = None
) -> list[Row]:
    """One row per published figure, with the model's figure for it from ``fit_json``.

    ``fit_json`` has fit.json's layout (``route_shares``, ``monthly_arrivals``,
    ``years_in_china``, ``origin_shares``). A span of years is compared with the model's yearly
    figures weighted by the ministry's arrivals in each year; summed shares (several routes or
    provinces, several months) add the medians and the band ends, which gives bounds a little
    wider than a 90% band of the sum.
    """
    figures = load_published() if published is None else published
    observed = load_arrivals()
    arrivals = dict(zip(observed.years, observed.total, strict=True))
    rows: list[Row] = []
    for f in figures:
        band, note = _model_band(fit_json, f, arrivals)
        median = low = high = gap = None
        inside = None
        if band is not None:
            median, low, high = band
            inside = bool(low <= f.high and f.low <= high)
            # A band with no width (a split no parameter moves) is rarely exactly "inside";
            # the gap says how near it comes.
            gap = median - (f.value if f.value is not None else (f.low + f.high) / 2)
        rows.append(
            Row(
                id=f.id,
                quantity=f.quantity,
                label=f.label,
                years=f.years,
                published=f.published_label(),
                unit=f.unit,
                value=f.value,
                published_low=f.low,
                published_high=f.high,
                sources=f.source,
                median=median,
                low=low,
                high=high,
                inside=inside,
                gap=gap,
                note=note,
                measure=f.measure + (f" {f.note}" if f.note else ""),
            )
        )
    return rows


def _model_band(
    fit: Mapping[str, Any], f: Published, arrivals: Mapping[int, int]
) -> tuple[Band | None, str]:
    key = _FIT_KEY[f.quantity]
    block = fit.get(key)
    if not isinstance(block, Mapping):
        return None, f"the fit reports no {key}"
    if f.quantity == "arrivals_in_months":
        # The average year of the run: one entry per calendar month.
        by_month = {int(e["month"]): e["share"] for e in block.get("months", ())}
        missing = [m for m in map(int, f.keys) if m not in by_month]
        if missing:
            return None, f"the fit has no monthly_arrivals for months {missing}"
        span = block.get("span")
        when = f" {span[0]}-{span[-1]}" if span else ""
        return _sum(by_month[int(m)] for m in f.keys), f"model: the average year{when}"
    first, last = f.years
    yearly: list[tuple[int, Band]] = []
    absent: set[str] = set()
    names = {str(r["name"]).casefold(): str(r["id"]) for r in block.get("routes", ())}
    for e in block.get("years", ()):
        year = int(e["year"])
        if first <= year <= last:
            band = _entry_band(e, f, names, absent)
            if band is not None:
                yearly.append((year, band))
    if not yearly:
        return None, f"the fit has no {key} for {f.years_label}"
    # A route or province the fit gives no share for is one the model sends no one by; say so,
    # since a misspelt name would read the same.
    notes = [f"no share for {', '.join(sorted(absent))} in the fit (read as 0)"] if absent else []
    if len(yearly) == 1:
        return yearly[0][1], "; ".join(notes)
    weights = np.array([arrivals.get(y, 0) for y, _ in yearly], dtype=np.float64)
    if not weights.sum() > 0:
        weights = np.ones(len(yearly))
    mean = weights @ np.array([b for _, b in yearly]) / weights.sum()
    notes.insert(0, f"model: {yearly[0][0]}-{yearly[-1][0]} weighted by the ministry's arrivals")
    return (float(mean[0]), float(mean[1]), float(mean[2])), "; ".join(notes)


def _entry_band(
    entry: Mapping[str, Any], f: Published, names: Mapping[str, str], absent: set[str]
) -> Band | None:
    if f.quantity == "years_in_china":
        stat = entry.get(f.keys[0])
        return None if stat is None else _band(stat)
    shares = {str(k).casefold(): v for k, v in entry.get("shares", {}).items()}
    # A route may be named by its id (TH) or by the name the fit gives it (Thailand).
    wanted = [names.get(k.casefold(), k).casefold() for k in f.keys]
    absent.update(k for k, w in zip(f.keys, wanted, strict=True) if w not in shares)
    zero = {"median": 0.0, "low": 0.0, "high": 0.0}
    return _sum(shares.get(w, zero) for w in wanted)


def _band(d: Mapping[str, Any]) -> Band:
    return float(d["median"]), float(d["low"]), float(d["high"])


def _sum(parts: Iterable[Mapping[str, Any]]) -> Band:
    bands = [_band(p) for p in parts]
    return (
        sum(b[0] for b in bands),
        sum(b[1] for b in bands),
        sum(b[2] for b in bands),
    )


def _format(unit: str) -> Callable[[float], str]:
    if unit == "years":
        return lambda x: f"{x:.1f} y"
    return lambda x: f"{100 * x:.0f}%"


def _format_gap(unit: str, gap: float) -> str:
    return f"{gap:+.1f} y" if unit == "years" else f"{100 * gap:+.0f} pts"


def markdown(rows: Sequence[Row]) -> str:
    """The validation table for report.md: one line per published figure."""
    lines = [
        "| Figure | Years | Published | Model median (90%) | Inside | Model - published | Sources "
        "| Measure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fmt = _format(r.unit)
        first, last = r.years
        if r.median is None or r.low is None or r.high is None:
            model = f"- ({r.note})"
        else:
            model = f"{fmt(r.median)} ({fmt(r.low)}-{fmt(r.high)})"
            if r.note:
                model += f"; {r.note}"
        cells = [
            r.label,
            str(first) if first == last else f"{first}-{last}",
            r.published,
            model,
            {True: "yes", False: "no", None: "-"}[r.inside],
            "-" if r.gap is None else _format_gap(r.unit, r.gap),
            ", ".join(r.sources),
            r.measure,
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
