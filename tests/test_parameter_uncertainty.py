"""Parameter uncertainty: the planner and the simulator over draws of the flow posterior.

The bundled atlas's itineraries never wait in hiding in China, the one place the calibrated
parameter (``hiding_catch_scale``) acts, so the library tests use the toy atlas with China given
a hiding risk and the bus south open in March only: a journey leaving in January over the ice
waits about two months in the city, and the posterior's scale moves its odds. The CLI tests use
the bundled atlas and a small posterior written here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nkescape.atlas import Atlas, bundled_atlas, toy_data
from nkescape.atlas.loader import atlas_from_data
from nkescape.cli import app
from nkescape.flows.calibrate import Posterior
from nkescape.flows.calibrated import (
    CALIBRATION_SOURCE,
    SCALE,
    calibrated_atlas,
    calibrated_atlases,
    draw_atlas,
    posterior_rows,
)
from nkescape.flows.parameters import load_config
from nkescape.flows.uncertainty import (
    SPREAD_ALPHA,
    itinerary_outcome,
    plan_over_posterior,
    share_spread,
    simulate_over_posterior,
)
from nkescape.routing import Plan, plan
from nkescape.routing.build import build_network
from nkescape.simulate import simulate

TODAY = dt.date(2017, 1, 1)
RUNS = 4_000
# What a daily hiding risk in the toy's China is, before any scale: the mean of the range.
TOY_RISK = {"low": 0.002, "high": 0.02}


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    data = toy_data()
    data["sources"].append(
        {
            "id": CALIBRATION_SOURCE,
            "title": "Flow calibration",
            "publisher": "nkescape",
            "kind": "assumption",
        }
    )
    for policy in data["policies"]:
        if policy["country"] == "CN":
            policy["hiding"] = {
                "p_caught_per_day": {**TOY_RISK, "source": "toy-judgement", "note": "toy figure"},
                "cost_usd_per_day": {"value": 10, "source": "toy-judgement", "note": "toy figure"},
            }
    for leg in data["legs"]:
        if leg["id"] == "city-haven-bus":
            leg["months"] = [3]
    data["cases"] = []  # the toy's case takes the bus in January
    return atlas_from_data(data)


def posterior(scales: list[float] | np.ndarray) -> Posterior:
    return Posterior((SCALE,), np.asarray(scales, dtype=np.float64)[:, None], (2000,))


def planned(atlas: Atlas, post: Posterior) -> tuple[Plan, int]:
    """The plan on the calibrated atlas, and the rank of its itinerary that waits in China."""
    result = plan(calibrated_atlas(atlas, post), "home", "capital", month=1, today=TODAY)
    waits = [
        rank
        for rank, it in enumerate(result.itineraries, start=1)
        if any(s.kind == "wait" and s.from_place == "city" for s in it.steps)
    ]
    assert waits, "the toy's overland itinerary should wait in the city for the March bus"
    return result, waits[0]


def china_risk(atlas: Atlas) -> float:
    hiding = atlas.policies["cn-all"].hiding
    assert hiding is not None
    return hiding.p_caught_per_day.mean


# --- the draws' atlases ----------------------------------------------------------------------


def test_each_draw_writes_its_own_scale_as_a_point_value(atlas: Atlas) -> None:
    scales = [0.5, 1.0, 2.0, 4.0, 8.0]
    post = posterior(scales)
    rows = posterior_rows(post, 3, seed=7)
    drawn = calibrated_atlases(atlas, post, draws=3, seed=7)
    assert len(drawn) == 3
    base = china_risk(atlas)
    for row, one in zip(rows, drawn, strict=True):
        hiding = one.policies["cn-all"].hiding
        assert hiding is not None
        risk = hiding.p_caught_per_day
        assert risk.shape == "point"
        assert risk.value == pytest.approx(base * scales[row])
        assert risk.source[0] == CALIBRATION_SOURCE and "toy-judgement" in risk.source
        assert f"sample {row} of 5" in (risk.note or "")
    # One writer: a posterior whose samples all equal one draw's calibrates to that draw's value.
    same = calibrated_atlas(atlas, posterior([scales[rows[0]]] * 3)).policies["cn-all"].hiding
    assert same is not None and same.p_caught_per_day.value == pytest.approx(base * scales[rows[0]])
    assert china_risk(atlas) == base  # the atlas itself is untouched


def test_the_draws_are_chosen_by_the_seed_and_limited_to_the_samples(atlas: Atlas) -> None:
    post = posterior(np.linspace(0.5, 2.0, 20))
    assert posterior_rows(post, 5, seed=3) == posterior_rows(post, 5, seed=3)
    assert posterior_rows(post, 5, seed=3) != posterior_rows(post, 5, seed=4)
    # Asking for more keeps the first ones; all of them is every sample once.
    assert posterior_rows(post, 8, seed=3)[:5] == posterior_rows(post, 5, seed=3)
    assert sorted(posterior_rows(post, 20, seed=3)) == list(range(20))
    with pytest.raises(ValueError, match="has 20 samples, so ask for 1-20"):
        posterior_rows(post, 21, seed=3)
    with pytest.raises(ValueError, match="has 20 samples"):
        calibrated_atlases(atlas, post, draws=0, seed=3)
    with pytest.raises(ValueError, match="no parameter 'hiding_catch_scale'"):
        draw_atlas(atlas, Posterior(("other",), np.ones((2, 1)), (2000,)), 0)


def test_without_the_calibration_source_the_atlas_cannot_cite_a_draw() -> None:
    from nkescape.atlas import toy_atlas

    with pytest.raises(ValueError, match=CALIBRATION_SOURCE):
        draw_atlas(toy_atlas(), posterior([1.0, 2.0]), 0)


# --- combining the draws -----------------------------------------------------------------------


def test_shares_that_agree_leave_the_interval_to_sampling() -> None:
    same = share_spread([300] * 5, [1000] * 5)
    assert same.parameter_variance == 0.0
    assert same.dominant == "sampling"
    assert same.ci95 == same.sampling_ci95
    assert same.value == pytest.approx(0.3)
    lo, hi = same.sampling_ci95
    assert lo < 0.3 < hi
    # The sampling variance is each draw's binomial variance (Jeffreys form).
    p = 300.5 / 1001
    assert same.sampling_variance == pytest.approx(p * (1 - p) / 1002)


def test_shares_far_apart_are_dominated_by_the_parameters() -> None:
    apart = share_spread([100, 300, 500, 700], [1000] * 4)
    assert apart.dominant == "parameters"
    assert apart.parameter_variance > 10 * apart.sampling_variance
    (lo, hi), (s_lo, s_hi) = apart.ci95, apart.sampling_ci95
    assert lo < s_lo < s_hi < hi
    assert lo < 0.1 < 0.7 < hi  # the interval holds every draw's share
    assert apart.spread_p_value < SPREAD_ALPHA
    with pytest.raises(ValueError, match="at least 2 draws"):
        share_spread([1], [10])
    with pytest.raises(ValueError, match="successes <= runs"):
        share_spread([5, 11], [10, 10])


def test_a_few_draws_spread_by_chance_are_not_said_to_be_the_parameters() -> None:
    # Three draws of 2,000 journeys, over twice as spread as sampling makes them on average,
    # but no more than sampling alone makes them spread about once in 40 times.
    chance = share_spread([1019, 975, 1060], [2000] * 3)
    assert chance.parameter_variance > chance.sampling_variance
    assert SPREAD_ALPHA < chance.spread_p_value < 0.05
    assert chance.dominant == "sampling"
    # The interval still holds the spread.
    assert chance.ci95[1] - chance.ci95[0] > chance.sampling_ci95[1] - chance.sampling_ci95[0]


def test_no_successes_still_has_a_sampling_interval() -> None:
    none = share_spread([0, 0, 0], [500, 500, 500])
    assert none.value == 0.0 and none.sampling_variance > 0.0
    lo, hi = none.ci95
    assert lo < 1e-3 < hi < 0.02


# --- the simulator over the draws --------------------------------------------------------------


def test_identical_draws_leave_the_parameters_no_variance(atlas: Atlas) -> None:
    post = posterior([1.0] * 6)
    result, rank = planned(atlas, post)
    over = simulate_over_posterior(
        atlas, post, result, rank, draws=6, runs=RUNS, seed=11, backend="numpy"
    )
    for share in (over.p_reach_safety, over.p_reach_destination):
        assert share.dominant == "sampling"
        assert share.spread_p_value > SPREAD_ALPHA
        # The draws differ by sampling alone: what is left for the parameters is small.
        assert share.parameter_variance < 4 * share.sampling_variance
        (lo, hi), (s_lo, s_hi) = share.ci95, share.sampling_ci95
        assert lo <= s_lo < s_hi <= hi
    assert len(set(over.p_reach_safety.per_draw)) > 1  # independent journeys at each draw
    assert over.pooled.runs == 6 * RUNS
    assert over.pooled.safe == sum(s.safe for s in over.summaries)


def test_draws_far_apart_are_dominated_by_the_parameters(atlas: Atlas) -> None:
    post = posterior(np.geomspace(0.1, 10.0, 8))
    result, rank = planned(atlas, post)
    over = simulate_over_posterior(
        atlas, post, result, rank, draws=5, runs=RUNS, seed=11, backend="numpy"
    )
    share = over.p_reach_safety
    assert share.dominant == "parameters"
    assert share.spread_p_value < SPREAD_ALPHA
    assert share.parameter_variance > 10 * share.sampling_variance
    (lo, hi), (s_lo, s_hi) = share.ci95, share.sampling_ci95
    assert lo < s_lo < s_hi < hi
    assert hi - lo > 3 * (s_hi - s_lo)
    # A higher hiding risk, fewer reach safety: the draws' shares fall as their scales rise.
    order = np.argsort(over.scales)
    assert list(np.array(share.per_draw)[order]) == sorted(share.per_draw, reverse=True)
    # The plan's itinerary, the same legs, on every draw; the plan's question.
    legs = tuple(s.leg for s in result.itineraries[rank - 1].legs)
    assert all(s.legs == legs and s.query == result.query for s in over.summaries)
    data = over.to_json()
    assert data["p_reach_safety"]["dominant"] == "parameters"
    assert data["posterior"]["rows"] == list(over.rows)
    assert data["posterior"]["runs_per_draw"] == RUNS and data["runs"] == 5 * RUNS
    assert data["days_to_safety"]["p50_across_draws"] is not None
    json.dumps(data)


def test_the_same_seed_gives_the_same_result(atlas: Atlas) -> None:
    post = posterior(np.geomspace(0.3, 3.0, 6))
    result, rank = planned(atlas, post)

    def run(seed: int) -> dict[str, object]:
        return simulate_over_posterior(
            atlas, post, result, rank, draws=3, runs=RUNS, seed=seed, backend="numpy"
        ).to_json()

    first = run(5)
    assert run(5) == first
    assert run(6) != first
    # Draw k is child k of the seed: one draw is repeated on its own.
    again = simulate_over_posterior(
        atlas, post, result, rank, draws=3, runs=RUNS, seed=5, backend="numpy"
    )
    k = 1
    alone = simulate(
        draw_atlas(atlas, post, again.rows[k]),
        result,
        rank,
        runs=RUNS,
        seed=np.random.SeedSequence(5, spawn_key=(k,)),
        backend="numpy",
    )
    assert alone.safe == again.summaries[k].safe
    assert alone.to_json() == again.summaries[k].to_json()


def test_draws_beyond_the_samples_are_refused(atlas: Atlas) -> None:
    post = posterior([0.5, 1.0, 2.0, 4.0])
    result, rank = planned(atlas, post)
    with pytest.raises(ValueError, match="has 4 samples"):
        simulate_over_posterior(atlas, post, result, rank, draws=5, runs=10, seed=1)
    with pytest.raises(ValueError, match="at least 2 draws"):
        simulate_over_posterior(atlas, post, result, rank, draws=1, runs=10, seed=1)
    with pytest.raises(ValueError, match="has 4 samples"):
        plan_over_posterior(atlas, post, result, draws=5, seed=1)


# --- the planner over the draws ----------------------------------------------------------------


def test_the_planners_figures_are_recomputed_for_the_same_itinerary(atlas: Atlas) -> None:
    post = posterior(np.geomspace(0.1, 10.0, 8))
    result, rank = planned(atlas, post)
    # On the atlas it was planned on, an itinerary's figures come back exactly.
    calibrated = calibrated_atlas(atlas, post)
    built = build_network(calibrated, result.query)
    for it in result.itineraries:
        again = itinerary_outcome(calibrated, built, it)
        assert again.p_reach_safety == pytest.approx(it.p_reach_safety, rel=1e-12)
        assert again.p_reach_destination == pytest.approx(it.p_reach_destination, rel=1e-12)
        assert again.cost_usd == pytest.approx(it.expected_cost_usd, rel=1e-12)
    spread = plan_over_posterior(atlas, post, result, draws=5, seed=2)
    assert spread.rows == posterior_rows(post, 5, seed=2)
    waiting = spread.itineraries[rank - 1].figures["p_reach_safety"]
    assert waiting.planned == result.itineraries[rank - 1].p_reach_safety
    interval = waiting.interval
    assert interval is not None and interval[1] - interval[0] > 0.1
    # Each draw's figure is the planner's on that draw's atlas (where the plan is the same).
    for row, value in zip(spread.rows, waiting.per_draw, strict=True):
        drawn = draw_atlas(atlas, post, row)
        it = result.itineraries[rank - 1]
        assert value == pytest.approx(
            itinerary_outcome(drawn, build_network(drawn, result.query), it).p_reach_safety
        )
    # An itinerary that never waits in China does not move.
    for it, figures in zip(result.itineraries, spread.itineraries, strict=True):
        if not any(s.kind == "wait" for s in it.steps):
            assert len(set(figures.figures["p_reach_safety"].per_draw)) == 1
    data = spread.to_json()
    assert data["dominant"] == "parameters" and "no sampling error" in data["note"]
    assert len(data["itineraries"]) == len(result.itineraries)
    top = plan_over_posterior(atlas, post, result, draws=2, seed=2, top=1)
    assert len(top.itineraries) == 1


# --- the CLI -----------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def posterior_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    names = load_config(bundled_atlas()).names
    samples = np.ones((6, len(names)))
    samples[:, names.index(SCALE)] = np.geomspace(0.3, 3.0, 6)
    path = tmp_path_factory.mktemp("posterior") / "posterior.json"
    Posterior(names, samples, (2000,)).save(path)
    return path


PLAN = ["plan", "--from", "yanji", "--month", "1"]
SIMULATE = ["simulate", "--from", "yanji", "--month", "1", "--runs", "2000", "--backend", "numpy"]


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("nkescape: ")]
    assert len(lines) == 1, output
    return lines[0]


def test_plan_draws_needs_parameters_and_at_least_two() -> None:
    bad = runner.invoke(app, [*PLAN, "--draws", "3"])
    assert bad.exit_code == 2
    assert "--draws needs --parameters" in one_error_line(bad.output)
    assert runner.invoke(app, [*PLAN, "--draws", "1"]).exit_code == 2


def test_plan_over_the_posteriors_draws(posterior_file: Path, tmp_path: Path) -> None:
    args = [*PLAN, "--parameters", str(posterior_file), "--draws", "3"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "Across 3 draws of the posterior (of 6 samples" in shown.output
    assert "the spread is the parameters' alone" in " ".join(shown.output.split())
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    spread = data["parameter_uncertainty"]
    assert spread["draws"] == 3 and len(spread["rows"]) == 3 and spread["samples"] == 6
    assert len(spread["itineraries"]) == len(data["itineraries"])
    first = spread["itineraries"][0]["p_reach_safety"]
    assert len(first["per_draw"]) == 3
    assert first["planned"] == pytest.approx(data["itineraries"][0]["p_reach_safety"], abs=1e-4)
    too_many = runner.invoke(app, [*PLAN, "--parameters", str(posterior_file), "--draws", "7"])
    assert too_many.exit_code == 1
    assert "has 6 samples" in one_error_line(too_many.output)
    # --simulate runs the top itinerary over the same draws.
    out = tmp_path / "run"
    simulated = runner.invoke(app, [*args, "--simulate", "1000", "--out", str(out)])
    assert simulated.exit_code == 0, simulated.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["posterior"]["rows"] == spread["rows"]
    assert summary["runs"] == 3 * 1000


def test_simulate_draws_usage_errors(posterior_file: Path) -> None:
    bad = runner.invoke(app, [*SIMULATE, "--draws", "3"])
    assert bad.exit_code == 2
    assert "--draws needs --parameters" in one_error_line(bad.output)
    adaptive = runner.invoke(
        app, [*SIMULATE, "--parameters", str(posterior_file), "--draws", "3", "--adaptive"]
    )
    assert adaptive.exit_code == 2
    assert "drop --adaptive" in one_error_line(adaptive.output)


def test_simulate_over_the_posteriors_draws(posterior_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [*SIMULATE, "--parameters", str(posterior_file), "--draws", "3", "--out", str(out)]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "2,000 journeys at each of 3 draws of the posterior" in shown.output
    assert "dominant" in shown.output
    data = json.loads((out / "summary.json").read_text())
    share = data["p_reach_safety"]
    assert {"value", "ci95", "sampling_ci95", "dominant", "per_draw"} <= set(share)
    assert share["ci95"][0] <= share["sampling_ci95"][0] <= share["sampling_ci95"][1]
    assert share["sampling_ci95"][1] <= share["ci95"][1]
    # The bundled itineraries never wait in China: the draws differ by sampling alone (called
    # the parameters' once in 1/SPREAD_ALPHA seeds).
    assert share["dominant"] == "sampling"
    assert "Sampling dominates" in shown.output
    assert data["posterior"]["draws"] == 3 and data["runs"] == 3 * 2000
    again = runner.invoke(app, [*args, "--force", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["p_reach_safety"] == share  # the same seed, the same numbers
    too_many = runner.invoke(app, [*args, "--force", "--draws", "7"])
    assert too_many.exit_code == 1
    assert "has 6 samples" in one_error_line(too_many.output)
