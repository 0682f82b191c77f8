"""The planner on the bundled atlas: behaviour the sources describe, and bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nkescape.atlas import Atlas, bundled_atlas, toy_atlas
from nkescape.cli import app
from nkescape.routing import Group, Plan, PlanError, build_network, plan
from nkescape.routing.planner import Step

TODAY = dt.date(2017, 1, 1)


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


def first_legs(result: Plan) -> list[str]:
    """The first leg of each itinerary that sets out at once (no waiting first)."""
    return [it.steps[0].leg for it in result.itineraries if it.steps[0].kind == "leg"]  # type: ignore[misc]


def uses(result: Plan, leg: str) -> bool:
    return any(s.leg == leg for it in result.itineraries for s in it.steps)


def test_tumen_is_crossed_on_the_ice_in_january_and_not_in_august(atlas: Atlas) -> None:
    ice = atlas.legs["tumen-ice-walk"]
    assert 1 in ice.months and 8 not in ice.months  # what the atlas says about the river
    january = plan(atlas, "musan", month=1, today=TODAY)
    august = plan(atlas, "musan", month=8, today=TODAY)
    assert "tumen-ice-walk" in first_legs(january)
    assert "tumen-wade" not in first_legs(january)
    assert not uses(august, "tumen-ice-walk")
    assert set(first_legs(august)) <= {"tumen-wade", "tumen-swim"}


def test_the_overland_route_through_vietnam_and_laos_reaches_thailand(atlas: Atlas) -> None:
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1))
    overland = [
        it
        for it in result.itineraries
        if {"VN", "LA"} <= {atlas.places[p].country for p in it.places}
    ]
    assert overland
    assert all(atlas.places[it.safety_at].country == "TH" for it in overland)  # type: ignore[index]


def test_ngo_funding_costs_what_the_actors_price_factors_say(atlas: Atlas) -> None:
    ngo = next(a for a in atlas.actors.values() if a.kind == "ngo")
    broker = next(a for a in atlas.actors.values() if a.kind == "broker" and not a.pay_later)
    ratio = ngo.price_factor.mean / broker.price_factor.mean
    assert 0.4 <= ratio <= 0.6  # WaPo: US$2,000 through the NGO, about double through a broker
    costs = {}
    for funding in ("self", "ngo"):
        result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1), funding=funding)
        built = build_network(atlas, result.query)
        costs[funding] = built.cost_total[:, atlas.compiled.leg_index["vietnam-night-run"]]
        if funding == "ngo":
            # The NGO pays the legs it organises; the group pays only what it runs itself.
            for it in result.itineraries:
                hired = ("broker", "guide", "driver", "boatman", "ngo")
                paid = sum(s.cost_usd for s in it.steps if s.operator in hired)
                assert it.cost_sponsor_usd == pytest.approx(paid, rel=1e-9)
    assert costs["ngo"] / costs["self"] == pytest.approx(ratio)


def uses_leg(it: object, leg: str) -> bool:
    return any(s.leg == leg for s in it.steps)  # type: ignore[attr-defined]


def test_a_dmz_soldier_is_offered_the_dmz(atlas: Atlas) -> None:
    assert "dmz" in {c.id for c in atlas.channels_for("dmz-soldier")}
    result = plan(atlas, profile="dmz-soldier", today=TODAY)
    assert any("dmz" in it.channels for it in result.itineraries)


def test_a_worker_in_russia_is_offered_embassy_or_unhcr(atlas: Atlas) -> None:
    result = plan(atlas, profile="worker-abroad-russia", today=TODAY)
    reached = {p for it in result.itineraries for p in it.places}
    assert reached & {"vladivostok-rok-consulate", "moscow-unhcr"}
    assert all(it.channels for it in result.itineraries)


def test_figures_are_consistent(atlas: Atlas) -> None:
    result = plan(atlas, "hyesan", month=9, group="2w,1c", today=TODAY)
    for it in result.itineraries:
        assert 0 <= it.p_reach_destination <= it.p_reach_safety <= 1
        lo, hi = it.p_reach_safety_range
        assert lo <= it.p_reach_safety + 1e-9 and it.p_reach_safety <= hi + 1e-9
        assert it.days == pytest.approx(sum(s.days for s in it.steps))
        assert it.places[0] == "hyesan" and it.places[-1] == "seoul"
        # The chances themselves are held against the simulator in test_agreement.py.
        assert it.expected_cost_usd <= it.cost_usd + 1e-6
        assert it.cost_upfront_usd + it.cost_later_usd == pytest.approx(it.cost_usd)


def test_children_slow_a_group_down(atlas: Atlas) -> None:
    alone = plan(atlas, "hyesan", date=dt.date(2017, 9, 1))
    family = plan(atlas, "hyesan", date=dt.date(2017, 9, 1), group="1w,2c")
    fastest = min(it.days for it in alone.itineraries)
    assert min(it.days for it in family.itineraries) >= fastest


def test_events_in_force_change_the_answer(atlas: Atlas) -> None:
    before = plan(atlas, "musan", date=dt.date(2019, 9, 1))
    closed = plan_or_error(atlas, "musan", dt.date(2021, 9, 1))
    assert before.itineraries
    assert closed is None or max(it.p_reach_safety for it in closed.itineraries) < max(
        it.p_reach_safety for it in before.itineraries
    )


def plan_or_error(atlas: Atlas, origin: str, date: dt.date) -> Plan | None:
    try:
        return plan(atlas, origin, date=date)
    except PlanError as exc:
        assert "no route" in str(exc)
        return None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": "hyesna"}, "did you mean 'hyesan'"),
        ({"origin": "hyesan", "profile": "pilott"}, "did you mean 'pilot'"),
        ({"origin": "hyesan", "budget": -5}, "budget cannot be negative"),
        ({"origin": "hyesan", "group": "0w"}, "nobody travels"),
        ({"origin": "hyesan", "group": "2x"}, "cannot read '2x'"),
        ({"origin": "hyesan", "month": 13}, "unknown month 13"),
        ({"origin": "hyesan", "avoid": ("XX",)}, "cannot avoid 'XX'"),
        ({"origin": "hyesan", "budget": 10}, "the budget of US$10 removes the last route"),
        ({"origin": "hyesan", "max_days": 1}, "the limit of 1 days removes the last route"),
    ],
)
def test_bad_input_is_one_clear_error(
    atlas: Atlas, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(PlanError, match=None) as info:
        plan(atlas, today=TODAY, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_group_parsing() -> None:
    g = Group.parse("2w,1m,1c")
    assert (g.women, g.men, g.children, g.size) == (2, 1, 1, 4)
    assert g.label() == "2 women, 1 man, 1 child"


def test_toy_plan_waits_for_the_ice_or_wades() -> None:
    atlas = toy_atlas()
    march = plan(atlas, "home", "capital", month=3, today=TODAY)
    assert all(it.steps[0].kind == "wait" for it in march.itineraries)  # river closed in March


runner = CliRunner()


def test_cli_plan_january_and_august_differ_and_explain() -> None:
    jan = runner.invoke(app, ["plan", "--from", "hyesan", "--date", "2017-01-10", "--detail", "2"])
    aug = runner.invoke(app, ["plan", "--from", "hyesan", "--date", "2017-08-10", "--detail", "2"])
    assert jan.exit_code == 0 and aug.exit_code == 0, jan.output + aug.output
    assert "yalu-ice-walk" in jan.output and "yalu-ice-walk" not in aug.output
    assert "if caught" in jan.output and "leg by leg" in jan.output


def test_cli_plan_json_and_geojson(tmp_path: Path) -> None:
    out = tmp_path / "plan.geojson"
    result = runner.invoke(
        app, ["plan", "--from", "hyesan", "--date", "2017-09-01", "--json", "--geojson", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["itineraries"] and all(it["legs"] for it in data["itineraries"])
    assert {"p_reach_safety", "p_reach_destination", "days", "cost_usd"} <= set(
        data["itineraries"][0]
    )
    features = json.loads(out.read_text())["features"]
    assert any(f["geometry"]["type"] == "LineString" for f in features)


def test_cli_options_for_a_worker_in_russia() -> None:
    result = runner.invoke(
        app, ["options", "--profile", "worker-abroad-russia", "--json", "--date", "2017-01-10"]
    )
    assert result.exit_code == 0, result.output
    options = {o["channel"]: o for o in json.loads(result.output)["options"]}
    assert {"workers-abroad", "embassy-asylum"} <= set(options)
    assert all("p_reach_safety" in o for o in options.values())


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["plan", "--from", "hyesna"], "did you mean 'hyesan'"),
        (["plan", "--from", "hyesan", "--budget", "-1"], "budget cannot be negative"),
        (["plan", "--from", "hyesan", "--group", "0w"], "nobody travels"),
        (["plan", "--from", "hyesan", "--date", "9999-12-31"], "1900-2100"),
        (["options", "--profile", "pilott"], "did you mean 'pilot'"),
    ],
)
def test_cli_bad_input_exits_1_with_one_line(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.output


def test_cli_options_give_every_channel_of_a_border_resident_a_route() -> None:
    result = runner.invoke(
        app, ["options", "--profile", "border-resident", "--json", "--date", "2017-09-01"]
    )
    assert result.exit_code == 0, result.output
    options = json.loads(result.output)["options"]
    assert options and all("p_reach_safety" in o for o in options), options
    atlas = bundled_atlas()
    for option in options:  # each itinerary really enters its channel
        entries = set(atlas.channels[option["channel"]].entry_legs)
        assert entries & {leg["leg"] for leg in option["legs"]}


def test_require_channel_keeps_only_itineraries_through_it(atlas: Atlas) -> None:
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1), channel="underground-railroad")
    entries = set(atlas.channels["underground-railroad"].entry_legs)
    assert result.itineraries
    assert all(entries & {s.leg for s in it.legs} for it in result.itineraries)
    with pytest.raises(PlanError, match="unknown channel"):
        plan(atlas, "hyesan", today=TODAY, channel="tunnel")


def test_cli_plan_with_simulation(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "plan",
            "--from",
            "hyesan",
            "--date",
            "2017-09-01",
            "--detail",
            "0",
            "--simulate",
            "5000",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Pareto-optimal itineraries" in result.output
    assert "Simulation of itinerary 1: 5,000 journeys" in result.output
    assert (tmp_path / "funnel.png").exists() and (tmp_path / "summary.json").exists()


@pytest.mark.parametrize(
    ("day", "open_"),
    [(dt.date(2013, 5, 9), True), (dt.date(2013, 5, 10), False), (dt.date(2013, 11, 1), False)],
)
def test_a_baseline_event_closes_its_leg_on_its_day(
    atlas: Atlas, day: dt.date, open_: bool
) -> None:
    # laos-deports-nine (10 May 2013, in the baseline) ends the Vientiane handover on its day,
    # not at the end of the leg's last year (2013): the planner used to skip baseline events.
    event = atlas.events["laos-deports-nine"]
    assert event.in_baseline and event.date == dt.date(2013, 5, 10)
    p = plan(atlas, "yanji", date=day)
    used = any(s.leg == "laos-embassy-flight" for it in p.itineraries for s in it.legs)
    assert used is open_


def test_a_capture_in_laos_is_judged_by_the_policy_of_the_day(atlas: Atlas) -> None:
    # Laos's policy changes with the deportation of 10 May 2013 (policies.yaml: laos-1990 until
    # 9 May, laos-2013 from 10 May): a capture there sends people back more often from that day.
    def laos_steps(day: dt.date) -> list[Step]:
        p = plan(atlas, "yanji", date=day)
        steps = [s for it in p.itineraries for s in it.legs]
        return [s for s in steps if atlas.places[atlas.legs[s.leg].from_].country == "LA"]

    before, after = laos_steps(dt.date(2013, 5, 9)), laos_steps(dt.date(2013, 5, 10))
    assert before and after
    assert max(s.p_sent_back for s in before) < min(s.p_sent_back for s in after)
    # What the plan says a capture leads to is the day's policy too.
    assert {s.if_caught for s in before}.isdisjoint({s.if_caught for s in after})
