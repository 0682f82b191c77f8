"""Every planning question gets a clear answer: dates the atlas cannot speak of, huge groups."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nkescape.atlas import Atlas, bundled_atlas
from nkescape.atlas.schema import FIRST_YEAR, LAST_YEAR
from nkescape.routing import PlanError, plan
from nkescape.routing.query import MAX_GROUP, Group


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


@pytest.mark.parametrize("day", [dt.date(9999, 12, 31), dt.date(1, 1, 1), dt.date(1899, 12, 31)])
def test_a_date_outside_the_atlas_is_refused_with_the_range(atlas: Atlas, day: dt.date) -> None:
    with pytest.raises(PlanError, match=f"{FIRST_YEAR}-{LAST_YEAR}"):
        plan(atlas, "hyesan", date=day)


def test_the_last_covered_year_still_plans(atlas: Atlas) -> None:
    result = plan(atlas, "hyesan", date=dt.date(LAST_YEAR, 12, 31))
    assert result.itineraries


def test_a_month_that_falls_past_the_range_is_refused(atlas: Atlas) -> None:
    with pytest.raises(PlanError, match="outside the years"):
        plan(atlas, "hyesan", month=1, today=dt.date(LAST_YEAR, 6, 1))


def test_a_departure_before_every_policy_says_so(atlas: Atlas) -> None:
    result = plan(atlas, "hyesan", date=dt.date(1900, 1, 1))
    first = min(p.in_use.first_day for p in atlas.policies.values())
    assert any("before every policy" in w and first.isoformat() in w for w in result.warnings)
    assert result.to_json()["warnings"] == list(result.warnings)


def test_a_covered_departure_has_no_policy_warning(atlas: Atlas) -> None:
    assert plan(atlas, "hyesan", date=dt.date(2017, 9, 1)).warnings == ()


def test_a_group_too_large_is_refused() -> None:
    with pytest.raises(PlanError, match=str(MAX_GROUP)):
        Group.parse(f"{MAX_GROUP + 1}c")
    with pytest.raises(PlanError, match="cannot read"):
        Group.parse("1" * 5000 + "w")
    assert Group.parse(f"{MAX_GROUP - 1}c,1w").size == MAX_GROUP


def test_the_largest_group_gets_a_clear_answer(atlas: Atlas) -> None:
    # A hundred children slow every leg past the planner's horizon: said, not crashed.
    with pytest.raises(PlanError, match="months\\) the planner looks ahead"):
        plan(atlas, "hyesan", date=dt.date(2017, 9, 1), group=f"{MAX_GROUP}c")
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1), group=f"{MAX_GROUP}w")
    json.dumps(result.to_json(), allow_nan=False)
