"""The numba kernel against the NumPy reference: same model, same statistics, same seed rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys

import numpy as np
import pytest
from scipy.stats import ks_2samp

from nkescape.atlas import Atlas, bundled_atlas
from nkescape.routing import Itinerary, plan
from nkescape.routing.query import Funding, Query
from nkescape.simulate import Chunk, JourneyModel, SimulationError, journey_model, simulate
from nkescape.simulate import kernel as numpy_kernel

pytest.importorskip("numba")
from nkescape.simulate import _numba

SEPT = dt.date(2017, 9, 1)
N = 200_000
# Each comparison below may fail by chance with probability about 1e-5 (a two-sided normal
# tail beyond 4.4 standard errors, or a KS p-value under 1e-5); with some eighty comparisons
# per model that is under 1e-3 for a whole test, and the seeds are fixed, so a pass is stable.
Z = 4.4
ALPHA = 1e-5


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


def overland(atlas: Atlas, funding: Funding = "self") -> tuple[JourneyModel, Query, Itinerary]:
    result = plan(atlas, "hyesan", date=SEPT, funding=funding)
    route = next(
        it for it in result.itineraries if any(s.leg == "vietnam-night-run" for s in it.legs)
    )
    return journey_model(atlas, result.query, route), result.query, route


def stressed(model: JourneyModel) -> JourneyModel:
    """The overland model with every branch of the kernels in use: a leg closed for two months
    with a high daily risk of being found while waiting, a leg that never opens in November, a
    planned wait, captures that end at the embassy or in release after detention, uniform and
    point estimates, and a changed odds factor. Not the atlas's figures: a test of the kernels."""
    next_open = model.next_open.copy()
    next_open[2, 8], next_open[2, 9] = 2, 1  # leg 2 closed in September and October
    next_open[11, 10] = -1  # leg 11 never opens in November
    dur, cost = model.dur.copy(), model.cost.copy()
    dur[0] = (1, 2.0, 5.0)  # a uniform duration
    cost[1] = (0, 300.0, 300.0)  # a point cost
    return dataclasses.replace(
        model,
        next_open=next_open,
        dur=dur,
        cost=cost,
        wait_hazard=np.where(np.arange(model.n_legs) == 2, 0.01, model.wait_hazard),
        not_before=np.where(np.arange(model.n_legs) == 4, 40.0, model.not_before),
        p_killed=np.where(np.arange(model.n_legs) == 5, 0.05, model.p_killed),
        p_back=np.where(np.arange(model.n_legs) == 5, 0.5, model.p_back),
        p_embassy=np.where(np.arange(model.n_legs) == 5, 0.3, model.p_embassy),
        detention=np.where(np.arange(model.n_legs) == 5, 30.0, model.detention),
        odds_factor=model.odds_factor * np.where(np.arange(model.n_legs) == 6, 3.0, 1.0)[:, None],
        to_safe=np.arange(model.n_legs) >= 9,
    )


def disagreements(a: Chunk, b: Chunk, n_legs: int) -> list[str]:
    """Where two samples of journeys differ by more than chance allows at their sizes."""
    n, m = len(a.status), len(b.status)
    found = []

    def proportions(name: str, x: int, y: int) -> None:
        pooled = (x + y) / (n + m)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        if abs(x / n - y / m) > Z * se:  # se == 0: both must be exactly 0 or 1
            found.append(f"{name}: {x / n:.5f} vs {y / m:.5f} (se {se:.1e})")

    for status in range(5):
        proportions(
            f"outcome {status}", int((a.status == status).sum()), (b.status == status).sum()
        )
        for k in range(n_legs):
            proportions(
                f"leg {k} outcome {status}",
                int(((a.end_leg == k) & (a.status == status)).sum()),
                int(((b.end_leg == k) & (b.status == status)).sum()),
            )
    safe_a, safe_b = ~np.isnan(a.days_to_safety), ~np.isnan(b.days_to_safety)
    proportions("reached safety", int(safe_a.sum()), int(safe_b.sum()))
    for name, x, y in (
        ("days", a.days, b.days),
        ("cost", a.cost, b.cost),
        ("days to safety", a.days_to_safety[safe_a], b.days_to_safety[safe_b]),
        ("days to destination", a.days[a.status == 0], b.days[b.status == 0]),
    ):
        if len(x) and len(y) and (p := ks_2samp(x, y).pvalue) < ALPHA:
            found.append(f"{name}: KS p = {p:.1e}")
    return found


