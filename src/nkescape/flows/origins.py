"""Where the people crossing into China come from, and so where arrivals come from.

Each month, the people crossing the river border split by province in proportion to the
province's census population times its pull towards the crossings open that month: for every
crossing place, ``exp(-km / decay_km)`` from the province's capital, times the chance of getting
through there (the routing network's chance on those legs that month, events and season
included). No parameter here is calibrated: the populations are the 2008 census's and the decay
scale is a sourced judgement (``data/provinces.yaml``). Arrivals of a year who spent ``a`` years in
China then carry the split of the departures of ``a`` years before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from nkescape.atlas import Atlas, AtlasError, Place, Problem, geodesic_km
from nkescape.flows.datafile import Strict, problem_at, read_spec, unknown_sources
from nkescape.flows.transit import river_crossings
from nkescape.routing import build_network
from nkescape.routing.query import Query

__all__ = [
    "PROVINCES_FILE",
    "Province",
    "Provinces",
    "crossing_legs",
    "departure_shares",
    "load_provinces",
    "origin_shares",
    "origin_summary",
]

PROVINCES_FILE = Path(__file__).parent / "data" / "provinces.yaml"


class _Setting(Strict):
    value: Any
    source: tuple[str, ...] = Field(min_length=1)
    note: str


class _Settings(Strict):
    decay_km: _Setting
    crossing_channel: _Setting


class _ProvinceSpec(Strict):
    name: str = Field(min_length=1)
    population: int = Field(gt=0)
    capital: str
    place: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    source: tuple[str, ...] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _one_point(self) -> _ProvinceSpec:
        has_coords = self.lat is not None or self.lon is not None
        if self.place is not None and has_coords:
            raise ValueError("give either place or lat and lon, not both")
        if self.place is None and (self.lat is None or self.lon is None):
            raise ValueError("give the capital as an atlas place, or its lat and lon")
        return self


class _File(Strict):
    settings: _Settings
    provinces: tuple[_ProvinceSpec, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Province:
    """One province: census population and the point that stands for it (its capital)."""

    name: str  # as the atlas's places give it in ``region``
    population: int
    capital: str
    point: Place
    source: tuple[str, ...]


@dataclass(frozen=True)
class Provinces:
    """The provinces and the settings of the split, checked against an atlas."""

    provinces: tuple[Province, ...]
    decay_km: float
    crossing_channel: str
    file: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.provinces)

    @property
    def population(self) -> NDArray[np.float64]:
        return np.array([p.population for p in self.provinces], dtype=np.float64)


def load_provinces(atlas: Atlas, path: Path | None = None) -> Provinces:
    """Read and check the provinces file; raise AtlasError naming file, line and field."""
    path = path or PROVINCES_FILE
    spec, lines, name = read_spec(path, PROVINCES_FILE, _File)
    found: list[Problem] = []

    def problem(where: tuple[Any, ...], message: str) -> None:
        found.append(problem_at(name, lines, where, message))

    decay = spec.settings.decay_km.value
    if isinstance(decay, bool) or not isinstance(decay, int | float) or not decay > 0:
        problem(
            ("settings", "decay_km", "value"), f"must be a distance in km above 0 (got {decay!r})"
        )
    channel = spec.settings.crossing_channel.value
    if channel not in atlas.channels:
        problem(("settings", "crossing_channel", "value"), f"unknown channel {channel!r}")
    elif not crossing_legs(atlas, str(channel)):
        problem(
            ("settings", "crossing_channel", "value"),
            f"channel {channel!r} has no entry leg from North Korea into China",
        )

    provinces: list[Province] = []
    seen: dict[str, int] = {}
    for i, p in enumerate(spec.provinces):
        if p.name in seen:
            problem(("provinces", i, "name"), f"duplicate province (also entry {seen[p.name]})")
        seen.setdefault(p.name, i)
        if p.place is not None:
            place = atlas.places.get(p.place)
            if place is None:
                problem(("provinces", i, "place"), f"unknown place {p.place!r}")
                continue
            if place.country != "KP":
                problem(("provinces", i, "place"), f"{p.place!r} is not in North Korea")
            if place.region is not None and place.region != p.name:
                problem(
                    ("provinces", i, "place"),
                    f"{p.place!r} is in region {place.region!r}, not {p.name!r}",
                )
        else:
            assert p.lat is not None and p.lon is not None  # guaranteed by _ProvinceSpec
            place = Place(
                id="province-capital",
                name=p.capital,
                country="KP",
                kind="origin-town",
                lat=p.lat,
                lon=p.lon,
                region=p.name,
                source=p.source,
            )
        provinces.append(Province(p.name, p.population, p.capital, place, p.source))
    for place in atlas.places.values():
        if place.country == "KP" and place.region is not None and place.region not in seen:
            problem(
                ("provinces",),
                f"atlas place {place.id!r} is in region {place.region!r}, which is not a "
                "province here (add it, or correct the place's region)",
            )
    found.extend(
        unknown_sources(
            atlas,
            name,
            lines,
            [
                *(
                    (("settings", k, "source"), getattr(spec.settings, k).source)
                    for k in ("decay_km", "crossing_channel")
                ),
                *((("provinces", i, "source"), p.source) for i, p in enumerate(spec.provinces)),
            ],
        )
    )
    if found:
        raise AtlasError(found)
    return Provinces(tuple(provinces), float(decay), str(channel), name)


def crossing_legs(atlas: Atlas, channel: str) -> tuple[int, ...]:
    """Indices (in ``atlas.compiled``) of the legs from North Korea into China that are entry
    legs of ``channel``."""
    ids = atlas.compiled.leg_ids
    return tuple(j for j in river_crossings(atlas) if channel in atlas.entry_channels(ids[j]))


def departure_shares(
    atlas: Atlas, months: Sequence[dt.date], *, provinces: Provinces | None = None
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Each month's split of the people crossing into China by province.

    Parameters
    ----------
    atlas
        The atlas whose crossing legs, events and seasons decide which crossings are open and
        how likely getting through them is.
    months
        A day in each month (the first, by convention); the legs and events of that day count.
    provinces
        The provinces and settings; by default the bundled file, checked against ``atlas``.

    Returns
    -------
    shares, names
        ``shares[t, p]``: the share of month ``t``'s crossers from province ``names[p]``; each
        row sums to 1. In a month with no crossing open the split is the one the crossing places
        give with every crossing counted as certain (no one crosses then, but a split stays
        defined).
    """
    prov = provinces or load_provinces(atlas)
    c = atlas.compiled
    legs = np.array(crossing_legs(atlas, prov.crossing_channel), dtype=np.int64)
    points, leg_point = np.unique(c.leg_from[legs], return_inverse=True)
    km = np.array(
        [
            [geodesic_km(p.point, atlas.places[c.place_ids[i]]) for i in points.tolist()]
            for p in prov.provinces
        ]
    )
    pull = prov.population[:, None] * np.exp(-km / prov.decay_km)  # (P, points)
    fallback = pull.sum(axis=1) / pull.sum()
    origin = atlas.legs[c.leg_ids[int(legs[0])]].from_
    out = np.empty((len(months), len(prov.provinces)))
    for t, day in enumerate(months):
        net = build_network(atlas, Query.of_legs(day, origin, history=True)).network
        m = day.month - 1
        is_open = net.open[m, legs]
        # The network's risk is -log(chance of getting through), so this reads the chance back.
        through = np.where(is_open, np.exp(-net.risk[m, legs]), 0.0)
        n_open = np.bincount(leg_point, weights=is_open, minlength=len(points))
        # A crossing place offers the mean chance of its open legs (as transit's crossing does).
        at_point = np.bincount(leg_point, weights=through, minlength=len(points))
        at_point = np.divide(at_point, n_open, out=np.zeros_like(at_point), where=n_open > 0)
        weight = pull @ at_point
        total = weight.sum()
        out[t] = weight / total if total > 0 else fallback
    return out, prov.names


