"""The published figures shown beside the flow model, and the validation table."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from nkescape.atlas import Atlas, AtlasError, bundled_atlas
from nkescape.flows.validation import (
    VALIDATION_FILE,
    Published,
    Row,
    load_published,
    markdown,
    validation_rows,
)


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


@pytest.fixture(scope="module")
def published(atlas: Atlas) -> tuple[Published, ...]:
    return load_published(atlas)


def test_every_figure_has_a_known_source(atlas: Atlas, published: tuple[Published, ...]) -> None:
    assert published
    for f in published:
        assert f.source and all(s in atlas.sources for s in f.source), f.id
        assert f.low <= f.high
        assert f.measure


def test_each_quantity_has_figures(published: tuple[Published, ...]) -> None:
    kinds = {f.quantity for f in published}
    assert kinds == {"route_share", "arrivals_in_months", "years_in_china", "origin_share"}
    assert len({f.id for f in published}) == len(published)


def _bundled_data() -> dict[str, Any]:
    data = yaml.safe_load(VALIDATION_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda f: f.update(source=["no-such-source"]), "figures[0].source", "unknown source"),
        (lambda f: f.update(value=1.5, low=None, high=None), "figures[0]", "between 0 and 1"),
        (lambda f: f.update(value=0.9, low=0.1, high=0.2), "figures[0]", "low <= value <= high"),
        (lambda f: f.update(months=[1, 2]), "figures[0]", "months does not belong"),
        (lambda f: f.update(quantity="sea_share"), "figures[0].quantity", "expected one of"),
    ],
)
def test_loader_names_file_line_and_field(
    atlas: Atlas, tmp_path: Path, change: Any, field: str, message: str
) -> None:
    data = _bundled_data()
    change(data["figures"][0])
    data["figures"][0] = {k: v for k, v in data["figures"][0].items() if v is not None}
    path = tmp_path / "validation.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(AtlasError) as err:
        load_published(atlas, path)
    lines = [line.strip() for line in str(err.value).splitlines()[1:]]
    hit = [line for line in lines if f": {field}" in line and message in line]
    assert hit, str(err.value)
    where = hit[0].split(": ", 1)[0]
    assert where.startswith(f"{path}:") and where.rsplit(":", 1)[1].isdigit()


def test_unknown_province_is_reported(atlas: Atlas, tmp_path: Path) -> None:
    data = _bundled_data()
    origin = next(f for f in data["figures"] if f["quantity"] == "origin_share")
    origin["provinces"] = ["North Hamgyeong"]
    path = tmp_path / "validation.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(AtlasError, match="unknown province 'North Hamgyeong'"):
        load_published(atlas, path)


# --- rows for constructed inputs --------------------------------------------------------------


def _figure(quantity: str, keys: tuple[str, ...], years: tuple[int, int], **kw: Any) -> Published:
    value = kw.get("value")
    return Published(
        id=kw.get("id", "f"),
        quantity=quantity,
        years=years,
        keys=keys,
        value=value,
        low=kw.get("low", value),
        high=kw.get("high", value),
        measure="constructed",
        source=("nkescape-judgement",),
        note=None,
    )


def _band(median: float, low: float, high: float) -> dict[str, float]:
    return {"median": median, "low": low, "high": high}


FIT: dict[str, Any] = {
    "route_shares": {
        "interval": 0.9,
        "routes": [{"id": "TH", "name": "Thailand"}, {"id": "MN", "name": "Mongolia"}],
        "years": [
            {"year": 2016, "shares": {"TH": _band(0.8, 0.7, 0.9), "MN": _band(0.1, 0.05, 0.2)}},
            {"year": 2017, "shares": {"TH": _band(0.6, 0.5, 0.65)}},
        ],
    },
    "monthly_arrivals": {
        "interval": 0.9,
        "span": [2002, 2019],
        "months": [{"month": m, "share": _band(1 / 12, 0.07, 0.1)} for m in range(1, 13)],
    },
    "years_in_china": {
        "interval": 0.9,
        "years": [
            {
                "year": 2009,
                "mean": _band(6.6, 5.0, 8.0),
                "median": _band(5.0, 4.0, 6.0),
                "share_5_plus": _band(0.5, 0.4, 0.6),
            }
        ],
    },
    "origin_shares": {
        "interval": 0.9,
        "years": [
            {"year": 2015, "shares": {"Ryanggang": _band(0.1, 0.05, 0.15)}},
            {"year": 2016, "shares": {"Ryanggang": _band(0.3, 0.25, 0.35)}},
        ],
    },
}


def _rows(*figures: Published) -> list[Row]:
    return validation_rows(FIT, figures)


def test_inside_is_whether_the_published_figure_meets_the_band() -> None:
    inside, outside, edge = _rows(
        _figure("route_share", ("TH",), (2016, 2016), value=0.72),
        _figure("route_share", ("TH",), (2017, 2017), value=0.72),
        _figure("route_share", ("Thailand",), (2017, 2017), low=0.65, high=0.9),
    )
    assert inside.inside is True and inside.median == pytest.approx(0.8)
    assert inside.gap == pytest.approx(0.08) and outside.gap == pytest.approx(-0.12)
    assert outside.inside is False
    assert edge.inside is True  # a range that only touches the band's end
    assert edge.median == pytest.approx(0.6)  # the route found by its name


def test_sums_spans_months_and_stats() -> None:
    summed, span, months, stat, none = _rows(
        _figure("route_share", ("TH", "MN"), (2016, 2016), value=0.95),
        _figure("origin_share", ("Ryanggang",), (2015, 2016), value=0.12),
        _figure("arrivals_in_months", ("1", "2", "3", "4", "5", "6"), (2018, 2018), value=0.43),
        _figure("years_in_china", ("mean",), (2009, 2009), value=1.5),
        _figure("years_in_china", ("mean",), (2012, 2012), value=1.5),
    )
    assert (summed.median, summed.low, summed.high) == pytest.approx((0.9, 0.75, 1.1))
    assert summed.inside is True
    # 2015 and 2016 weighted by the ministry's arrivals (1,275 and 1,418).
    w = 1275 / (1275 + 1418)
    assert span.median == pytest.approx(w * 0.1 + (1 - w) * 0.3)
    assert span.inside is False  # 0.12 is below the weighted low end (about 0.16)
    assert months.median == pytest.approx(0.5) and months.inside is True
    assert stat.inside is False and stat.unit == "years"
    assert none.inside is None and none.median is None


def test_a_share_the_fit_lacks_is_zero_and_said() -> None:
    (row,) = _rows(_figure("route_share", ("VN",), (2016, 2016), value=0.25))
    assert row.median == 0.0 and row.inside is False
    assert "VN" in row.note


def test_rows_are_plain_json(published: tuple[Published, ...]) -> None:
    rows = validation_rows(FIT, published)
    assert len(rows) == len(published)
    for r in rows:
        d = dataclasses.asdict(r)
        assert set(d) >= {"quantity", "years", "published", "sources", "median", "low", "high"}
        assert all(isinstance(v, str | int | float | bool | tuple | type(None)) for v in d.values())


def test_markdown_has_one_row_per_figure(published: tuple[Published, ...]) -> None:
    rows = validation_rows(FIT, published)
    text = markdown(rows)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(rows)
    rows_md = [lines[0], *lines[2:]]
    assert all(line.startswith("| ") and line.endswith(" |") for line in rows_md)
    assert all(line.count(" | ") == lines[0].count(" | ") for line in rows_md)
    assert "72%" in text and "1.5 y" in text and "+8 pts" in text
