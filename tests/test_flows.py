"""The flow model: inputs from the atlas, the monthly model, calibration, scenarios and the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nkescape.atlas import AtlasError, bundled_atlas
from nkescape.cli import app
from nkescape.flows.analysis import (
    QUICK_CHAINS,
    QUICK_STEPS,
    QUICK_WALKERS,
    fit_flows,
    fit_years,
    monthly_arrivals,
    prepare,
    report_fit,
    run_scenario,
    years_in_china,
)
from nkescape.flows.calibrate import (
    FitProgress,
    Posterior,
    PosteriorError,
    convergence,
    load_posterior,
    log_likelihood,
    stock_log_weight,
)
from nkescape.flows.model import (
    FlowInputs,
    FlowRun,
    flow_inputs,
    route_choice,
    run_flows,
    settled_ramp,
)
from nkescape.flows.observed import Observed, load_arrivals
from nkescape.flows.parameters import PARAMETERS_FILE, load_config
from nkescape.report.flows import write_fit_report
from nkescape.routing import events_in_force

ATLAS = bundled_atlas()
CONFIG = load_config(ATLAS)


@pytest.fixture(scope="module")
def inputs() -> FlowInputs:
    return flow_inputs(ATLAS, CONFIG, 2026, transit_runs=1000, seed=3)


def prior_medians() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.array([np.median(p.to_x(p.sample(rng, 2001))) for p in CONFIG.priors])


def test_history_undoes_baseline_events_before_their_date() -> None:
    before = dict(
        (e.id, power) for e, power in events_in_force(ATLAS, dt.date(2005, 1, 1), history=True)
    )
    after = dict(
        (e.id, power) for e, power in events_in_force(ATLAS, dt.date(2021, 6, 1), history=True)
    )
    plain = dict((e.id, power) for e, power in events_in_force(ATLAS, dt.date(2005, 1, 1)))
    # The Tumen fence (2010, in the legs' figures) is undone in 2005 and absent in plain planning.
    assert before["tumen-fence"] == -1 and "tumen-fence" not in plain
    assert after["tumen-fence"] == 0  # in the legs' figures: only closures would still hold
    assert after["covid-movement-controls"] == 1 and "covid-movement-controls" not in before


def test_parameters_file_loads_with_sources_and_event_ranges() -> None:
    famine = next(p for p in CONFIG.priors if p.id == "famine_push")
    low, high = ATLAS.events["famine-arduous-march"].effects[0].outflow_factor.bounds  # type: ignore[union-attr]
    assert famine.event == "famine-arduous-march"
    assert np.isclose(np.exp(famine.a), low) and np.isclose(np.exp(famine.b), high)
    assert all(p.source for p in CONFIG.priors)


def test_broken_parameters_file_names_line_and_field(tmp_path: Path) -> None:
    text = PARAMETERS_FILE.read_text()
    text = text.replace(
        "source: [famine-1994-1998, mou-2002-national-assembly]", "source: [no-such-source]", 1
    )
    text = text.replace("id: dispersion", "id: spread", 1)
    bad = tmp_path / "parameters.yaml"
    bad.write_text(text)
    with pytest.raises(AtlasError) as err:
        load_config(ATLAS, bad)
    lines = [str(p) for p in err.value.problems]
    assert any("parameters[famine_push].source" in s and "no-such-source" in s for s in lines)
    assert any("missing: dispersion" in s for s in lines)
    assert all(str(bad) + ":" in s for s in lines)
    line = next(s for s in lines if "no-such-source" in s)
    assert text.splitlines()[int(line.split(":")[1]) - 1].strip().startswith("source")


def test_a_setting_out_of_range_names_line_and_field(tmp_path: Path) -> None:
    text = PARAMETERS_FILE.read_text()
    for key, good, bad_value in (
        ("settle_share", "value: 0.75\n", "value: 1.5\n"),
        ("stock_spread", "value: 0.3\n", "value: 0\n"),
    ):
        start = text.index(f"  {key}:")
        at = text.index(good, start)
        broken = text[:at] + bad_value + text[at + len(good) :]
        path = tmp_path / f"{key}.yaml"
        path.write_text(broken)
        with pytest.raises(AtlasError) as err:
            load_config(ATLAS, path)
        (problem,) = err.value.problems
        assert f"settings.{key}.value" in str(problem)
        line = int(str(problem).split(":")[1])
        assert broken.splitlines()[line - 1].strip() == bad_value.strip()


def test_a_broken_stock_estimate_names_line_and_field(tmp_path: Path) -> None:
    text = PARAMETERS_FILE.read_text()
    good, swapped = "    low: 10000\n    high: 300000\n", "    low: 300000\n    high: 10000\n"
    assert good in text
    text = text.replace(good, swapped, 1)
    bad = tmp_path / "parameters.yaml"
    bad.write_text(text)
    with pytest.raises(AtlasError) as err:
        load_config(ATLAS, bad)
    (problem,) = err.value.problems
    assert "stock_estimates[0]" in str(problem) and "low must not be above high" in str(problem)
    assert text.splitlines()[int(str(problem).split(":")[1]) - 1].strip() == "- year: 2002"


def test_rows_of_theta_run_independently(inputs: FlowInputs) -> None:
    x = prior_medians()
    other = x.copy()
    other[CONFIG.index("exit_rate")] *= 3
    both = run_flows(inputs, np.stack([x, other]))
    alone = run_flows(inputs, other[None, :])
    np.testing.assert_allclose(both.arrivals[1], alone.arrivals[0], rtol=1e-12)
    assert both.arrivals[1].sum() > both.arrivals[0].sum()


def test_a_run_cut_short_is_the_start_of_the_long_run(inputs: FlowInputs) -> None:
    # The calibration runs the model only to its last fitted year (FlowInputs.through): that is
    # exact only because no month depends on a later one.
    x = np.stack([prior_medians(), prior_medians() * 1.1])
    long, short = run_flows(inputs, x), run_flows(inputs.through(2010), x)
    n = short.months.size
    assert n == (2010 - inputs.start_year + 1) * 12 and short.months[-1] == 2010 * 12 + 11
    for what in ("arrivals", "departures", "repatriated", "hiding", "settled"):
        np.testing.assert_array_equal(getattr(short, what), getattr(long, what)[..., :n])
    assert inputs.through(3000).n_months == inputs.n_months


def test_nobody_arrives_who_did_not_leave(inputs: FlowInputs) -> None:
    x = prior_medians()
    x[CONFIG.index("direct_per_year")] = 0.0
    run = run_flows(inputs, x[None, :])
    assert run.arrivals.sum() <= run.departures.sum()
    x[CONFIG.index("exit_rate")] = 0.0
    assert run_flows(inputs, x[None, :]).arrivals.sum() == 0.0


def test_the_2004_airlift_takes_its_people_from_hiding_to_arrival(inputs: FlowInputs) -> None:
    effect = ATLAS.events["vietnam-airlift"].effects[0]
    assert effect.people_moved is not None
    lift = np.flatnonzero(inputs.moved)
    assert (inputs.months[lift] - 2004 * 12).tolist() == [6, 7]  # July and August
    np.testing.assert_allclose(inputs.moved[lift].sum(), effect.people_moved.central)
    x = prior_medians()[None, :]
    x[0, CONFIG.index("exit_rate")] *= 20  # enough people in hiding for the whole airlift
    run = run_flows(inputs, x)
    without = run_flows(dataclasses.replace(inputs, moved=np.zeros_like(inputs.moved)), x)
    assert without.hiding.sum(axis=1)[0, lift[0]] > inputs.moved.sum()
    arrivals = run.arrivals.sum(axis=1)[0] - without.arrivals.sum(axis=1)[0]
    hiding = run.hiding.sum(axis=1)[0] - without.hiding.sum(axis=1)[0]
    july = lift[0]
    np.testing.assert_array_equal(arrivals[:july], 0.0)
    np.testing.assert_allclose(arrivals[july], inputs.moved[july], rtol=1e-9)
    np.testing.assert_allclose(hiding[july], -inputs.moved[july], rtol=1e-9)
    # Nobody is counted twice: those lifted do not arrive again later.
    assert arrivals.sum() <= inputs.moved.sum() * (1 + 1e-9)
    # With fewer in hiding than the airlift took, it takes those there are.
    few = run_flows(inputs, prior_medians()[None, :])
    assert few.hiding.min() >= 0.0


def test_the_settled_stay_in_china_until_they_start_looking(inputs: FlowInputs) -> None:
    x = prior_medians()[None, :]
    run = run_flows(inputs, x)
    assert (run.settled >= 0).all() and (run.settled <= run.hiding * (1 + 1e-12)).all()
    # Nobody settling: the settled state stays empty and those looking arrive sooner.
    none = dataclasses.replace(inputs, config=dataclasses.replace(CONFIG, settle_share=0.0))
    loose = run_flows(none, x)
    assert loose.settled.max() == 0.0
    assert loose.arrivals.sum() > run.arrivals.sum()
    # Everyone settling and nobody starting to look: only those not through China arrive.
    x_stuck = x.copy()
    x_stuck[0, CONFIG.index("unsettle_rate")] = 0.0
    stuck = run_flows(
        dataclasses.replace(inputs, config=dataclasses.replace(CONFIG, settle_share=1.0)), x_stuck
    )
    direct = x[0, CONFIG.index("direct_per_year")] / 12
    np.testing.assert_allclose(stuck.arrivals.sum(axis=1)[0], direct, rtol=1e-9)
    np.testing.assert_allclose(stuck.settled, stuck.hiding, rtol=1e-12)


def test_the_settled_do_not_start_looking_while_the_way_is_shut(inputs: FlowInputs) -> None:
    # From 2015 nobody crosses and nobody gets through: the settled then only leave by being
    # caught, so how fast they would otherwise start looking no longer matters.
    t0 = int(np.flatnonzero(inputs.months == 2015 * 12)[0])
    arrive = inputs.transit.arrive.copy()
    arrive[t0:] = 0.0
    shut = dataclasses.replace(
        inputs, transit=dataclasses.replace(inputs.transit, arrive=arrive)
    ).with_scenario({"nk.outflow": 0.0}, t0)
    x = prior_medians()[None, :].repeat(2, axis=0)
    x[1, CONFIG.index("unsettle_rate")] *= 10
    settled = run_flows(shut, x).settled  # (2, sex, T): each sex is caught at its own rate
    decay = settled[..., t0:] / settled[..., t0 - 1 : t0]
    assert (decay[..., -1] < 1.0).all()
    np.testing.assert_allclose(decay[0], decay[1], rtol=1e-9)
    open_way = run_flows(inputs, x).settled.sum(axis=1)
    assert open_way[1, -1] < open_way[0, -1]  # with the way open the rate does matter


def _stock_run(people: float, women: float) -> FlowRun:
    months = np.arange(1994 * 12, 2026 * 12, dtype=np.int64)
    hiding = np.zeros((1, 2, len(months)))
    hiding[0, 0], hiding[0, 1] = people * women, people * (1 - women)
    empty = np.zeros((1, 2, len(months)))
    return FlowRun(months, empty, empty, np.zeros((1, len(months))), hiding, hiding)


def test_the_published_stock_weighs_only_outside_its_ranges(inputs: FlowInputs) -> None:
    # 20,000 people, 70% women: inside every published range.
    assert stock_log_weight(inputs, _stock_run(20_000, 0.7), 2019)[0] == 0.0
    # 2,000 people: a factor of 5 below the low end of 10,000 in 2002 and 2006 (and 2019).
    spread = CONFIG.stock_spread
    beyond = np.log(5) / spread
    before = stock_log_weight(inputs, _stock_run(2_000, 0.7), 2015)[0]
    np.testing.assert_allclose(before, -2 * 0.5 * beyond**2)
    np.testing.assert_allclose(
        stock_log_weight(inputs, _stock_run(2_000, 0.7), 2019)[0], -3 * 0.5 * beyond**2
    )
    # The women's share on the log-odds scale: 95% is above the 2008 (75%) and 2010 (90%) ends.
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    expected = -0.5 * ((logit(0.95) - logit(0.75)) / spread) ** 2
    expected -= 0.5 * ((logit(0.95) - logit(0.9)) / spread) ** 2
    np.testing.assert_allclose(
        stock_log_weight(inputs, _stock_run(20_000, 0.95), 2015)[0], expected
    )


def test_covid_collapse_comes_from_events_at_prior_medians(inputs: FlowInputs) -> None:
    # No parameter has seen 2020-2022: the fall comes from the atlas's dated events alone.
    years, arrivals = run_flows(inputs, prior_medians()[None, :]).yearly("arrivals")
    total = arrivals.sum(axis=1)[0]
    y2019, y2021 = (int(np.flatnonzero(years == y)[0]) for y in (2019, 2021))
    assert total[y2021] < 0.25 * total[y2019]


def test_scenarios_move_what_they_name(inputs: FlowInputs) -> None:
    x = prior_medians()[None, :]
    start = int(np.flatnonzero(inputs.months == 2026 * 12)[0])
    base = run_flows(inputs, x)
    stop = run_flows(inputs.with_scenario({"nk.outflow": 0.0}, start), x)
    assert stop.departures[..., start:].sum() == 0.0
    assert np.array_equal(stop.departures[..., :start], base.departures[..., :start])
    free = run_flows(inputs.with_scenario({"china.repatriation": 0.0}, start), x)
    assert free.repatriated[:, start:].sum() < base.repatriated[:, start:].sum()
    assert free.hiding[..., -1].sum() > base.hiding[..., -1].sum()
    with pytest.raises(ValueError, match=r"valid: china\.repatriation"):
        inputs.with_scenario({"china.repatriations": 0.0}, start)


def test_likelihood_prefers_the_parameters_that_made_the_data(inputs: FlowInputs) -> None:
    truth = prior_medians()
    run = run_flows(inputs, truth[None, :])
    years, arrivals = run.yearly("arrivals")
    keep = (years >= 1999) & (years <= 2019)
    total = np.round(arrivals.sum(axis=1)[0, keep]).astype(int)
    women = np.round(arrivals[0, 0, keep]).astype(int)
    fake = Observed(tuple(years[keep].tolist()), tuple(total.tolist()), tuple(women.tolist()))
    ys = fake.years
    at_truth = log_likelihood(inputs, fake, truth[None, :], ys)[0]
    for name, factor in (("exit_rate", 1.5), ("pull", 0.7), ("women_share_2008", 0.8)):
        moved = truth.copy()
        moved[CONFIG.index(name)] *= factor
        assert log_likelihood(inputs, fake, moved[None, :], ys)[0] < at_truth, name


def test_the_womens_counts_are_a_distribution_given_the_total(inputs: FlowInputs) -> None:
    # The beta-binomial of the women among a year's arrivals sums to one over 0..total: the
    # likelihood is a proper distribution of the counts, not one up to a constant.
    x = prior_medians()[None, :]
    total = 25
    years = (2010,)
    without = log_likelihood(inputs, Observed(years, (total,), (None,)), x, years)[0]
    women = [
        log_likelihood(inputs, Observed(years, (total,), (f,)), x, years)[0] - without
        for f in range(total + 1)
    ]
    np.testing.assert_allclose(np.exp(women).sum(), 1.0, rtol=1e-9)


def test_convergence_sees_chains_apart_and_drifting() -> None:
    rng = np.random.default_rng(4)
    steps, walkers = 200, 16
    same = [rng.standard_normal((steps, walkers, 2)) for _ in range(4)]
    agree = convergence(same)
    # Independent draws: R-hat within a few standard errors of 1 (about 1/sqrt(draws) each).
    assert np.all(np.abs(agree.r_hat - 1) < 5 / np.sqrt(4 * walkers * steps))
    assert np.all(agree.ess_bulk > 0.5 * 4 * walkers * steps)
    # One chain a standard deviation away from the others: R-hat sees it.
    apart = [*same[:3], same[3] + 1.0]
    assert np.all(convergence(apart).r_hat > 1.05)
    # Every chain drifting the same way: the split halves see it.
    trend = np.linspace(-1.0, 1.0, steps)[:, None, None]
    assert np.all(convergence([c + trend for c in same]).r_hat > 1.05)
    # Walkers that never move (each its own constant) count for few draws, not for all.
    frozen = [np.repeat(c[:1], steps, axis=0) for c in same]
    assert np.all(convergence(frozen).ess_bulk < 0.05 * 4 * walkers * steps)


def test_small_calibration_on_a_dask_local_cluster(inputs: FlowInputs, tmp_path: Path) -> None:
    observed = load_arrivals()
    seen: list[FitProgress] = []
    post = fit_flows(
        inputs,
        observed,
        train_until=2015,
        seed=2,
        chains=2,
        walkers=30,
        steps=12,
        generations=4,
        scheduler=None,
        progress=seen.append,
    )
    assert post.samples.shape[1] == len(CONFIG.priors)
    assert post.fit_years[-1] == 2015 and 2016 not in post.fit_years
    assert len(post.meta["acceptance"]) == 2
    # 6 kept steps of 30 walkers in each of 2 chains.
    assert len(post.samples) == 2 * 30 * 6
    assert set(post.meta["r_hat"]) == set(CONFIG.names)
    # The chains' steps reach the client as the tasks report them, after the mode search's.
    stages = [p.stage for p in seen]
    assert stages.index("sampling") > stages.index("mode search")
    assert max(p.done for p in seen if p.stage == "mode search") == 4
    sampling = [p for p in seen if p.stage == "sampling"]
    assert {p.total for p in sampling} == {2 * 12}
    assert max(p.done for p in sampling) == 2 * 12
    path = tmp_path / "posterior.json"
    post.save(path)
    again = load_posterior(path, CONFIG.names)
    np.testing.assert_allclose(again.samples, post.samples, rtol=1e-6)


def test_fit_years_never_include_the_covid_years() -> None:
    years = fit_years(load_arrivals(), 2025, 1995)
    assert 2019 in years and 2023 in years
    assert not {2020, 2021, 2022} & set(years)


@pytest.mark.slow
def test_quick_fit_meets_the_targets() -> None:
    # The CLI's quick setting and seed, as the README's `nkescape flows fit` runs it (chains on
    # local processes; each chain's seed is fixed, so the scheduler does not change the draws).
    # Seeds 2-4 meet the targets too (docs/design.md section 16).
    _, full, observed = prepare(ATLAS, 2025, seed=1)
    post = fit_flows(
        full,
        observed,
        seed=1,
        chains=QUICK_CHAINS,
        walkers=QUICK_WALKERS,
        steps=QUICK_STEPS,
        generations=150,
    )
    report = report_fit(full, observed, post, seed=1)
    assert report.mape < 15.0
    assert report.coverage >= 0.8
    assert report.share_gap < 5.0
    assert post.meta["r_hat_max"] < 1.1, post.meta["r_hat"]
    scenario = run_scenario(
        full, post, {"china.repatriation": 0.0}, dt.date(2023, 1, 1), 3, draws=100
    )
    lo, mid, hi = scenario.table["repatriated"]["scenario"]
    assert (lo <= mid).all() and (mid <= hi).all()
    assert (mid < scenario.table["repatriated"]["baseline"][1]).all()


def _posterior(tmp_path: Path) -> Path:
    post = Posterior(CONFIG.names, prior_medians()[None, :].repeat(3, axis=0), (2000, 2001))
    path = tmp_path / "posterior.json"
    post.save(path)
    return path


def test_broken_posterior_files_are_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PosteriorError, match="not a posterior file"):
        load_posterior(bad, CONFIG.names)
    path = _posterior(tmp_path)
    data = json.loads(path.read_text())
    data["names"] = data["names"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(PosteriorError, match="fit again"):
        load_posterior(path, CONFIG.names)


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "china.repatriations=0"], "unknown scenario key 'china.repatriations' (valid:"),
        (["--set", "china.repatriation=-1"], "cannot be negative"),
        (["--set", "china.repatriation=0", "--from", "1980-01"], "outside the model's range"),
        (["--set", "ngo.funding=2", "--from", "0000-01"], "(1994-01 to 2100-12)"),
        (["--set", "ngo.funding=2", "--from", "2099-01", "--years", "5"], "ends in 2103"),
        (["--set", "china.repatriation=0", "--from", "2026-13"], "cannot read --from"),
        (["--set", "china.repatriation=."], "is not a number"),
        (["--set", "china.repatriation=1e999"], "finite factor"),
        (["--set", "broker.fees=0"], "must be above 0"),
        (["--set", "china.repatriation=3"], "between 0 and 1"),
    ],
)
def test_scenario_cli_bad_input(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "flows",
            "scenario",
            "--parameters",
            str(_posterior(tmp_path)),
            "--out",
            str(tmp_path / "o"),
            *args,
        ],
    )
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_scenario_cli_broken_posterior(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("[]")
    result = runner.invoke(
        app, ["flows", "scenario", "--set", "ngo.funding=2", "--parameters", str(bad)]
    )
    assert result.exit_code == 1
    assert "not a posterior file" in result.output


def test_inputs_reject_a_range_before_the_start() -> None:
    with pytest.raises(ValueError, match="before the model's start"):
        flow_inputs(ATLAS, CONFIG, 1990)


def test_a_mid_year_scenario_covers_every_month(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "flows",
            "scenario",
            "--parameters",
            str(_posterior(tmp_path)),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "ngo.funding=2",
            "--from",
            "2026-06",
            "--years",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["years"] == [2026, 2027]
    assert "wrote " in result.stderr and "scenario.md" in result.stderr


def test_history_keeps_closures_of_baseline_events_after_their_date() -> None:
    in_force = dict(
        (e.id, power) for e, power in events_in_force(ATLAS, dt.date(2013, 6, 1), history=True)
    )
    assert in_force["laos-deports-nine"] == 0


def test_a_posterior_calibrates_the_atlas_for_plan_and_simulate(tmp_path: Path) -> None:
    from nkescape.flows.calibrated import CALIBRATION_SOURCE, calibrated_atlas

    draws = prior_medians()[None, :].repeat(50, axis=0)
    scale = CONFIG.index("hiding_catch_scale")
    draws[:, scale] = np.linspace(2.0, 3.0, 50)
    atlas = calibrated_atlas(ATLAS, Posterior(CONFIG.names, draws, (2000,)))
    before = ATLAS.policies["china-1990"].hiding
    after = atlas.policies["china-1990"].hiding
    assert before is not None and after is not None
    lo, hi = after.p_caught_per_day.bounds
    mean = before.p_caught_per_day.mean
    assert np.isclose(lo, mean * np.quantile(draws[:, scale], 0.05))
    assert np.isclose(hi, mean * np.quantile(draws[:, scale], 0.95))
    assert CALIBRATION_SOURCE in after.p_caught_per_day.source
    assert atlas.events == ATLAS.events  # the events' factors keep their published ranges
    assert ATLAS.policies["china-1990"].hiding is before  # the bundled atlas is untouched
    path = tmp_path / "posterior.json"
    Posterior(CONFIG.names, draws, (2000,)).save(path)
    base = runner.invoke(app, ["plan", "--from", "hyesan", "--month", "1", "--json"])
    calib = runner.invoke(
        app, ["plan", "--from", "hyesan", "--month", "1", "--json", "--parameters", str(path)]
    )
    assert base.exit_code == 0 and calib.exit_code == 0, calib.output
    plans = [json.loads(r.output)["itineraries"] for r in (base, calib)]
    assert len(plans[1]) == len(plans[0]) > 0
    bad = runner.invoke(app, ["plan", "--from", "hyesan", "--parameters", str(tmp_path / "no")])
    assert bad.exit_code == 1 and "cannot read it" in bad.output


def test_the_fit_report_sets_the_stock_against_the_published_estimates(
    inputs: FlowInputs, tmp_path: Path
) -> None:
    x = prior_medians()
    post = Posterior(CONFIG.names, x[None, :].repeat(3, axis=0), (2000, 2001))
    report = report_fit(inputs, load_arrivals(), post, draws=3)
    assert [r.estimate for r in report.stock] == list(CONFIG.stock_estimates)
    assert {r.estimate.measure for r in report.stock} == {"people", "women_share"}
    years, hiding = run_flows(inputs, x[None, :]).yearly("hiding")
    for r in report.stock:
        at = hiding[0, :, int(np.flatnonzero(years == r.estimate.year)[0])]
        want = at.sum() if r.estimate.measure == "people" else at[0] / at.sum()
        assert r.median == pytest.approx(want, rel=1e-9)
        assert r.low <= r.median <= r.high
        assert r.inside == (r.estimate.low <= r.median <= r.estimate.high)
    assert len(report.to_json()["stock_in_china"]) == len(report.stock)
    _, settled = run_flows(inputs, x[None, :]).yearly("settled")
    by_year = {r.year: r for r in report.stock_by_year}
    assert sorted(by_year) == years.tolist()
    for j, y in enumerate(years.tolist()):
        assert by_year[y].median == pytest.approx(hiding[0, :, j].sum(), rel=1e-9)
        assert by_year[y].settled == pytest.approx(settled[0, :, j].sum(), rel=1e-9)
    written = write_fit_report(report, tmp_path)
    assert tmp_path / "stock.png" in written
    assert (tmp_path / "stock.png").read_bytes()[:4] == b"\x89PNG"
    assert "(stock.png)" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("command", "args", "code", "message"),
    [
        ("fit", ["--train-until", "1990"], 1, "outside the years a fit can end in (2003-2025)"),
        ("fit", ["--train-until", "2031"], 1, "(2003-2025)"),
        ("backtest", ["--train-until", "2019"], 1, "a backtest can end in (2003-2018)"),
        ("fit", ["--scheduler", "localhost"], 2, "is not a scheduler"),
        ("fit", ["--steps", "1"], 2, "--steps"),
    ],
)
def test_fit_cli_refuses_what_it_cannot_fit(
    command: str, args: list[str], code: int, message: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["flows", command, "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_fit_cli_never_lands_on_an_earlier_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "out" / "flows"
    earlier.mkdir(parents=True)
    (earlier / "posterior.json").write_text("earlier")
    refused = runner.invoke(app, ["flows", "fit", "--out", str(earlier)])
    assert refused.exit_code == 1 and "--force" in refused.stderr
    walkers = str(2 * len(CONFIG.priors))  # the fewest a fit takes: two per parameter
    small = ["--chains", "2", "--steps", "6", "--walkers", walkers, "--generations", "2"]
    result = runner.invoke(app, ["flows", "fit", *small, "--scheduler", "sync"])
    assert result.exit_code == 0, result.output
    assert (earlier / "posterior.json").read_text() == "earlier"
    second = Path("out") / "flows-2" / "posterior.json"
    assert (tmp_path / second).exists()
    assert f"--parameters {second}" in result.stderr
    # Progress on stderr: each stage, and the chains' steps to the end.
    assert "mode search: 2/2 generations" in result.stderr
    assert "sampling: 12/12 steps (2 chains x 6)" in result.stderr
    assert "wrote " in result.stderr and "MAPE 2002-2019" in result.stdout
    # Three kept steps a chain are too few for split R-hat, and the fit says so.
    assert "too few draws kept" in result.stderr


# Route choice, seasons and time in China (issue 17): what the model says inside the totals.


def test_transit_holds_each_route_and_its_dated_availability(inputs: FlowInputs) -> None:
    tr = inputs.transit
    n, r = tr.arrive.shape
    assert n == inputs.n_months and r == len(tr.routes) >= 3
    for name in ("arrive", "back_china", "back_other", "stay", "dead", "lag_months", "cost_usd"):
        table = getattr(tr, name)
        assert table.shape == (n, r)
        assert (table[~tr.open] == 0).all()  # a route not found that month holds nothing
    ends = tr.arrive + tr.back_china + tr.back_other + tr.stay + tr.dead
    np.testing.assert_allclose(ends[tr.open], 1.0, atol=1e-9)
    assert (tr.cost_usd[tr.open] > 0).all()
    # The Vientiane handover closes on 10 May 2013 (policy laos-2013): Laos is a route in April
    # 2013 and not in June, while Thailand stays open.
    la, th = tr.routes.index("LA"), tr.routes.index("TH")
    april, june = (int(np.flatnonzero(inputs.months == 2013 * 12 + m)[0]) for m in (3, 5))
    assert tr.open[april, la] and not tr.open[june, la]
    assert tr.open[april, th] and tr.open[june, th]
    # COVID: the land ways south close in 2021.
    t21 = int(np.flatnonzero(inputs.months == 2021 * 12 + 5)[0])
    assert not tr.open[t21, th]


def test_route_choice_shares_follow_price_and_risk(inputs: FlowInputs) -> None:
    spreads = np.array([0.4, 0.8, 1.6])
    shares, level = route_choice(inputs, spreads)
    tr = inputs.transit
    k, n, r = shares.shape
    assert (k, n, r) == (3, inputs.n_months, len(tr.routes))
    any_open = tr.open.any(axis=1)
    np.testing.assert_allclose(shares.sum(axis=2)[:, any_open], 1.0, atol=1e-12)
    assert (shares[:, ~tr.open] == 0).all()
    # The dearest route (forged papers and a flight) loses people as budgets spread less.
    t = int(np.flatnonzero(inputs.months == 2009 * 12)[0])
    dear = int(np.argmax(np.where(tr.open[t], tr.cost_usd[t], -1)))
    assert tr.routes[dear] == "CN-air"
    assert shares[0, t, dear] < shares[1, t, dear] < shares[2, t, dear]
    # A route more people get through on draws more people, from every other route.
    th = tr.routes.index("TH")
    arrive = tr.arrive.copy()
    arrive[:, th] *= 1.2
    safer = dataclasses.replace(inputs, transit=dataclasses.replace(tr, arrive=arrive))
    more, _ = route_choice(safer, spreads)
    assert (more[:, t, th] > shares[:, t, th]).all()
    others = [j for j in range(r) if j != th and tr.open[t, j]]
    assert (more[:, t, others] < shares[:, t, others]).all()
    assert (level[:, any_open] > 0).all()
    assert (level[:, ~any_open] == 0).all()


def test_arrivals_by_route_add_up_to_the_arrivals(inputs: FlowInputs) -> None:
    x = prior_medians()[None, :].repeat(2, axis=0)
    x[1, CONFIG.index("budget_spread")] *= 2
    run = run_flows(inputs, x, detail=True)
    plain = run_flows(inputs, x)
    np.testing.assert_array_equal(run.arrivals, plain.arrivals)  # detail changes nothing
    assert run.route_arrivals is not None and plain.route_arrivals is None
    np.testing.assert_allclose(run.route_arrivals.sum(axis=1), run.arrivals.sum(axis=1), rtol=1e-9)
    assert set(CONFIG.direct_routes) <= set(run.routes)
    # The 2004 airlift arrives by way of Vietnam, in July-August 2004 only.
    vn = run.routes.index("VN")
    years = run.months // 12
    assert run.route_arrivals[:, vn, years == 2004].sum() > 400
    # Direct defections split as the setting says, every month.
    direct = x[:, CONFIG.index("direct_per_year")] / 12
    for name, share in CONFIG.direct_routes.items():
        got = run.route_arrivals[:, run.routes.index(name), :]
        np.testing.assert_allclose(got, np.broadcast_to((direct * share)[:, None], got.shape))


def test_seasons_shape_crossings_and_setting_out(inputs: FlowInputs) -> None:
    x = prior_medians()[None, :]
    flat_cfg = dataclasses.replace(CONFIG, departure_season=(1.0,) * 12, onward_season=(1.0,) * 12)
    flat = flow_inputs(ATLAS, flat_cfg, 2026, transit=inputs.transit)
    seasonal, even = run_flows(inputs, x), run_flows(flat, x)
    # Crossings are the flat model's times the month's factor: a mechanism, not a fit.
    ratio = seasonal.departures.sum(axis=1)[0] / np.maximum(even.departures.sum(axis=1)[0], 1e-12)
    factor = np.array(CONFIG.departure_season)[inputs.months % 12]
    crossing = even.departures.sum(axis=1)[0] > 0
    np.testing.assert_allclose(ratio[crossing], factor[crossing], rtol=1e-9)
    assert np.mean(CONFIG.departure_season) == pytest.approx(1.0)
    # Over the frozen river in winter more cross than in the summer floods.
    assert CONFIG.departure_season[11] > CONFIG.departure_season[7]
    # The dry season draws more journeys south than the rains, so the arrivals of the average
    # year are not flat.
    report = monthly_arrivals(seasonal)
    share = np.array([m["share"]["median"] for m in report["months"]])
    assert share.sum() == pytest.approx(1.0, abs=1e-3)
    assert share.max() - share.min() > 0.005
    quarters = [q["share"]["median"] for q in report["quarters"]]
    assert sum(quarters) == pytest.approx(1.0, abs=1e-3)
    even_share = np.array([m["share"]["median"] for m in monthly_arrivals(even)["months"]])
    assert np.abs(share - 1 / 12).max() > np.abs(even_share - 1 / 12).max()


def test_years_in_china_come_from_cohorts_and_grow_with_the_ramp(inputs: FlowInputs) -> None:
    x = prior_medians()[None, :].repeat(2, axis=0)
    run = run_flows(inputs, x, detail=True)
    assert run.stay_hist is not None and run.stay_years is not None
    k, y, a = run.stay_hist.shape
    assert (k, a) == (2, CONFIG.stay_bins) and y == len(run.stay_years)
    years, arrivals = run.yearly("arrivals")
    np.testing.assert_array_equal(years, run.stay_years)
    direct = (x[:, CONFIG.index("direct_per_year")])[:, None]
    from_china = arrivals.sum(axis=1) - direct
    np.testing.assert_allclose(run.stay_hist.sum(axis=2), from_china, rtol=1e-8, atol=1e-6)
    # Nobody can have spent longer in China than the years since the model's start.
    for j, year in enumerate(years.tolist()):
        assert run.stay_hist[:, j, year - CONFIG.start_year + 1 :].sum() == 0
    # The settled take years to come to their full chance of leaving: a longer ramp keeps
    # people longer, none at all shortens their stays.
    ramp = settled_ramp(inputs)
    assert ramp.min() == 0 and ramp.max() == 1 and (np.diff(ramp, axis=0) >= 0).all()
    means = []
    for years_ramp in (0.0, CONFIG.settled_ramp_years, 3 * CONFIG.settled_ramp_years):
        cfg = dataclasses.replace(CONFIG, settled_ramp_years=years_ramp)
        r = run_flows(dataclasses.replace(inputs, config=cfg), x[:1], detail=True)
        means.append(years_in_china(r)["years"])
    at = [next(row["mean"]["median"] for row in rows if row["year"] == 2009) for rows in means]
    assert at[0] < at[1] < at[2]


def test_the_fit_report_says_what_is_inside_the_totals(inputs: FlowInputs, tmp_path: Path) -> None:
    x = prior_medians()
    post = Posterior(CONFIG.names, x[None, :].repeat(3, axis=0), (2000, 2001))
    report = report_fit(inputs, load_arrivals(), post, draws=3, atlas=ATLAS)
    data = report.to_json()
    for key in ("route_shares", "monthly_arrivals", "years_in_china", "origin_shares"):
        assert data[key], key
    routes = [r["id"] for r in data["route_shares"]["routes"]]
    assert {"TH", "dmz", "sea", "abroad"} <= set(routes)
    for row in data["route_shares"]["years"]:
        assert sum(b["median"] for b in row["shares"].values()) == pytest.approx(1.0, abs=1e-3)
        assert all(b["low"] <= b["median"] <= b["high"] for b in row["shares"].values())
    for row in data["years_in_china"]["years"]:
        assert row["mean"]["low"] <= row["mean"]["median"] <= row["mean"]["high"]
        assert 0 <= row["share_5_plus"]["median"] <= 1
    assert data["validation"] and {"quantity", "inside", "median"} <= set(data["validation"][0])
    json.dumps(data)  # fit.json holds only plain values
    written = write_fit_report(report, tmp_path)
    for name in ("routes.png", "seasons.png"):
        assert tmp_path / name in written
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "report.md").read_text()
    assert "(routes.png)" in md and "(seasons.png)" in md and "validation" in md


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("departure_season", "{1: 1.0, 2: 1.0}", "each month 1-12"),
        ("direct_routes", "{dmz: 0.5, sea: 0.4}", "add up to 1"),
        ("onward_profile", "nobody", "unknown profile"),
    ],
)
def test_a_broken_choice_or_season_setting_names_its_field(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    text = PARAMETERS_FILE.read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line == f"  {key}:")
    assert lines[at + 1].startswith("    value: ")
    lines[at + 1] = f"    value: {value}"
    bad = tmp_path / "parameters.yaml"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(AtlasError) as err:
        load_config(ATLAS, bad)
    (problem,) = err.value.problems
    assert f"settings.{key}.value" in str(problem) and message in str(problem)
    assert int(str(problem).split(":")[1]) == at + 2
