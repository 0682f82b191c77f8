"""The journey simulator: reproducible, statistically right, and faithful to the sources."""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nkescape.atlas import Atlas, bundled_atlas, toy_atlas
from nkescape.cli import app
from nkescape.routing import Itinerary, plan
from nkescape.routing.network import Calendar
from nkescape.routing.query import Funding, Group, Query
from nkescape.simulate import (
    CHUNK,
    JourneyModel,
    SimulationError,
    journey_model,
    simulate,
    wilson,
)
from nkescape.simulate.kernel import DEAD, DESTINATION, HIDING, REPATRIATED, SAFETY
from nkescape.simulate.model import SHAPES

SEPT = dt.date(2017, 9, 1)


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


def query(origin: str = "hyesan", date: dt.date = SEPT, funding: Funding = "self") -> Query:
    return Query(origin, "seoul", date, Group(), None, None, funding)


def overland(atlas: Atlas, funding: Funding = "self") -> Itinerary:
    """The Washington Post route: China, the night run into Vietnam, Laos, the Mekong."""
    result = plan(atlas, "hyesan", date=SEPT, funding=funding)
    return next(
        it for it in result.itineraries if any(s.leg == "vietnam-night-run" for s in it.legs)
    )


def test_same_seed_same_numbers_and_another_seed_differs(atlas: Atlas) -> None:
    it = overland(atlas)
    a = simulate(atlas, it, query=query(), runs=20_000, seed=7).to_json()
    b = simulate(atlas, it, query=query(), runs=20_000, seed=7).to_json()
    c = simulate(atlas, it, query=query(), runs=20_000, seed=8).to_json()
    assert a == b
    assert a != c


def test_threads_do_not_change_the_numbers(atlas: Atlas) -> None:
    it = overland(atlas)
    one = simulate(atlas, it, query=query(), runs=30_000, seed=4, chunk=5_000, workers=1)
    two = simulate(atlas, it, query=query(), runs=30_000, seed=4, chunk=5_000, workers=2)
    assert one.to_json() == two.to_json()


def test_chunking_streams_without_changing_the_statistics(atlas: Atlas) -> None:
    it = overland(atlas)
    whole = simulate(atlas, it, query=query(), runs=60_000, seed=3)
    pieces = simulate(atlas, it, query=query(), runs=60_000, seed=3, chunk=7_000)
    assert pieces.runs == whole.runs == 60_000
    p, q = whole.p_reach_destination, pieces.p_reach_destination
    sigma = math.sqrt(p * (1 - p) * 2 / 60_000)
    assert abs(p - q) < 4 * sigma


def test_toy_success_rate_matches_the_analytic_product() -> None:
    atlas = toy_atlas()
    result = plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))
    it = next(i for i in result.itineraries if i.legs[-1].leg == "haven-capital-flight")
    q = Query("home", "capital", result.date, Group(), None, None, "self")
    model = journey_model(atlas, q, it)
    n = 200_000
    summary = simulate(atlas, it, query=q, runs=n, seed=42)
    # Analytic: a leg is passed unless the group is caught and sent back, or betrayed (robbed,
    # turned in, sold). In January no seasonal factor moves the toy's probabilities.
    assert np.all(model.odds_factor[:, 0] == 1.0)
    survive = 1.0
    for k in range(model.n_legs):
        code, a, b = model.p_int[k]
        p_caught = a if code == 0 else (a + b) / 2
        robbed, turned, sold = model.betrayal[k]
        p_caught = p_caught + (1 - p_caught) * turned
        survive *= (1 - p_caught * model.p_back[k]) * (1 - robbed - sold)
    sigma = math.sqrt(survive * (1 - survive) / n)
    assert abs(summary.p_reach_destination - survive) < 4 * sigma


