"""The compiled form agrees with the atlas it was built from."""

from __future__ import annotations

import numpy as np
import pytest

from nkescape.atlas import Atlas, toy_atlas


def check_csr(atlas: Atlas) -> None:
    c = atlas.compiled
    assert c.indptr[0] == 0 and c.indptr[-1] == c.n_legs
    for place, i in c.place_index.items():
        got = {c.leg_ids[j] for j in c.legs_out(i)}
        assert got == {leg.id for leg in atlas.legs_from(place)}
        assert all(c.leg_from[j] == i for j in c.legs_out(i))


def test_csr_matches_atlas() -> None:
    check_csr(toy_atlas())


def test_compiled_is_built_once() -> None:
    atlas = toy_atlas()
    assert atlas.compiled is atlas.compiled


def test_month_tables_apply_seasonal_factors() -> None:
    atlas = toy_atlas()
    c = atlas.compiled
    j = c.leg_index["river-wade"]
    base = atlas.legs["river-wade"].p_intercept.mean
    assert c.p_intercept[0, j] == base  # January: no seasonal effect
    # August: high water doubles the odds of being caught.
    assert c.p_intercept[7, j] / (1 - c.p_intercept[7, j]) == pytest.approx(2 * base / (1 - base))
    assert not c.open_month[0, j] and c.open_month[7, j]
    assert c.open_month[:, c.leg_index["river-ice"]].nonzero()[0].tolist() == [0, 1, 11]


def test_usable_masks_years_and_months() -> None:
    c = toy_atlas().compiled
    flight = c.leg_index["city-capital-flight"]
    assert not c.usable(1999, 5)[flight] and c.usable(2000, 5)[flight]
    assert c.usable(2020, 1)[c.leg_index["river-ice"]]
    assert not c.usable(2020, 6)[c.leg_index["river-ice"]]


def test_distances_are_geodesic_times_detour() -> None:
    atlas = toy_atlas()
    c = atlas.compiled
    j = c.leg_index["bank-city-bus"]
    # 1.3 x the WGS84 distance from (41.45, 128.2) to (41.8, 123.4), about 401.9 km.
    assert np.isclose(c.distance_km[j], 1.3 * 401.84, rtol=1e-3)
    assert c.distance_km[c.leg_index["city-capital-flight"]] == 600
