"""Provinces and origins: the provinces file, the split of departures, arrivals by province."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from nkescape.atlas import Atlas, AtlasError, bundled_atlas
from nkescape.flows.origins import (
    PROVINCES_FILE,
    Provinces,
    crossing_legs,
    departure_shares,
    load_provinces,
    origin_shares,
    origin_summary,
)

# The 2008 census: 24,052,231 people, 702,372 of them in military camps outside any province.
CENSUS_IN_PROVINCES = 24_052_231 - 702_372


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


@pytest.fixture(scope="module")
def provinces(atlas: Atlas) -> Provinces:
    return load_provinces(atlas)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "provinces.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _bundled_data() -> dict[str, Any]:
    data = yaml.safe_load(PROVINCES_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_bundled_provinces_are_the_census(provinces: Provinces) -> None:
    assert len(provinces.provinces) == 10
    assert int(provinces.population.sum()) == CENSUS_IN_PROVINCES
    assert {"North Hamgyong", "Ryanggang", "Pyongyang"} <= set(provinces.names)
    assert provinces.decay_km > 0


def test_every_north_korean_region_of_the_atlas_is_a_province(
    atlas: Atlas, provinces: Provinces
) -> None:
    regions = {p.region for p in atlas.places.values() if p.country == "KP" and p.region}
    assert regions <= set(provinces.names)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["provinces"][0].update(population=-5), "provinces[0].population", "got -5"),
        (lambda d: d["provinces"][1].update(place="hyesna"), "provinces[1].place", "hyesna"),
        (lambda d: d["provinces"][1].update(lat=39.0), "provinces[1]", "not both"),
        (lambda d: d["provinces"][2].update(source=["no-such-source"]), "provinces[2].source", ""),
        (lambda d: d["provinces"][3].update(colour="red"), "provinces[3].colour", "unknown field"),
        (
            lambda d: d["settings"]["crossing_channel"].update(value="no-channel"),
            "settings.crossing_channel.value",
            "unknown channel",
        ),
        (
            lambda d: d["settings"]["decay_km"].update(value=0),
            "settings.decay_km.value",
            "above 0",
        ),
        # Hyesan is in Ryanggang, so it cannot stand for Chagang.
        (
            lambda d: d["provinces"][8].update(place="hyesan", lat=None, lon=None),
            "provinces[8]",
            "",
        ),
    ],
)
def test_loader_names_file_line_and_field(
    atlas: Atlas, tmp_path: Path, change: Any, field: str, message: str
) -> None:
    data = _bundled_data()
    change(data)
    for p in data["provinces"]:
        for key in [k for k, v in p.items() if v is None]:
            del p[key]
    path = _write(tmp_path, data)
    with pytest.raises(AtlasError) as err:
        load_provinces(atlas, path)
    text = str(err.value)
    lines = [line.strip() for line in text.splitlines()[1:]]
    hit = [line for line in lines if f": {field}" in line and message in line]
    assert hit, text
    # file:line: field: message
    where = hit[0].split(": ", 1)[0]
    assert where.startswith(f"{path}:") and where.rsplit(":", 1)[1].isdigit()


def test_region_not_in_the_file_is_reported(atlas: Atlas, tmp_path: Path) -> None:
    data = _bundled_data()
    data["provinces"] = [p for p in data["provinces"] if p["name"] != "Ryanggang"]
    with pytest.raises(AtlasError, match=r"'hyesan' is in region 'Ryanggang'"):
        load_provinces(atlas, _write(tmp_path, data))


def test_crossings_are_the_river_legs_not_flights(atlas: Atlas) -> None:
    legs = crossing_legs(atlas, "land-border-china")
    modes = {atlas.legs[atlas.compiled.leg_ids[j]].mode for j in legs}
    assert legs and "flight" not in modes


MONTHS = [dt.date(2010, m, 1) for m in range(1, 13)]


def test_shares_sum_to_one(atlas: Atlas, provinces: Provinces) -> None:
    shares, names = departure_shares(atlas, MONTHS, provinces=provinces)
    assert shares.shape == (12, len(names))
    assert names == provinces.names
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert (shares >= 0).all()


def test_border_provinces_outweigh_inland_ones_per_person(
    atlas: Atlas, provinces: Provinces
) -> None:
    shares, names = departure_shares(atlas, MONTHS, provinces=provinces)
    per_person = shares.mean(axis=0) / provinces.population
    i = {n: k for k, n in enumerate(names)}
    assert per_person[i["Ryanggang"]] > 10 * per_person[i["Pyongyang"]]
    assert per_person[i["North Hamgyong"]] > 10 * per_person[i["South Hwanghae"]]


def test_a_crossing_that_opens_pulls_its_province(atlas: Atlas, provinces: Provinces) -> None:
    # The boat from Sinuiju runs March-November: North Pyongan weighs more in July than in January.
    shares, names = departure_shares(atlas, MONTHS, provinces=provinces)
    k = names.index("North Pyongan")
    assert shares[6, k] > 2 * shares[0, k]


def test_nearer_province_gets_more(atlas: Atlas, provinces: Provinces) -> None:
    # Two provinces alike but for where their capital is: the one at a crossing gets more.
    base = provinces.provinces[0]
    near = dataclasses.replace(
        base, name="Near", point=base.point.model_copy(update={"lat": 41.40, "lon": 128.18})
    )
    far = dataclasses.replace(
        base, name="Far", point=base.point.model_copy(update={"lat": 39.0, "lon": 127.0})
    )
    two = dataclasses.replace(provinces, provinces=(near, far))
    shares, names = departure_shares(atlas, MONTHS, provinces=two)
    assert names == ("Near", "Far")
    assert (shares[:, 0] > 0.9).all()
    # A longer decay scale lets distance matter less.
    flat = dataclasses.replace(two, decay_km=two.decay_km * 100)
    flat_shares, _ = departure_shares(atlas, MONTHS, provinces=flat)
    assert (flat_shares[:, 0] < shares[:, 0]).all() and (flat_shares[:, 0] > 0.5).all()


# --- origin_shares ---------------------------------------------------------------------------

DEP_MONTHS = [dt.date(y, m, 1) for y in (2000, 2001, 2002) for m in (1, 7)]
# Departure splits over two provinces: 2000 all A, 2001 half and half, 2002 all B (each year
# as a January and a July that differ, to check the yearly mean).
DEP = np.array([[1.0, 0.0], [1.0, 0.0], [0.8, 0.2], [0.2, 0.8], [0.0, 1.0], [0.0, 1.0]])


def test_origin_shares_match_a_hand_computation() -> None:
    # Arrivals of 2002: 10 after 0 years (departed 2002), 30 after 1 (2001), 60 after 2+ (2000).
    # Arrivals of 2001: 5 after 0 years (2001), 5 after 1 (2000), none after 2+.
    stay = np.array([[[5.0, 5.0, 0.0], [10.0, 30.0, 60.0]]])
    out = origin_shares(DEP, DEP_MONTHS, stay, [2001, 2002])
    a_2002 = (10 * 0.0 + 30 * 0.5 + 60 * 1.0) / 100
    a_2001 = (5 * 0.5 + 5 * 1.0) / 10
    assert out.shape == (1, 2, 2)
    assert out[0, 1, 0] == pytest.approx(a_2002)
    assert out[0, 0, 0] == pytest.approx(a_2001)
    assert np.allclose(out.sum(axis=2), 1.0)


def test_origin_shares_weights_months_by_departures() -> None:
    # All of 2001's departures in July (0.2 A): arrivals after 0 years in 2001 are 20% from A.
    stay = np.array([[[1.0, 0.0, 0.0]]])
    weights = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    out = origin_shares(DEP, DEP_MONTHS, stay, [2001], weights=weights)
    assert out[0, 0, 0] == pytest.approx(0.2)
    plain = origin_shares(DEP, DEP_MONTHS, stay, [2001])
    assert plain[0, 0, 0] == pytest.approx(0.5)


def test_origin_shares_before_the_first_year_and_empty_years() -> None:
    # Arrivals of 2000 after 2+ years departed before 2000: the first year's split stands in.
    stay = np.array([[[0.0, 0.0, 4.0]], [[0.0, 0.0, 0.0]]])
    out = origin_shares(DEP, DEP_MONTHS, stay, [2000])
    assert out[0, 0, 0] == pytest.approx(1.0)
    assert np.isnan(out[1, 0]).all()


def test_origin_shares_refuse_arrivals_after_the_departures() -> None:
    with pytest.raises(ValueError, match="2003"):
        origin_shares(DEP, DEP_MONTHS, np.ones((1, 1, 2)), [2003])


def test_origin_summary_is_fit_json_layout() -> None:
    shares = np.array([[[0.2, 0.8], [np.nan, np.nan]], [[0.4, 0.6], [np.nan, np.nan]]])
    block = origin_summary(shares, [2001, 2002], ("A", "B"))
    assert block["provinces"] == ["A", "B"] and block["interval"] == 0.9
    (year,) = block["years"]  # 2002 has no arrivals in any parameter set
    assert year["year"] == 2001
    a = year["shares"]["A"]
    assert a["median"] == pytest.approx(0.3) and a["low"] < a["median"] < a["high"]