def reference(model: JourneyModel, n: int, seed: int) -> tuple[float, float]:
    """A per-journey loop of the same model (no arrays): success rate and median days."""
    rng = np.random.default_rng(seed)

    def draw(params: np.ndarray) -> float:
        code, a, b = int(params[0]), float(params[1]), float(params[2])
        return a if code == 0 else rng.uniform(a, b) if code == 1 else rng.lognormal(a, b)

    ok, days = 0, []
    start0 = model.start.month - 1
    for _ in range(n):
        t, alive = 0.0, True
        for k in range(model.n_legs):
            t = max(t, model.not_before[k])
            i = int(np.searchsorted(model.month_starts, t, side="right")) - 1
            while not model.is_open[k, (start0 + i) % 12]:
                i += 1
                t = model.month_starts[i]
            # No hiding risk here: the route is checked in September, when no leg is closed,
            # and the planner chose no waits.
            m = (start0 + i) % 12
            d = draw(model.dur[k]) * model.dur_factor[k, m]
            p = draw(model.p_int[k])
            f = model.odds_factor[k, m]
            p = 1.0 if p >= 1 else p * f / (1 - p + p * f)
            u = rng.random()
            robbed, turned, sold = model.betrayal[k]
            caught = rng.random() < p or robbed <= u < robbed + turned
            if u < robbed or robbed + turned <= u < robbed + turned + sold:
                alive = False
                break
            if caught:
                v = rng.random()
                if v < model.p_back[k]:
                    alive = False
                    break
                t += model.detention[k]
                if v < model.p_back[k] + model.p_embassy[k]:
                    break
                t += d
                continue
            t += d
        if alive:
            ok += 1
            days.append(t)
    return ok / n, statistics.median(days)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_kernel_agrees_with_a_per_journey_reference(atlas: Atlas, backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    it = overland(atlas)
    model = journey_model(atlas, query(), it)
    n = 20_000
    p_ref, median_ref = reference(model, n, seed=11)
    summary = simulate(atlas, it, query=query(), runs=n, seed=12, backend=backend)
    p = summary.p_reach_destination
    sigma = math.sqrt(p * (1 - p) / n + p_ref * (1 - p_ref) / n)
    assert abs(p - p_ref) < 4 * sigma
    median = summary.quantiles("destination")["p50"]
    assert median is not None and abs(median - median_ref) / median_ref < 0.05


def test_overland_route_reproduces_the_washington_post_figures(atlas: Atlas) -> None:
    it = overland(atlas)
    n = 100_000
    summary = simulate(atlas, it, query=query(), runs=n, seed=1)
    to_thailand = summary.quantiles("safety")
    to_seoul = summary.quantiles("destination")
    assert to_thailand["p10"] is not None and to_seoul["p10"] is not None
    # "if everything goes smoothly ... in a Thai detention centre within 10 days and in South
    # Korea within a month": when all goes well means the fast end of the distribution.
    assert to_thailand["p10"] <= 10 <= to_thailand["p50"]  # type: ignore[operator]
    assert to_seoul["p10"] <= 30 <= to_seoul["p50"]  # type: ignore[operator]
    # "almost 4,350km" and "more than 80 hours on buses in China", from the legs themselves.
    km = sum(
        atlas.leg_distance(atlas.legs[s.leg]).central
        for s in it.legs
        if s.leg and atlas.places[s.from_place].country != "TH"
    )
    assert 3_900 <= km <= 4_800
    china_bus_hours = (
        24
        * sum(
            atlas.legs[s.leg].duration_days.median or 0
            for s in it.legs
            if s.mode == "bus"
            and atlas.places[s.to_place].country == "CN"
            and s.leg != "yanji-shenyang-bus"
        )
        + 17
    )  # the first, 17-hour bus; its leg also holds the three days in the safe house
    assert china_bus_hours > 80


def test_ngo_route_costs_about_half_of_a_broker_route(atlas: Atlas) -> None:
    n = 50_000
    costs = {}
    for funding in ("self", "ngo"):
        it = overland(atlas, funding)
        summary = simulate(atlas, it, query=query(funding=funding), runs=n, seed=5)
        costs[funding] = summary.quantiles("cost")["mean"]
    ratio = costs["ngo"] / costs["self"]  # type: ignore[operator]
    assert 0.45 <= ratio <= 0.55  # WaPo: US$2,000 through the NGO, about double via a broker
    assert 1_400 <= costs["ngo"] <= 3_000  # type: ignore[operator]


def test_bad_runs_and_seed_are_refused(atlas: Atlas) -> None:
    it = overland(atlas)
    with pytest.raises(SimulationError, match="runs must be positive"):
        simulate(atlas, it, query=query(), runs=0, seed=1)
    with pytest.raises(SimulationError, match="seed must be"):
        simulate(atlas, it, query=query(), runs=10, seed=-1)


def test_wilson_interval() -> None:
    lo, hi = wilson(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.192, abs=0.002)
    assert wilson(0, 10)[0] == 0.0


runner = CliRunner()


def test_cli_simulate_json_is_reproducible(tmp_path: Path) -> None:
    args = [
        "simulate",
        "--from",
        "hyesan",
        "--date",
        "2017-09-01",
        "--runs",
        "20000",
        "--seed",
        "1",
        "--json",
    ]
    # Two folders: a run never lands on an earlier one. The JSON is stdout; stderr says what
    # was written where.
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert {
        "p_reach_safety",
        "p_reach_destination",
        "days_to_destination",
        "cost_usd",
        "funnel",
        "seed",
    } <= set(data)
    lo, hi = data["p_reach_safety"]["ci95"]
    assert lo <= data["p_reach_safety"]["value"] <= hi


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--runs", "0"], "runs must be positive"),
        (["--itinerary", "99"], "--itinerary: choose"),
        (["--seed", "-3"], "seed must be"),
    ],
)
def test_cli_simulate_bad_input(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["simulate", "--from", "hyesan", "--date", "2017-09-01", *args])
    assert result.exit_code == 1
    assert fragment in result.output


