"""Every kernel applies the one set of journey rules (``simulate.step``): fed the same draws, the
NumPy, numba and JAX kernels must give the same journeys, outcome for outcome and day for day."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nkescape.atlas import Atlas, bundled_atlas
from nkescape.routing import plan
from nkescape.simulate import JourneyModel, journey_model
from nkescape.simulate import kernel as numpy_kernel
from nkescape.simulate.step import DRAWS, LOGNORMAL, OUTCOMES
from nkescape.simulate.summary import COST_EDGES, DAY_EDGES, bin_index, chunk_aggregates

N = 4_000


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return bundled_atlas()


@pytest.fixture(scope="module")
def overland(atlas: Atlas) -> JourneyModel:
    """The 13-leg overland route through Vietnam and Laos, September 2017."""
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1))
    route = next(
        it for it in result.itineraries if any(s.leg == "vietnam-night-run" for s in it.legs)
    )
    return journey_model(atlas, result.query, route)


def _every_branch(model: JourneyModel) -> JourneyModel:
    """The model changed so that every rule is used: embassies take some of the caught (and
    detain the released), waits are long and dangerous, one leg opens later and one never, and
    a leg waits for a planned day."""
    k = model.n_legs
    next_open = model.next_open.copy()
    next_open[3] = 2  # two months' wait for leg 3, whatever the month
    next_open[9, ::2] = -1  # leg 9 never opens in every other month
    not_before = model.not_before.copy()
    not_before[5] = 150.0
    p_int = model.p_int.copy()
    p_int[:, 1:] = np.maximum(p_int[:, 1:], 0.05)  # more captures, so every outcome is met
    p_int[12] = (0.0, 1.0, 1.0)  # a certain capture: moved by any factor it stays certain
    return dataclasses.replace(
        model,
        p_int=p_int,
        next_open=next_open,
        not_before=not_before,
        wait_hazard=np.full(k, 0.004),
        p_embassy=np.full(k, 0.2),
        p_killed=np.full(k, 0.05),
        p_back=np.minimum(model.p_back, 0.6),
        detention=np.full(k, 30.0),
    )


def _draws(model: JourneyModel, seed: int) -> np.ndarray[Any, Any]:
    """Fixed draws for N journeys, ``[journey, leg, draw]`` in ``step.DRAWS`` order: a normal
    where an estimate is lognormal, else a uniform (a point ignores it)."""
    rng = np.random.default_rng(seed)
    out = rng.random((N, model.n_legs, len(DRAWS)))
    for j, table in ((1, model.dur), (2, model.cost), (3, model.p_int)):
        lognormal = table[:, 0] == LOGNORMAL
        out[:, lognormal, j] = rng.standard_normal((N, int(lognormal.sum())))
    return out


def _numpy(model: JourneyModel, draws: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    def leg(k: int, active: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
        return tuple(draws[active, k, j] for j in range(len(DRAWS)))

    c = numpy_kernel.run_draws(model, len(draws), leg)
    return c.status, c.end_leg, c.days_to_safety, c.days, c.cost


def _numba(model: JourneyModel, draws: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    from nkescape.simulate import _numba

    c, _ = _numba.run_draws(model, draws)
    return c.status, c.end_leg, c.days_to_safety, c.days, c.cost


def _jax(model: JourneyModel, draws: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    import jax

    from nkescape.simulate import _jax

    with jax.enable_x64(True):
        return _jax.run_draws(
            model, len(draws), lambda k: tuple(draws[:, k, j] for j in range(len(DRAWS)))
        )


KERNELS: dict[str, Callable[..., tuple[np.ndarray[Any, Any], ...]]] = {
    "numba": _numba,
    "jax": _jax,
}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("changed", [False, True], ids=["overland", "every-branch"])
def test_every_kernel_gives_the_same_journeys_from_the_same_draws(
    overland: JourneyModel, kernel: str, changed: bool
) -> None:
    pytest.importorskip(kernel)
    model = _every_branch(overland) if changed else overland
    draws = _draws(model, seed=11 if changed else 7)
    ref = _numpy(model, draws)
    got = KERNELS[kernel](model, draws)
    status, end_leg = ref[0], ref[1]
    # The draws reach every outcome, so the comparison covers every rule.
    met = np.bincount(status, minlength=len(OUTCOMES))
    expected_outcomes = (0, 2, 3, 4) if not changed else (0, 1, 2, 3, 4)
    assert all(met[o] > 0 for o in expected_outcomes), dict(zip(OUTCOMES, met, strict=True))
    np.testing.assert_array_equal(np.asarray(got[0]), status)
    np.testing.assert_array_equal(np.asarray(got[1]), end_leg)
    # Days and dollars: the same arithmetic, up to the last bit of each library's exp.
    for mine, theirs in zip(got[2:], ref[2:], strict=True):
        np.testing.assert_allclose(np.asarray(mine), theirs, rtol=1e-12, atol=0, equal_nan=True)


def _adaptive(
    atlas: Atlas, model: JourneyModel, draws: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], ...]:
    """The adaptive kernel with a policy that takes the model's legs in order, whatever the
    month: its move ``k`` is leg ``k``, so it takes leg ``k``'s draws."""
    from nkescape.simulate.adaptive import NO_MOVE, Policy, run_adaptive_draws

    c = atlas.compiled
    legs = [atlas.legs[leg] for leg in model.legs]
    move = np.full((c.n_places, 12), NO_MOVE, dtype=np.int64)
    for k, leg in enumerate(legs):
        move[c.place_index[leg.from_]] = k
    leg_to = np.array([c.place_index[leg.to] for leg in legs], dtype=np.int64)
    origin = c.place_index[legs[0].from_]
    assert len({origin, *leg_to.tolist()}) == len(legs) + 1, "the route visits a place twice"
    safe = np.zeros(c.n_places, dtype=bool)
    safe[leg_to] = model.to_safe
    safe[origin] = model.start_safe
    nowhere = np.zeros(c.n_places)  # no month-long waits in this policy
    policy = Policy(
        move, model, leg_to, origin, int(leg_to[-1]), safe, nowhere, nowhere, nowhere, nowhere
    )

    def leg_draws(k: int, go: np.ndarray[Any, Any], j: np.ndarray[Any, Any]) -> tuple[Any, ...]:
        assert (j == k).all()
        return tuple(draws[go, k, i] for i in range(len(DRAWS)))

    def no_waits(k: int, waits: np.ndarray[Any, Any]) -> tuple[Any, Any]:
        raise AssertionError("the policy never waits")

    c_, _ = run_adaptive_draws(policy, len(draws), leg_draws, no_waits)
    return c_.status, c_.end_leg, c_.days_to_safety, c_.days, c_.cost