def origin_shares(
    dep_shares: NDArray[np.float64],
    months: Sequence[dt.date],
    stay_hist: NDArray[np.float64],
    years: Sequence[int],
    *,
    weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Arrivals by province: arrivals of year ``y`` who spent ``a`` years in China came from the
    departures of year ``y - a``.

    Parameters
    ----------
    dep_shares
        ``(T, P)``: each month's split of departures (from ``departure_shares``).
    months
        The ``T`` months of ``dep_shares`` (a day in each).
    stay_hist
        ``(K, Y, A)``: arrivals in year ``years[y]`` after ``a`` whole years in China (the last
        bin is "A-1 or more"), for ``K`` parameter sets.
    years
        The ``Y`` arrival years.
    weights
        ``(T,)`` or ``(K, T)``: how many crossed in each month, so that a year's split weighs its
        months by their departures; by default the months count equally.

    Returns
    -------
    ``(K, Y, P)``: the share of year ``y``'s arrivals from each province (NaN where a year has no
    arrivals). Departure years before the first month take that first year's split.
    """
    dep = np.asarray(dep_shares, dtype=np.float64)
    stay = np.asarray(stay_hist, dtype=np.float64)
    if dep.ndim != 2 or dep.shape[0] != len(months):
        raise ValueError(f"dep_shares must be (months, provinces); got {dep.shape}")
    if stay.ndim != 3 or stay.shape[1] != len(years):
        raise ValueError(
            f"stay_hist must be (K, years, A) with {len(years)} years; got {stay.shape}"
        )
    month_year = np.array([d.year for d in months])
    dep_years = np.unique(month_year)
    if max(years) > dep_years[-1]:
        raise ValueError(
            f"arrivals in {max(years)} need departures of that year; months end in {dep_years[-1]}"
        )
    w = np.ones((1, len(months))) if weights is None else np.atleast_2d(np.asarray(weights, float))
    if w.shape[-1] != len(months):
        raise ValueError(f"weights must have one value per month; got {w.shape}")
    # Yearly split (K or 1, D, P): the months of each year, weighted by their departures.
    member = (month_year[None, :] == dep_years[:, None]).astype(np.float64)  # (D, T)
    mass = np.einsum("kt,dt->kd", w, member)
    split = np.einsum("kt,dt,tp->kdp", w, member, dep)
    plain = (member @ dep) / member.sum(axis=1, keepdims=True)
    yearly = np.where(mass[..., None] > 0, split / np.where(mass > 0, mass, 1.0)[..., None], plain)
    a = np.arange(stay.shape[2])
    source_year = np.asarray(years)[:, None] - a[None, :]  # (Y, A)
    index = np.clip(np.searchsorted(dep_years, source_year), 0, len(dep_years) - 1)
    index = np.where(source_year < dep_years[0], 0, index)
    gathered = yearly[:, index, :]  # (K or 1, Y, A, P)
    total = stay.sum(axis=2)
    mixed = np.einsum("kya,kyap->kyp", stay, np.broadcast_to(gathered, (*stay.shape, dep.shape[1])))
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(total[..., None] > 0, mixed / total[..., None], np.nan)
    return out


def origin_summary(
    shares: NDArray[np.float64],
    years: Sequence[int],
    names: Sequence[str],
    *,
    interval: float = 0.9,
) -> dict[str, Any]:
    """fit.json's ``origin_shares``: per year and province, the median and central ``interval``
    of ``shares`` (``(K, Y, P)`` from ``origin_shares``) over the K parameter sets."""
    tail = (1 - interval) / 2
    arr = np.asarray(shares, dtype=np.float64)
    # A year with no arrivals in any parameter set has no shares to report.
    kept = [y for y in range(arr.shape[1]) if not np.isnan(arr[:, y]).all()]
    q = np.full((3, *arr.shape[1:]), np.nan)
    if kept:
        q[:, kept] = np.nanquantile(arr[:, kept], [0.5, tail, 1 - tail], axis=0)
    out_years: list[dict[str, Any]] = []
    for y, year in enumerate(years):
        if y not in kept:
            continue
        out_years.append(
            {
                "year": int(year),
                "shares": {
                    str(name): {
                        "median": float(q[0, y, p]),
                        "low": float(q[1, y, p]),
                        "high": float(q[2, y, p]),
                    }
                    for p, name in enumerate(names)
                },
            }
        )
    return {"interval": interval, "provinces": [str(n) for n in names], "years": out_years}