def test_cli_simulate_writes_summary_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--from",
            "hyesan",
            "--date",
            "2017-09-01",
            "--runs",
            "5000",
            "--seed",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["runs"] == 5000
    for name in ("funnel.png", "days_to_safety.png", "cost.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_jax_kernel_agrees_with_numpy_and_masks_its_last_chunk(atlas: Atlas) -> None:
    pytest.importorskip("jax")
    it = overland(atlas)
    n = 200_000
    ref = simulate(atlas, it, query=query(), runs=n, seed=9, device="cpu")
    # Chunks of 70,000: the last, shorter one is run at the compiled size and masked. One chunk
    # size only, because each size is a fresh XLA compile (most of this test's time).
    one = simulate(atlas, it, query=query(), runs=n, seed=9, backend="jax", chunk=70_000)
    again = simulate(atlas, it, query=query(), runs=n, seed=9, backend="jax", chunk=70_000)
    assert one.to_json() == again.to_json()  # one seed, one answer
    for a, b in (
        (one.p_reach_destination, ref.p_reach_destination),
        (one.p_reach_safety, ref.p_reach_safety),
    ):
        assert abs(a - b) < 4 * math.sqrt(2 * b * (1 - b) / n)
    # The masked tail adds nothing beyond its own journeys.
    assert one.runs == n == one.outcomes.sum()
    assert one.days_destination.sum() == one.outcomes[0]


def test_old_device_names_are_refused_with_the_new_ones(atlas: Atlas) -> None:
    # Nothing falls back from a GPU any more, and the JAX kernel on the CPU is a backend.
    it = overland(atlas)
    with pytest.raises(SimulationError, match=r"unknown device 'auto'.*device='cpu' or 'gpu'"):
        simulate(atlas, it, query=query(), runs=10, seed=1, device="auto")
    with pytest.raises(SimulationError, match=r"'jax-cpu'.*backend='jax', device='cpu'"):
        simulate(atlas, it, query=query(), runs=10, seed=1, device="jax-cpu")


def test_unknown_or_missing_device_is_an_error(
    atlas: Atlas, monkeypatch: pytest.MonkeyPatch
) -> None:
    it = overland(atlas)
    with pytest.raises(SimulationError, match="unknown device 'tpu'"):
        simulate(atlas, it, query=query(), runs=10, seed=1, device="tpu")
    from nkescape.backends import gpu_visible

    if not gpu_visible():
        with pytest.raises(SimulationError, match="no GPU visible to JAX"):
            simulate(atlas, it, query=query(), runs=10, seed=1, device="gpu")
    # The same wherever the tests run: a GPU that JAX does not see is an error, not the CPU.
    monkeypatch.setattr("nkescape.backends.gpu_visible", lambda: False)
    for backend in ("auto", "jax"):
        with pytest.raises(SimulationError, match="no GPU visible to JAX"):
            simulate(atlas, it, query=query(), runs=10, seed=1, device="gpu", backend=backend)
    with pytest.raises(SimulationError, match="the numba kernel runs on the CPU"):
        simulate(atlas, it, query=query(), runs=10, seed=1, device="gpu", backend="numba")


def test_cli_parquet_holds_every_journey(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--from",
            "hyesan",
            "--date",
            "2017-09-01",
            "--runs",
            "12000",
            "--seed",
            "3",
            "--parquet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "journeys.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert table.num_rows == 12_000
    outcomes = table.column("outcome").to_pylist()
    for name, share in summary["outcomes"].items():
        assert outcomes.count(name) == round(share * 12_000)
    completed = [leg for leg in table.column("end_leg").to_pylist() if leg is None]
    assert len(completed) <= outcomes.count("reached-destination")


def test_adaptive_journeys_follow_the_planners_best_route(atlas: Atlas) -> None:
    from nkescape.simulate import simulate_adaptive

    q = query()
    n = 60_000
    adaptive = simulate_adaptive(atlas, query=q, runs=n, seed=6)
    best = plan(atlas, "hyesan", date=SEPT).itineraries[0]
    fixed = simulate(atlas, best, query=q, runs=n, seed=7)
    # In September nothing on the best route closes, so re-planning keeps to it.
    taken = {leg for leg, k in zip(adaptive.legs, adaptive.taken, strict=True) if k}  # type: ignore[arg-type]
    assert taken == {s.leg for s in best.legs}
    p, r = adaptive.p_reach_destination, fixed.p_reach_destination
    assert abs(p - r) < 4 * math.sqrt(2 * r * (1 - r) / n)


def test_adaptive_journeys_wait_for_a_closed_river() -> None:
    from nkescape.simulate import simulate_adaptive

    atlas = toy_atlas()
    q = Query("home", "capital", dt.date(2017, 3, 10), Group(), None, None, "self")
    summary = simulate_adaptive(atlas, query=q, runs=20_000, seed=1)
    # The toy river is waded from April and walked on the ice December-February: setting out
    # on 10 March, nobody can reach the far bank before 1 April, 22 days later.
    fastest = summary.quantiles("safety")["p10"]
    assert fastest is not None and fastest >= 22
    assert summary.p_reach_destination > 0


def test_cli_adaptive(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            "--from",
            "hyesan",
            "--date",
            "2017-01-10",
            "--adaptive",
            "--runs",
            "5000",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["p_reach_destination"]["value"] > 0
    assert {row["leg"] for row in data["funnel"]} >= {"changbai-yanji-car"}
    bad = runner.invoke(app, ["simulate", "--from", "hyesan", "--adaptive", "--parquet"])
    assert bad.exit_code == 1 and "--adaptive runs the NumPy kernel" in bad.output
    # An explicit kernel it would not use is refused too, not ignored.
    numba = runner.invoke(app, ["simulate", "--from", "hyesan", "--adaptive", "--backend", "numba"])
    assert numba.exit_code == 1 and "drop --parquet, --device, --backend" in numba.output


# A hand-built two-leg model for captures while hiding. Leg 0 always passes and takes the group
# to a country where leg 1 is closed until the next month, so everyone hides there (in January,
# from day LEG0_DAYS to 1 February) and is found with probability P_FOUND. Leg 1 itself always
# ends in a capture, whose policy kills, sends back, hands to the embassy or releases.
LEG0_DAYS, LEG1_DAYS, DETENTION = 10.0, 5.0, 30.0
LEG0_COST, LEG1_COST = 100.0, 10_000.0  # leg 1's cost tells who took it, by the cost histogram
P_FOUND = 0.5
P_KILLED, P_BACK, P_EMBASSY = 0.1, 0.4, 0.4  # P_BACK includes the killed; released: the rest
HIDING_RUNS = 100_000
# Each check may fail by chance with probability about 1e-5 (two-sided normal tail).
HIDING_Z = 4.4


def hiding_model(never_opens: bool = False) -> JourneyModel:
    """The two-leg model above; ``never_opens``: leg 1 never opens, so everyone is stranded."""
    start = dt.date(2017, 1, 1)
    ms = np.asarray(Calendar(start).month_starts)
    wait = ms[1] - LEG0_DAYS
    is_open = np.ones((2, 12), dtype=bool)
    is_open[1, start.month - 1] = False
    next_open = np.zeros((2, 12), dtype=np.int64)
    next_open[1, start.month - 1] = 1
    if never_opens:
        is_open[1] = False
        next_open[1] = -1

    def point(leg0: float, leg1: float) -> np.ndarray:
        return np.array([[SHAPES["point"], leg0, leg0], [SHAPES["point"], leg1, leg1]])

    return JourneyModel(
        legs=("to-hiding", "onward"),
        start=start,
        month_starts=ms,
        dur=point(LEG0_DAYS, LEG1_DAYS),
        cost=point(LEG0_COST, LEG1_COST),
        p_int=point(0.0, 1.0),
        dur_factor=np.ones((2, 12)),
        cost_factor=np.ones((2, 12)),
        odds_factor=np.ones((2, 12)),
        is_open=is_open,
        p_back=np.array([P_BACK, P_BACK]),
        p_embassy=np.array([P_EMBASSY, P_EMBASSY]),
        p_killed=np.array([P_KILLED, P_KILLED]),
        detention=np.array([DETENTION, DETENTION]),
        wait_hazard=np.array([0.0, -math.log1p(-P_FOUND) / wait]),
        wait_cost=np.zeros(2),
        betrayal=np.zeros((2, 3)),
        to_safe=np.array([False, True]),
        start_safe=False,
        not_before=np.zeros(2),
        next_open=next_open,
        month_of_day=np.repeat(np.arange(len(ms) - 1), np.diff(ms).astype(np.int64)),
    )


# (device, backend, the package it needs) for each kernel.
KERNELS = [
    pytest.param("cpu", "numpy", "numpy", id="numpy"),
    pytest.param("cpu", "numba", "numba", id="numba"),
    pytest.param("cpu", "jax", "jax", id="jax-cpu"),
]


def simulate_model(
    model: JourneyModel, kernel: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Outcome shares, funnel, journeys that reached safety and that paid for leg 1."""
    device, backend, needs = kernel
    pytest.importorskip(needs)
    monkeypatch.setattr("nkescape.simulate.journey_model", lambda *_: model)
    summary = simulate(
        toy_atlas(),
        list(model.legs),
        query=query(),
        runs=HIDING_RUNS,
        seed=3,
        device=device,
        backend=backend,
    )
    # A run on the CPU takes the CPU's chunks whatever the kernel: the GPU's 2^24 journeys
    # would take gigabytes of memory here.
    assert summary.chunk == CHUNK
    hist, edges = summary.histogram("cost")
    paid = int(hist[edges[:-1] >= LEG1_COST].sum())
    return summary.outcomes / summary.runs, summary.funnel, summary.safe, paid


@pytest.mark.parametrize(("device", "backend", "needs"), KERNELS)
def test_a_capture_in_hiding_follows_the_policy_there_not_the_leg(
    device: str, backend: str, needs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes, funnel, safe, paid = simulate_model(
        hiding_model(), (device, backend, needs), monkeypatch
    )
    # Found in hiding: the hiding risk is of a capture that ends in a return or a death, so the
    # country's policy decides between the two; nobody found is handed to the embassy or
    # released, and nobody found has taken (or paid for) leg 1.
    went = 1 - P_FOUND
    expected = {
        DESTINATION: went * (1 - P_BACK),  # handed to the embassy, or released and went on
        SAFETY: 0.0,  # safe but short of the destination: only the found could be (the bug)
        REPATRIATED: P_FOUND * (1 - P_KILLED / P_BACK) + went * (P_BACK - P_KILLED),
        HIDING: 0.0,
        DEAD: P_FOUND * P_KILLED / P_BACK + went * P_KILLED,
    }
    assert outcomes[SAFETY] == 0 and outcomes[HIDING] == 0
    for status, p in expected.items():
        se = math.sqrt(p * (1 - p) / HIDING_RUNS)
        assert abs(outcomes[status] - p) <= HIDING_Z * se, (status, outcomes[status], p)
    n_went = went * HIDING_RUNS
    se = math.sqrt(HIDING_RUNS * went * (1 - went))
    assert abs(paid - n_went) <= HIDING_Z * se
    assert safe == round(outcomes[0] * HIDING_RUNS)  # only those who went on reached safety
    assert funnel[0].sum() == 0 and funnel[1, SAFETY] == 0


@pytest.mark.parametrize(("device", "backend", "needs"), KERNELS)
def test_a_leg_that_never_opens_strands_the_group_without_a_capture(
    device: str, backend: str, needs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = hiding_model(never_opens=True)
    outcomes, funnel, safe, paid = simulate_model(model, (device, backend, needs), monkeypatch)
    assert outcomes[HIDING] == 1.0  # all stranded in hiding: none caught, none at the embassy
    assert safe == paid == 0
    assert funnel[1, HIDING] == HIDING_RUNS


def test_adaptive_hiding_captures_follow_the_policy_of_the_place() -> None:
    from nkescape.simulate.adaptive import adaptive_policy

    atlas = toy_atlas()
    q = Query("home", "capital", dt.date(2017, 3, 10), Group(), None, None, "self")
    policy = adaptive_policy(atlas, q)
    # A leg's capture figures are its start country's: the same as the place's where one hides.
    start = atlas.compiled.leg_from
    assert np.array_equal(policy.p_killed[start], policy.model.p_killed)
    assert np.array_equal(policy.p_back[start], policy.model.p_back)
    assert (policy.p_killed <= policy.p_back).all() and policy.p_back.any()