def both(model: JourneyModel, seed: int) -> tuple[Chunk, Chunk]:
    seqs = np.random.SeedSequence(seed).spawn(2)
    ref = numpy_kernel.run_chunk(model, N, np.random.default_rng(seqs[0]))
    fast = _numba.run_chunk(model, N, np.random.Generator(np.random.SFC64(seqs[1])))
    return ref, fast


@pytest.mark.parametrize("case", ["overland", "overland-ngo", "stressed"])
def test_numba_kernel_agrees_with_the_numpy_kernel(atlas: Atlas, case: str) -> None:
    model, _, _ = overland(atlas, "ngo" if case == "overland-ngo" else "self")
    if case == "stressed":
        model = stressed(model)
    ref, fast = both(model, seed=21)
    assert disagreements(ref, fast, model.n_legs) == []
    if case == "stressed":  # the branches were taken
        for status in range(5):
            assert (fast.status == status).any() and (ref.status == status).any()


def test_the_comparison_can_tell_a_changed_model(atlas: Atlas) -> None:
    # The same comparison, with durations 3% longer or one leg's interception odds 20% higher
    # in the numba kernel's model, must see the difference.
    model, _, _ = overland(atlas)
    seqs = np.random.SeedSequence(22).spawn(2)
    ref = numpy_kernel.run_chunk(model, N, np.random.default_rng(seqs[0]))
    slower = dataclasses.replace(model, dur_factor=model.dur_factor * 1.03)
    riskier = dataclasses.replace(
        model,
        odds_factor=model.odds_factor * np.where(np.arange(model.n_legs) == 3, 1.2, 1)[:, None],
    )
    for changed, what in ((slower, "days"), (riskier, "leg 3")):
        fast = _numba.run_chunk(changed, N, np.random.Generator(np.random.SFC64(seqs[1])))
        assert any(line.startswith(what) for line in disagreements(ref, fast, model.n_legs))


def test_inline_sfc64_is_numpys_stream() -> None:
    bits = np.random.SFC64(np.random.SeedSequence(5))
    state = bits.state["state"]["state"].copy()
    ours = [_numba._uniform(state) for _ in range(1_000)]
    assert (
        ours
        == np.random.Generator(np.random.SFC64(np.random.SeedSequence(5))).random(1_000).tolist()
    )


def test_inline_normals_are_standard_normal() -> None:
    """The ziggurat on the inline stream: its draws against the normal law, the body (KS) and
    both tails beyond the ziggurat's base strip (where its slow path draws), counted against a
    binomial with the sample's own standard error."""
    from numba import njit
    from scipy.stats import kstest, norm

    @njit
    def draw(state: np.ndarray, n: int) -> np.ndarray:
        out = np.empty(n)
        for i in range(n):
            out[i] = _numba._normal(state)
        return out

    n = 2_000_000
    z = draw(np.random.SFC64(np.random.SeedSequence(8)).state["state"]["state"].copy(), n)
    assert kstest(z, norm.cdf).pvalue > ALPHA
    for cut in (_numba._ZIG_R, 2.0, 1.0):
        p = 2 * norm.sf(cut)
        assert abs(np.mean(np.abs(z) > cut) - p) < Z * math.sqrt(p * (1 - p) / n), cut
    assert abs(np.mean(z > 0) - 0.5) < Z * math.sqrt(0.25 / n)
    assert abs(np.mean(z * z) - 1.0) < Z * math.sqrt(2.0 / n)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_seed_gives_the_same_numbers_on_any_number_of_threads(atlas: Atlas, backend: str) -> None:
    _, query, route = overland(atlas)

    def run(seed: int, workers: int) -> dict[str, object]:
        return simulate(
            atlas,
            route,
            query=query,
            runs=40_000,
            seed=seed,
            chunk=6_000,
            workers=workers,
            backend=backend,
        ).to_json()

    assert run(4, 1) == run(4, 2) == run(4, 2) != run(5, 2)


def test_auto_is_numba_when_installed_and_numpy_without(
    atlas: Atlas, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, query, route = overland(atlas)

    def run(backend: str) -> dict[str, object]:
        return simulate(atlas, route, query=query, runs=5_000, seed=1, backend=backend).to_json()

    assert run("auto") == run("numba") != run("numpy")
    monkeypatch.setitem(sys.modules, "numba", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "nkescape.simulate._numba")
    monkeypatch.delattr("nkescape.simulate._numba")
    assert run("auto") == run("numpy")
    with pytest.raises(SimulationError, match=r"nkescape\[fast\]"):
        run("numba")
    with pytest.raises(SimulationError, match="unknown backend 'gpu'"):
        run("gpu")
