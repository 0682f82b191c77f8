"""The atlas open to the world: posts abroad under the North's rules, and wounds under fire."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nkescape.atlas import Atlas, bundled_atlas
from nkescape.cli import app
from nkescape.routing import plan
from nkescape.routing.build import build_network
from nkescape.simulate import simulate
from nkescape.simulate.summary import wounded_if_safe


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


def _posts(atlas: Atlas) -> list[str]:
    return [p.id for p in atlas.places.values() if p.kind == "post"]


def test_a_post_in_a_safe_host_is_under_the_norths_rules(atlas: Atlas) -> None:
    day = dt.date(2016, 6, 1)
    assert atlas.places["london"].country == "GB" and atlas.is_safe("GB", day)
    assert atlas.jurisdiction("london") == "KP"
    assert atlas.jurisdiction("seoul") == "KR"
    result = plan(atlas, "london", date=day, profile="diplomat")
    best = result.itineraries[0]
    # Not safe at the origin: the minders' risk on the way out counts towards reaching safety.
    assert best.safety_at != "london"
    assert best.p_reach_safety < 1
    first = best.legs[0]
    assert first.leg == "london-asylum-flight" and first.if_caught.startswith("KP:")
    assert first.p_sent_back == pytest.approx(1.0)


def test_no_post_is_ever_safe_and_every_host_has_a_policy(atlas: Atlas) -> None:
    posts = _posts(atlas)
    named = {"london", "rome", "kuwait-city", "havana-embassy", "ningbo", "kursk-front"}
    assert named <= set(posts)
    for year in (1995, 2016, 2025):
        day = dt.date(year, 6, 1)
        built = build_network(atlas, plan(atlas, "london", date=day, profile="diplomat").query)
        index = atlas.compiled.place_index
        assert not any(built.network.safe[index[p]] for p in posts), year
        assert all(atlas.policy_for(atlas.places[p].country, day) for p in posts), year


def test_every_post_is_a_start_of_someone_posted_there(atlas: Atlas) -> None:
    starts = {s for p in atlas.profiles.values() for s in p.starts}
    assert set(_posts(atlas)) <= starts


def test_the_host_decides_at_its_police_and_the_minders_before(atlas: Atlas) -> None:
    # Qatar's police: everyone who asks is in Qatar's hands; Qatar sometimes sends people back.
    result = plan(atlas, "doha", date=dt.date(2016, 3, 15), profile="worker-abroad-post")
    legs = result.itineraries[0].legs
    assert [x.leg for x in legs] == ["doha-police-run", "doha-police-transfer"]
    assert legs[0].if_caught.startswith("KP:") and legs[1].if_caught.startswith("QA:")
    assert 0 < legs[1].p_sent_back < 1


def test_legal_exit_is_only_for_those_posted_abroad(atlas: Atlas) -> None:
    assert atlas.leg_allowed("shanghai-legal-exit-flight", "restaurant-worker-abroad")
    assert not atlas.leg_allowed("shanghai-legal-exit-flight", "hiding-in-china")
    result = plan(atlas, "ningbo", date=dt.date(2016, 4, 5), profile="restaurant-worker-abroad")
    assert [x.leg for x in result.itineraries[0].legs] == [
        "ningbo-shanghai-car",
        "shanghai-legal-exit-flight",
    ]


# --- wounds under fire ------------------------------------------------------------------------


def test_wounded_share_multiplies_the_unhurt_up_to_safety() -> None:
    assert wounded_if_safe([0.0, 0.0], [False, True], False) is None
    assert wounded_if_safe([0.5, 0.2], [False, True], False) == pytest.approx(1 - 0.5 * 0.8)
    # Legs after the first safe place do not count: those who reached safety had not taken them.
    assert wounded_if_safe([0.5, 0.9], [True, True], False) == pytest.approx(0.5)
    assert wounded_if_safe([0.5], [True], True) == 0.0


def test_the_kursk_summary_reports_the_wounded(atlas: Atlas) -> None:
    result = plan(atlas, "kursk-front", date=dt.date(2025, 1, 5), profile="soldier-abroad")
    summary = simulate(atlas, result, runs=20_000, seed=3, backend="numpy", workers=1)
    p = atlas.legs["kursk-capture"].p_wounded
    assert p is not None
    data = summary.to_json()
    assert data["p_wounded_if_safe"] == pytest.approx(p.mean)
    assert math.isfinite(data["p_reach_safety"]["value"])


# --- the DMZ by sector and the sea by coast ----------------------------------------------------


def test_each_sector_of_the_dmz_has_its_crossing(atlas: Atlas) -> None:
    crossing = {
        "west (Han estuary)": ("han-estuary-north", "gyodong"),
        "Panmunjom": ("panmunjom-north", "panmunjom-south"),
        "central front": ("dmz-north", "dmz-south"),
        "east coast": ("dmz-east-north", "goseong"),
    }
    for sector, (north, south) in crossing.items():
        assert atlas.places[north].country == "KP" and atlas.places[south].country == "KR"
        assert any(leg.to == south for leg in atlas.legs_from(north)), sector
        assert any(leg.to == "seoul" for leg in atlas.legs_from(south)), sector


def test_soldiers_and_civilians_cross_where_the_sources_put_them(atlas: Atlas) -> None:
    for leg in ("jsa-run", "dmz-run", "east-dmz-run"):
        assert atlas.leg_allowed(leg, "dmz-soldier") and not atlas.leg_allowed(
            leg, "frontier-civilian"
        ), leg
    for leg in ("han-estuary-walk", "east-dmz-civilian-crossing", "goseong-swim"):
        assert atlas.leg_allowed(leg, "frontier-civilian") and not atlas.leg_allowed(
            leg, "dmz-soldier"
        ), leg
    # A civilian's crossing of the fences is riskier than a soldier's (the project's judgement).
    soldier, civilian = atlas.legs["east-dmz-run"], atlas.legs["east-dmz-civilian-crossing"]
    assert civilian.p_intercept.mean > soldier.p_intercept.mean


def test_the_sea_crosses_the_nll_or_goes_round_it(atlas: Atlas) -> None:
    across = [atlas.legs[x] for x in ("yellow-sea-nll-boat", "yellow-sea-yeonpyeong-boat")]
    assert {leg.to for leg in across} == {"baengnyeong", "yeonpyeong"}
    assert atlas.legs["east-sea-border-boat"].to == "sokcho"
    assert "yellow-sea-yeonpyeong-boat" in atlas.channels["yellow-sea"].entry_legs
    assert "east-sea-border-boat" in atlas.channels["sea-of-japan"].entry_legs


def test_the_jsa_run_reports_the_wounded_among_those_who_made_it(atlas: Atlas) -> None:
    result = plan(atlas, "panmunjom-north", date=dt.date(2017, 11, 1), profile="dmz-soldier")
    assert result.itineraries[0].legs[0].leg == "jsa-run"
    summary = simulate(atlas, result, runs=20_000, seed=5, backend="numpy", workers=1)
    jsa = atlas.legs["jsa-run"].p_wounded
    assert jsa is not None and summary.p_wounded_if_safe == pytest.approx(jsa.mean)
    # A crossing without fire reports none.
    boat = plan(atlas, "haeju", date=dt.date(2023, 5, 1), profile="fisherman")
    assert simulate(atlas, boat, runs=1_000, seed=5, backend="numpy").p_wounded_if_safe is None


# --- more Chinese cities ------------------------------------------------------------------------


def test_the_new_cities_join_the_routes_south(atlas: Atlas) -> None:
    seen, todo = {"yanji", "qingdao", "tumen", "tonghua"}, ["yanji", "qingdao", "tumen", "tonghua"]
    while todo:
        for leg in atlas.legs_from(todo.pop()):
            if leg.to not in seen and atlas.leg_allowed(leg.id, "hiding-in-china"):
                seen.add(leg.to)
                todo.append(leg.to)
    assert {"jilin-city", "changchun", "shenyang", "kunming", "seoul"} <= seen


def test_detention_centres_in_china_hand_people_back_to_the_north(atlas: Atlas) -> None:
    held = [p for p in atlas.places.values() if p.kind == "detention-centre" and p.country == "CN"]
    assert {p.id for p in held} >= {"tumen-detention", "longjing-detention"}
    for place in held:
        (leg,) = atlas.legs_from(place.id)
        assert atlas.places[leg.to].country == "KP" and leg.operator == "state", place.id
        assert leg.p_intercept.mean == 0


def test_the_cli_prints_the_wounded_share(atlas: Atlas, tmp_path: Path) -> None:
    args = ["simulate", "--from", "panmunjom-north", "--date", "2017-11-13", "--runs", "2000"]
    result = CliRunner().invoke(app, [*args, "--backend", "numpy", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    jsa = atlas.legs["jsa-run"].p_wounded
    assert jsa is not None
    assert f"reached safety wounded: {jsa.mean:.4f} of those who reached safety" in result.output
