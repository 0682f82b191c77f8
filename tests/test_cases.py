"""The documented cases: each walks through legs in use on its dates, they spread over the years
and channels the issue asks for, and docs/cases.md is what the generator writes."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from nkescape.atlas import Atlas, bundled_atlas
from nkescape.atlas.schema import Case
from nkescape.report import cases as cases_module
from nkescape.report.cases import (
    DOC,
    CaseError,
    CaseRow,
    case_days,
    case_group,
    case_rows,
    rows_markdown,
    walk_case,
)
from nkescape.routing import events_in_force


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


@pytest.fixture(scope="module")
def rows(atlas: Atlas) -> list[CaseRow]:
    return case_rows(atlas)


def _case(**fields: object) -> Case:
    base: dict[str, object] = {
        "id": "planted",
        "name": "planted",
        "people": 1,
        "outcome": "reached-destination",
        "source": "nkescape-judgement",
    }
    return Case.model_validate({**base, **fields})


def test_every_case_walks_through_legs_in_use_on_its_dates(atlas: Atlas) -> None:
    c = atlas.compiled
    for case in atlas.cases.values():
        walk = walk_case(atlas, case)
        days = set(case_days(case))
        assert len(walk.legs) == len(case.path) - 1, case.id
        assert list(walk.days) == sorted(walk.days), case.id
        for (a, b), leg_id, day in zip(
            zip(case.path, case.path[1:], strict=False), walk.legs, walk.days, strict=True
        ):
            leg = atlas.legs[leg_id]
            j = c.leg_index[leg_id]
            assert (leg.from_, leg.to) == (a, b), (case.id, leg_id)
            assert day in days and day.year == case.year, (case.id, day)
            assert c.usable(day.year, day.month)[j], (case.id, leg_id, day)
            assert atlas.leg_allowed(leg_id, case.profile), (case.id, leg_id, case.profile)
            shut = [
                e.id
                for e, power in events_in_force(atlas, day)
                if power >= 0 and any(f.closes and leg_id in f.legs for f in e.effects)
            ]
            assert shut == [], (case.id, leg_id, day, shut)


def test_a_case_after_the_laos_change_cannot_take_the_vientiane_handover(atlas: Atlas) -> None:
    path = ["vientiane", "seoul"]
    june = _case(year=2013, months=[6], profile="hiding-in-china", channel="ngo-rescue", path=path)
    with pytest.raises(CaseError, match="laos-embassy-flight"):
        walk_case(atlas, june)
    # In May the handover is open until the deportation of 10 May, and shut from that day.
    may = june.model_copy(update={"months": (5,)})
    assert walk_case(atlas, may).start == dt.date(2013, 5, 1)
    assert walk_case(atlas, may.model_copy(update={"months": (4,)})).legs == (
        "laos-embassy-flight",
    )
    late_may = _case(
        year=2013,
        months=[5],
        profile="hiding-in-china",
        channel="ngo-rescue",
        path=["oudomxay", "vientiane", "seoul"],
    )
    walk = walk_case(atlas, late_may)
    assert walk.days[-1] < dt.date(2013, 5, 10)


def test_a_walk_refuses_legs_out_of_their_years_or_closed_to_the_profile(atlas: Atlas) -> None:
    mig = atlas.cases["no-kum-sok-mig-15"]
    with pytest.raises(CaseError, match="mig-15-flight"):
        walk_case(atlas, mig.model_copy(update={"year": 1960}))
    with pytest.raises(CaseError, match="london-asylum-flight"):
        walk_case(atlas, atlas.cases["thae-yong-ho"].model_copy(update={"profile": "pilot"}))
    with pytest.raises(CaseError, match="no leg joins"):
        walk_case(atlas, mig.model_copy(update={"path": ("pyongyang-sunan", "seoul")}))


def test_a_walk_takes_its_hops_in_order_through_the_season(atlas: Atlas) -> None:
    # The ice walk is open from December to March, the wading crossing from April: in a case of
    # March and April the hop is taken in March, on the ice.
    case = _case(
        year=2010,
        months=[3, 4],
        profile="border-resident",
        channel="land-border-china",
        path=["hyesan", "changbai", "yanji"],
    )
    walk = walk_case(atlas, case)
    assert walk.legs[0] == "yalu-ice-walk" and walk.start == dt.date(2010, 3, 1)
    assert walk.days[1] >= walk.days[0]


def test_the_cases_spread_over_years_channels_and_outcomes(atlas: Atlas) -> None:
    seeds = {s.id for s in atlas.sources.values() if s.kind == "seed-article"}
    beyond = [c for c in atlas.cases.values() if not set(c.source) & seeds]
    assert len(beyond) >= 15, [c.id for c in beyond]
    years = [c.year for c in beyond]
    assert min(years) < 2000 and max(years) >= 2025, sorted(years)
    assert {y // 10 * 10 for y in years} >= {1990, 2000, 2010, 2020}
    assert len({c.channel for c in beyond}) >= 6
    assert {"reached-destination", "reached-safety", "repatriated"} <= {c.outcome for c in beyond}
    for case in atlas.cases.values():
        assert case.source and all(s in atlas.sources for s in case.source), case.id
        assert case.note, case.id


def test_a_case_is_planned_as_its_group(atlas: Atlas) -> None:
    assert case_group(atlas.cases["vietnam-airlift-2004"]).size == 1  # group "1w"
    assert case_group(atlas.cases["sinuiju-boat-families"]).children == 4
    crowd = atlas.cases["vietnam-airlift-2004"].model_copy(update={"group": None})
    assert case_group(crowd).size == 1  # more than one party can be, without a group
    assert case_group(crowd.model_copy(update={"people": 9})).size == 9


def test_a_case_that_names_its_legs_walks_them(atlas: Atlas) -> None:
    gymnast = atlas.cases["goseong-gymnast"]
    assert walk_case(atlas, gymnast).legs == gymnast.legs
    unnamed = walk_case(atlas, gymnast.model_copy(update={"legs": ()}))
    assert unnamed.legs[0] != gymnast.legs[0]  # the least-risk leg there is the swim
    wrong = gymnast.model_copy(update={"legs": ("jsa-run", "goseong-seoul")})
    with pytest.raises(CaseError, match="'jsa-run' does not join"):
        walk_case(atlas, wrong)


def test_simulated_shares_agree_with_the_planner_on_the_same_legs(rows: list[CaseRow]) -> None:
    # The planner offers an itinerary on exactly the walked legs for nearly every case.
    assert sum(r.planned is not None for r in rows) >= 0.9 * len(rows)
    for r in rows:
        lo, hi = (round(x, 9) for x in r.ci95)
        assert 0.0 <= lo <= r.p_outcome <= hi <= 1.0, r.case.id
        it = r.planned
        if it is None or any(s.kind == "wait" for s in it.steps):
            continue  # the planner waits for better conditions; the walk does not
        # The planner's expected value against the simulator's share: sampling error only
        # (4.5 sigma over a couple of dozen cases), plus a floor for shares near 0 or 1.
        sigma = math.sqrt(max(it.p_reach_safety * (1 - it.p_reach_safety), 1e-4) / r.runs)
        assert abs(r.p_safety - it.p_reach_safety) < 4.5 * sigma, (r.case.id, r.p_safety, it)


def test_docs_table_is_what_the_generator_writes(rows: list[CaseRow]) -> None:
    # The rows are the generator's (case_rows with its runs and seed), computed once here.
    assert DOC.read_text("utf-8") == rows_markdown(rows), (
        "docs/cases.md is out of date: run ./scripts/cases-table"
    )


def test_the_script_writes_and_checks_the_doc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cases_module, "cases_markdown", lambda: "# table\n")
    out = tmp_path / "cases.md"
    assert cases_module.main(["--check", "--out", str(out)]) == 1  # missing
    assert cases_module.main(["--out", str(out)]) == 0
    assert out.read_text("utf-8") == "# table\n"
    assert cases_module.main(["--check", "--out", str(out)]) == 0
    out.write_text("# stale\n", "utf-8")
    assert cases_module.main(["--check", "--out", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err
