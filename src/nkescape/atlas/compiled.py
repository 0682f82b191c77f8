"""The atlas as integer ids and arrays, for the planner and the simulator.

Legs form a CSR adjacency over places; per-month tables hold each leg's expected duration, cost
and interception probability in that month, with seasonal effects applied (factors on a
probability scale its odds, see ``scale_odds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas.estimate import Estimate, scale_odds

if TYPE_CHECKING:
    from nkescape.atlas.model import Atlas

__all__ = ["OPEN_UNTIL", "CompiledAtlas", "compile_atlas"]

# Stands for "still in use" in year_until, so a range test needs no special case.
OPEN_UNTIL = int(np.iinfo(np.int32).max)


@dataclass(frozen=True, eq=False)
class CompiledAtlas:
    """Array form of an atlas. Row ``m - 1`` of a month table is calendar month ``m``."""

    place_ids: tuple[str, ...]
    leg_ids: tuple[str, ...]
    place_index: Mapping[str, int]
    leg_index: Mapping[str, int]
    countries: tuple[str, ...]
    place_country: NDArray[np.int32]
    leg_from: NDArray[np.int32]
    leg_to: NDArray[np.int32]
    indptr: NDArray[np.int32]
    out_legs: NDArray[np.int32]
    open_month: NDArray[np.bool_]
    year_from: NDArray[np.int32]
    year_until: NDArray[np.int32]
    duration_days: NDArray[np.float64]
    cost_usd: NDArray[np.float64]
    p_intercept: NDArray[np.float64]
    distance_km: NDArray[np.float64]

    @property
    def n_places(self) -> int:
        return len(self.place_ids)

    @property
    def n_legs(self) -> int:
        return len(self.leg_ids)

    def legs_out(self, place: int) -> NDArray[np.int32]:
        """Indices of the legs leaving place index ``place``."""
        return self.out_legs[self.indptr[place] : self.indptr[place + 1]]

    def usable(self, year: int, month: int) -> NDArray[np.bool_]:
        """Mask of legs in use in ``year`` and open in ``month``."""
        in_years = (self.year_from <= year) & (year <= self.year_until)
        mask: NDArray[np.bool_] = np.logical_and(in_years, self.open_month[month - 1])
        return mask


def _seasonal_table(atlas: Atlas, name: str, base: list[float]) -> NDArray[np.float64]:
    table = np.tile(np.asarray(base, dtype=np.float64), (12, 1))
    for j, leg in enumerate(atlas.legs.values()):
        for effect in leg.seasonal:
            factor: Estimate | None = getattr(effect, name)
            if factor is not None:
                rows = [m - 1 for m in effect.months]
                if name == "p_intercept_factor":
                    table[rows, j] = scale_odds(table[rows, j], factor.mean)
                else:
                    table[rows, j] *= factor.mean
    return table


def compile_atlas(atlas: Atlas) -> CompiledAtlas:
    """Build the array form; prefer ``atlas.compiled``, which builds it once and keeps it."""
    place_ids = tuple(atlas.places)
    place_index = {p: i for i, p in enumerate(place_ids)}
    legs = list(atlas.legs.values())
    leg_ids = tuple(leg.id for leg in legs)
    countries = tuple(sorted({p.country for p in atlas.places.values()}))
    country_index = {c: i for i, c in enumerate(countries)}

    leg_from = np.array([place_index[leg.from_] for leg in legs], dtype=np.int32)
    leg_to = np.array([place_index[leg.to] for leg in legs], dtype=np.int32)
    order = np.argsort(leg_from, kind="stable").astype(np.int32)
    counts = np.bincount(leg_from, minlength=len(place_ids))
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)

    open_month = np.zeros((12, len(legs)), dtype=np.bool_)
    for j, leg in enumerate(legs):
        open_month[[m - 1 for m in leg.months], j] = True

    p_intercept = _seasonal_table(
        atlas, "p_intercept_factor", [leg.p_intercept.mean for leg in legs]
    )
    return CompiledAtlas(
        place_ids=place_ids,
        leg_ids=leg_ids,
        place_index=place_index,
        leg_index={leg_id: j for j, leg_id in enumerate(leg_ids)},
        countries=countries,
        place_country=np.array(
            [country_index[p.country] for p in atlas.places.values()], dtype=np.int32
        ),
        leg_from=leg_from,
        leg_to=leg_to,
        indptr=indptr,
        out_legs=order,
        open_month=open_month,
        year_from=np.array([leg.in_use.start if leg.in_use else 0 for leg in legs], dtype=np.int32),
        year_until=np.array(
            [
                leg.in_use.until if leg.in_use and leg.in_use.until is not None else OPEN_UNTIL
                for leg in legs
            ],
            dtype=np.int32,
        ),
        duration_days=_seasonal_table(
            atlas, "duration_factor", [leg.duration_days.mean for leg in legs]
        ),
        cost_usd=_seasonal_table(atlas, "cost_factor", [leg.cost_usd.mean for leg in legs]),
        p_intercept=p_intercept,
        distance_km=np.array([atlas.leg_distance(leg).mean for leg in legs], dtype=np.float64),
    )