@pytest.mark.parametrize("changed", [False, True], ids=["overland", "every-branch"])
def test_adaptive_journeys_follow_the_same_rules(
    atlas: Atlas, overland: JourneyModel, changed: bool
) -> None:
    """A policy that keeps to one itinerary, fed that itinerary's draws, gives the journeys of
    the fixed-itinerary kernel."""
    model = _every_branch(overland) if changed else overland
    draws = _draws(model, seed=5)
    ref, got = _numpy(model, draws), _adaptive(atlas, model, draws)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    for mine, theirs in zip(got[2:], ref[2:], strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_the_numba_kernels_counts_are_those_of_its_journeys(overland: JourneyModel) -> None:
    """The numba kernel counts journeys as it runs them; the counts must be those the summary
    makes of the NumPy kernel's journeys from the same draws."""
    pytest.importorskip("numba")
    from nkescape.simulate import _numba

    model = _every_branch(overland)
    draws = _draws(model, seed=3)
    ref = numpy_kernel.run_draws(
        model, N, lambda k, a: tuple(draws[a, k, j] for j in range(len(DRAWS)))
    )
    want = chunk_aggregates(ref, model.n_legs)
    _, got = _numba.run_draws(model, draws)
    assert set(got) == set(want)
    for key, value in want.items():
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value), err_msg=key)


_EDGE_CASES = [
    -1.0,
    0.0,
    float(DAY_EDGES[1]),
    float(np.nextafter(DAY_EDGES[1], 0)),
    float(DAY_EDGES[-1]),
    float(DAY_EDGES[-1]) * 10,
    float(DAY_EDGES[2000]),
    float(np.nextafter(DAY_EDGES[2000], np.inf)),
    float(np.nextafter(DAY_EDGES[2000], 0)),
]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-10.0, max_value=1e9, allow_nan=False), max_size=50))
def test_every_kernel_bins_a_value_alike(values: list[float]) -> None:
    """One rule puts a value in a histogram bin, ends included (past the last edge: the last
    bin), whichever kernel counts it."""
    pytest.importorskip("numba")
    from nkescape.simulate import _numba

    for edges, i in ((DAY_EDGES, 0), (COST_EDGES, 2)):
        xs = np.array([*_EDGE_CASES, *values])
        want = bin_index(xs, edges)
        assert want.min() >= 0 and want.max() <= len(edges) - 2
        got = [_numba._bin(x, edges, _numba._GUESS[i], _numba._GUESS[i + 1]) for x in xs]
        np.testing.assert_array_equal(got, want)
        # np.histogram's bins, inside the edges.
        inside = (xs >= edges[0]) & (xs <= edges[-1])
        hist = np.histogram(xs[inside], edges)[0]
        np.testing.assert_array_equal(np.bincount(want[inside], minlength=len(edges) - 1), hist)
