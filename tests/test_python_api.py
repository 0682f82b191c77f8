"""The Python API for scripts and notebooks: imports, seeds, bounded memory, records, plots."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tracemalloc
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

import nkescape
from nkescape.atlas import Atlas, bundled_atlas, toy_atlas
from nkescape.routing import Plan, plan
from nkescape.simulate import (
    MAX_RUNS,
    SUMMARY_FORMAT,
    SimulationError,
    Summary,
    chunk_seed,
    seed_sequence,
    simulate,
    simulate_adaptive,
)

# The numpy kernel throughout: it needs no compilation, and its draws are the reference.
NUMPY = {"backend": "numpy", "workers": 1}


@pytest.fixture(scope="module")
def toy() -> Atlas:
    return toy_atlas()


@pytest.fixture(scope="module")
def toy_plan(toy: Atlas) -> Plan:
    return plan(toy, "home", "capital", month=1, today=dt.date(2017, 1, 1))


def python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (import order and backends start clean)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


def test_the_main_entries_import_from_the_package_without_loading_numpy() -> None:
    out = python(
        "import sys, nkescape; before = 'numpy' in sys.modules; "
        "from nkescape import load_atlas, plan, simulate, simulate_adaptive; "
        "print(before, nkescape.__version__, callable(simulate), 'numpy' in sys.modules)"
    )
    assert out == f"False {version('nkescape')} True True"
    assert nkescape.__version__ == version("nkescape")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = nkescape.nothing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "first", ["import nkescape.simulate", "from nkescape.simulate import simulate"]
)
def test_nkescape_simulate_is_the_function_whichever_import_comes_first(first: str) -> None:
    # Python binds the package attribute to the subpackage when it is imported: the name must
    # still run a simulation, and the subpackage must still work as one.
    out = python(
        f"{first}\n"
        "import datetime as dt, inspect, nkescape\n"
        "import nkescape.simulate as sim\n"
        "from nkescape import simulate\n"
        "atlas = nkescape.toy_atlas()\n"
        "p = nkescape.plan(atlas, 'home', 'capital', month=1, today=dt.date(2017, 1, 1))\n"
        "a = simulate(atlas, p, runs=500, seed=1, backend='numpy').to_json()\n"
        "b = sim.simulate(atlas, p, runs=500, seed=1, backend='numpy').to_json()\n"
        "print(a == b, a['runs'], 'runs' in inspect.signature(simulate).parameters)"
    )
    assert out == "True 500 True"


def test_a_plan_and_a_rank_simulate_the_same_journeys_as_the_old_form(
    toy: Atlas, toy_plan: Plan
) -> None:
    assert len(toy_plan.itineraries) >= 2
    for rank in (1, 2):
        new = simulate(toy, toy_plan, itinerary=rank, runs=3_000, seed=4, **NUMPY)
        old = simulate(
            toy,
            toy_plan.itineraries[rank - 1],
            query=toy_plan.query,
            runs=3_000,
            seed=4,
            **NUMPY,
        )
        assert new.itinerary == rank and old.itinerary is None
        assert {**new.to_json(), "itinerary": None} == old.to_json()
    legs = list(simulate(toy, toy_plan, 2, runs=100, seed=1, **NUMPY).legs)
    assert legs == [s.leg for s in toy_plan.itineraries[1].legs]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"itinerary": 9}, "the plan has"),
        ({"itinerary": 0}, "choose 1-"),
        ({"query": "q"}, "carries its own query"),
    ],
)
def test_bad_plan_arguments_are_refused(
    toy: Atlas, toy_plan: Plan, kwargs: dict[str, object], fragment: str
) -> None:
    if kwargs.get("query") == "q":
        kwargs = {"query": toy_plan.query}
    with pytest.raises(SimulationError, match=fragment):
        simulate(toy, toy_plan, runs=10, seed=1, **kwargs)  # type: ignore[arg-type]


def test_an_itinerary_needs_its_question_and_takes_no_rank(toy: Atlas, toy_plan: Plan) -> None:
    best = toy_plan.itineraries[0]
    with pytest.raises(SimulationError, match="pass the Plan"):
        simulate(toy, best, runs=10, seed=1)
    with pytest.raises(SimulationError, match="picks one of a Plan's"):
        simulate(toy, best, 2, query=toy_plan.query, runs=10, seed=1)
    with pytest.raises(SimulationError, match="route must be"):
        simulate(toy, "river-ice", query=toy_plan.query, runs=10, seed=1)


def test_int_seed_sequence_and_generator_seeds(toy: Atlas, toy_plan: Plan) -> None:
    def run(seed: int | np.random.SeedSequence | np.random.Generator) -> Summary:
        return simulate(toy, toy_plan, runs=4_000, seed=seed, chunk=1_000, **NUMPY)

    by_int = run(5).to_json()
    assert run(np.random.SeedSequence(5)).to_json() == by_int
    # A generator: each call takes its next child sequence, so a generator made afresh from
    # the same seed repeats the runs in order, and one generator used twice gives two runs.
    rng = np.random.default_rng(5)
    first, second = run(rng), run(rng)
    again = np.random.default_rng(5)
    assert run(again).to_json() == first.to_json()
    assert run(again).to_json() == second.to_json()
    assert first.to_json()["outcomes"] != second.to_json()["outcomes"]
    assert first.to_json()["outcomes"] != by_int["outcomes"]
    assert (first.seed, first.spawn_key, second.spawn_key) == (5, (0,), (1,))
    # The summary records enough to repeat a run without the generator.
    replay = np.random.SeedSequence(first.seed, spawn_key=first.spawn_key)
    assert run(replay).to_json() == first.to_json()
    # Drawing from the generator does not move which child it gives next.
    drawn = np.random.default_rng(5)
    drawn.random(10)
    assert run(drawn).to_json() == first.to_json()


@pytest.mark.parametrize(
    ("seed", "fragment"), [(-1, "seed must be >= 0"), (1.5, "got float"), (True, "got bool")]
)
def test_bad_seeds_are_refused(seed: object, fragment: str) -> None:
    with pytest.raises(SimulationError, match=fragment):
        seed_sequence(seed)  # type: ignore[arg-type]


def test_chunk_seeds_are_the_children_spawn_would_give() -> None:
    for root in (np.random.SeedSequence(42), np.random.SeedSequence(7, spawn_key=(3, 1))):
        # Compared on a copy: spawning changes the root's count of children.
        spawned = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key).spawn(6)
        for i in (0, 1, 5):
            lazy = chunk_seed(root, i)
            assert lazy.spawn_key == spawned[i].spawn_key
            assert np.array_equal(lazy.generate_state(8), spawned[i].generate_state(8))
        assert root.n_children_spawned == 0


class StopAfterFirstChunkError(Exception):
    pass


def _peak_bytes(toy: Atlas, toy_plan: Plan, runs: int, chunk: int) -> tuple[int, int]:
    """Peak traced memory of a run stopped after its first chunk, and journeys counted."""
    seen: list[int] = []

    def stop(n: int) -> None:
        seen.append(n)
        raise StopAfterFirstChunkError

    simulate(toy, toy_plan, runs=chunk, seed=1, chunk=chunk, **NUMPY)  # warm caches
    tracemalloc.start()
    try:
        with pytest.raises(StopAfterFirstChunkError):
            simulate(toy, toy_plan, runs=runs, seed=1, chunk=chunk, progress=stop, **NUMPY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sum(seen)


def test_memory_before_the_first_chunk_does_not_grow_with_runs(toy: Atlas, toy_plan: Plan) -> None:
    chunk = 2_000
    small, n_small = _peak_bytes(toy, toy_plan, 4 * chunk, chunk)
    huge, n_huge = _peak_bytes(toy, toy_plan, 10**12, chunk)
    assert n_small == n_huge == chunk
    # 5 * 10^8 chunks: holding a seed for each (the old spawn) took hundreds of bytes apiece.
    assert huge - small < 256 * 1024, (small, huge)


def test_runs_beyond_the_counts_range_are_refused_with_the_reason(
    toy: Atlas, toy_plan: Plan
) -> None:
    with pytest.raises(SimulationError, match=r"at most 9,223,372,036,854,775,807 .*64-bit"):
        simulate(toy, toy_plan, runs=MAX_RUNS + 1, seed=1)
    with pytest.raises(SimulationError, match="whole number"):
        simulate(toy, toy_plan, runs=1e6, seed=1)  # type: ignore[arg-type]


def test_counts_near_the_limit_do_not_overflow(toy: Atlas, toy_plan: Plan) -> None:
    one = simulate(toy, toy_plan, runs=1_000, seed=2, **NUMPY)
    big = Summary(legs=one.legs, seed=2)
    scale = MAX_RUNS // 2_000  # two folds of 1,000 runs each times this stay <= MAX_RUNS
    agg = {
        "runs": one.runs * scale,
        "outcomes": one.outcomes * scale,
        "funnel": one.funnel * scale,
        "safe": one.safe * scale,
        "days_safety": one.days_safety * scale,
        "days_destination": one.days_destination * scale,
        "cost": one.cost * scale,
    }
    big.add_aggregates(agg)
    big.add_aggregates(agg)
    assert big.runs == 2 * scale * 1_000 <= MAX_RUNS
    data, small = big.to_json(), one.to_json()
    assert data["outcomes"] == pytest.approx(small["outcomes"])
    assert data["days_to_safety"] == pytest.approx(small["days_to_safety"])
    assert data["funnel"][0]["entered"] == big.runs


def test_the_summary_records_format_versions_kernel_question_and_seed(
    toy: Atlas, toy_plan: Plan
) -> None:
    data = simulate(toy, toy_plan, 2, runs=1_000, seed=11, chunk=400, **NUMPY).to_json()
    assert data["format"] == SUMMARY_FORMAT == 1
    assert data["nkescape_version"] == nkescape.__version__
    assert data["numpy_version"] == np.__version__
    assert (data["kernel"], data["device"], data["chunk"]) == ("numpy", "cpu", 400)
    assert (data["seed"], data["spawn_key"], data["itinerary"]) == (11, [], 2)
    q = toy_plan.to_json()
    for key in ("origin", "destination", "date", "group", "funding", "profile", "budget_usd"):
        assert data["query"][key] == q[key], key
    assert json.loads(json.dumps(data)) == data  # plain JSON throughout


def test_parquet_metadata_is_the_summarys(toy: Atlas, toy_plan: Plan, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from nkescape.report import JourneyWriter, read_journey_metadata

    legs = tuple(s.leg for s in toy_plan.itineraries[0].legs if s.leg is not None)
    path = tmp_path / "journeys.parquet"
    with JourneyWriter(path, legs) as writer:
        summary = simulate(
            toy,
            toy_plan,
            runs=1_500,
            seed=np.random.SeedSequence(8, spawn_key=(2,)),
            chunk=1_000,
            on_start=writer.start,
            on_chunk=writer.write,
            **NUMPY,
        )
    assert writer.rows == 1_500
    meta = read_journey_metadata(path)
    assert meta == json.loads(json.dumps(summary.metadata()))
    assert (meta["seed"], meta["spawn_key"], meta["kernel"]) == (8, [2], "numpy")
    # Without start the file is still written, with no run metadata.
    plain = tmp_path / "plain.parquet"
    with JourneyWriter(plain, legs) as writer:
        simulate(toy, toy_plan, runs=100, seed=1, on_chunk=writer.write, **NUMPY)
    assert read_journey_metadata(plain) == {}


def test_adaptive_funnel_is_in_journey_order() -> None:
    atlas = bundled_atlas()
    p = plan(atlas, "hyesan", date=dt.date(2017, 1, 10))
    summary = simulate_adaptive(atlas, p, runs=5_000, seed=1)
    rows = summary.to_json()["funnel"]
    assert summary.to_json()["kernel"] == "adaptive"
    # Every leg starts where the journey set out or where an earlier leg of the list ended.
    reached = {p.origin}
    for row in rows:
        leg = atlas.legs[row["leg"]]
        assert leg.from_ in reached, [r["leg"] for r in rows]
        reached.add(leg.to)
    assert rows[0]["entered"] == max(r["entered"] for r in rows)
    taken = dict(zip(summary.legs, summary.taken.tolist(), strict=True))  # type: ignore[union-attr]
    assert all(taken[row["leg"]] == row["entered"] for row in rows)


def test_plots_are_figures_with_units_and_leave_the_backend_alone(
    toy: Atlas, toy_plan: Plan, tmp_path: Path
) -> None:
    from matplotlib.figure import Figure

    from nkescape.report import plot_cost, plot_days, plot_funnel, write_simulation_plots

    summary = simulate(toy, toy_plan, runs=2_000, seed=1, **NUMPY)
    labels = {}
    for draw in (plot_funnel, plot_days, plot_cost):
        fig = draw(summary)
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        labels[draw.__name__] = (ax.get_xlabel(), ax.get_ylabel())
    assert "journeys" in labels["plot_funnel"][0] and "leg" in labels["plot_funnel"][1]
    assert "days" in labels["plot_days"][0] and "share" in labels["plot_days"][1]
    assert "US$" in labels["plot_cost"][0] and "journeys" in labels["plot_cost"][1]
    funnel = plot_funnel(summary).axes[0]
    labelled = zip(
        funnel.get_yticks(), [t.get_text() for t in funnel.get_yticklabels()], strict=True
    )
    ticks = sorted(labelled)
    assert [leg for _, leg in ticks[::-1]] == list(summary.legs)  # the first leg on top
    paths = write_simulation_plots(summary, tmp_path / "plots")
    assert [p.name for p in paths] == ["funnel.png", "days_to_safety.png", "cost.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    # In a fresh interpreter with a backend chosen by the user, importing and plotting keep it
    # and never load pyplot (its global figure state).
    out = python(
        "import sys, datetime as dt, matplotlib, nkescape\n"
        "from nkescape.report import plot_days\n"
        "atlas = nkescape.toy_atlas()\n"
        "p = nkescape.plan(atlas, 'home', 'capital', month=1, today=dt.date(2017, 1, 1))\n"
        "plot_days(nkescape.simulate(atlas, p, runs=200, seed=1, backend='numpy'))\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)",
        MPLBACKEND="svg",
    )
    assert out == "svg False"
