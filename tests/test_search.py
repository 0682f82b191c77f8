"""The label-setting search against brute-force enumeration on random small networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nkescape.backends import BackendError
from nkescape.routing import Label, brute_force_pareto, pareto_search, random_network
from nkescape.routing.search import WAIT, pareto_filter


def vectors(labels: list[Label]) -> list[tuple[float, ...]]:
    return sorted(
        (round(a.t, 6), round(a.cost, 4), round(a.risk, 9), round(a.risk_safe, 9), a.safe)
        for a in labels
    )


def replay(net, source: int, label: Label) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Recompute an itinerary's days, cost and risk from its moves alone."""
    t = cost = risk = 0.0
    node = source
    for start, move, day in label.moves():
        assert start == node and math.isclose(day, t, abs_tol=1e-9)
        m = net.calendar.month(t) - 1
        if move == WAIT:
            t_next = net.calendar.next_start(t)
            assert t_next is not None and net.wait_ok[node]
            cost += (t_next - t) * net.wait_cost_per_day[node]
            risk += (t_next - t) * net.wait_risk_per_day[node]
            t = t_next
            continue
        assert net.open[m, move], "an itinerary uses a leg in a month it is closed"
        assert move in net.legs_out(node)
        t += net.days[m, move]
        cost += net.cost[m, move]
        risk += net.risk[m, move]
        node = int(net.leg_to[move])
    return t, cost, risk


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 9), degree=st.integers(1, 4))
def test_search_equals_brute_force_without_seasons(seed: int, n: int, degree: int) -> None:
    net = random_network(n, seed, degree=degree)
    assert vectors(pareto_search(net, 0, n - 1)) == vectors(brute_force_pareto(net, 0, n - 1))


def test_search_with_seasons_is_feasible_and_nearly_always_exact() -> None:
    # With seasons the search compares a later label with an earlier one that waits until the
    # later one's month (docs/design.md, planner): on this fixed sample it returns exactly the
    # brute-force set in 97% of networks; the rest differ by a few percent in one criterion.
    n_cases, exact, worst_risk_gap = 300, 0, 0.0
    for seed in range(n_cases):
        n = 3 + seed % 4
        net = random_network(n, seed, degree=3, seasonal=0.33)
        found = pareto_search(net, 0, n - 1, max_days=150)
        truth = brute_force_pareto(net, 0, n - 1, max_days=150)
        assert bool(found) == bool(truth)
        exact += vectors(found) == vectors(truth)
        for label in found:
            t, cost, risk = replay(net, 0, label)
            assert math.isclose(t, label.t) and math.isclose(cost, label.cost)
            assert math.isclose(risk, label.risk, abs_tol=1e-12)
        assert vectors(pareto_filter(found)) == vectors(found)  # none dominates another
        if truth:
            gap = min(a.risk for a in found) - min(b.risk for b in truth)
            worst_risk_gap = max(worst_risk_gap, gap)
    assert exact / n_cases >= 0.94
    assert worst_risk_gap < 0.05


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 9), budget=st.floats(0, 20_000))
def test_budget_and_day_limits_match_brute_force(seed: int, n: int, budget: float) -> None:
    net = random_network(n, seed, degree=3)
    got = pareto_search(net, 0, n - 1, budget=budget, max_days=80)
    want = brute_force_pareto(net, 0, n - 1, budget=budget, max_days=80)
    assert vectors(got) == vectors(want)
    assert all(a.cost <= budget and a.t <= 80 for a in got)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), eps=st.sampled_from([0.01, 0.05, 0.2]))
def test_epsilon_set_covers_every_exact_itinerary(seed: int, eps: float) -> None:
    net = random_network(8, seed, degree=3)
    exact = pareto_search(net, 0, 7)
    approx = pareto_search(net, 0, 7, epsilon=eps)
    assert len(approx) <= len(exact)
    # Each place can drop a label within 1 + eps of a kept one, so the factor can compound along a
    # path of at most 8 places.
    slack = (1 + eps) ** 8
    for a in exact:
        assert any(
            b.t <= a.t * slack + 1e-9
            and b.cost <= a.cost * slack + 1e-9
            and b.risk <= a.risk * slack + 1e-12
            and (b.safe or not a.safe)
            for b in approx
        )


def test_numba_kernel_gives_the_python_search_answers() -> None:
    pytest.importorskip("numba")
    for seed in range(120):
        n = 3 + seed % 8
        net = random_network(n, seed, degree=3, seasonal=0.33 if seed % 2 else 0.0)
        for eps in (0.0, 0.05):
            ref = pareto_search(net, 0, n - 1, epsilon=eps, max_days=200, backend="numpy")
            got = pareto_search(net, 0, n - 1, epsilon=eps, max_days=200, backend="numba")
            assert vectors(got) == vectors(ref)
            assert [a.moves() for a in got] == [a.moves() for a in ref]


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(BackendError, match="unknown backend 'gpu'"):
        pareto_search(random_network(4, 0), 0, 3, backend="gpu")
    # The old name of the plain-Python search is refused with the new one.
    with pytest.raises(BackendError, match=r"unknown backend 'python'.*use backend='numpy'"):
        pareto_search(random_network(4, 0), 0, 3, backend="python")
    with pytest.raises(BackendError, match="the planner has no JAX kernel"):
        pareto_search(random_network(4, 0), 0, 3, backend="jax")


def test_an_explicit_numba_backend_without_numba_is_an_error_not_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("nkescape.backends.installed", lambda package: package != "numba")
    with pytest.raises(BackendError, match=r"pip install 'nkescape\[fast\]'"):
        pareto_search(random_network(4, 0), 0, 3, backend="numba")
    # auto picks the plain-Python search then, and answers.
    assert pareto_search(random_network(4, 0), 0, 3, backend="auto") is not None


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 8))
def test_required_legs_match_brute_force(seed: int, n: int) -> None:
    net = random_network(n, seed, degree=3)
    required = np.zeros(net.n_legs, dtype=np.bool_)
    required[seed % net.n_legs] = True
    got = pareto_search(net, 0, n - 1, required=required)
    want = brute_force_pareto(net, 0, n - 1, required=required)
    assert vectors(got) == vectors(want)
    assert all(any(m[1] == seed % net.n_legs for m in a.moves()) for a in got)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 8))
def test_numba_backend_honours_required_legs(seed: int, n: int) -> None:
    # An explicit numba search is never replaced by the Python one: it searches two copies of
    # the network (before and after a required leg) and must give the same itineraries.
    pytest.importorskip("numba")
    net = random_network(n, seed, degree=3)
    required = np.zeros(net.n_legs, dtype=np.bool_)
    required[seed % net.n_legs] = True
    got = pareto_search(net, 0, n - 1, required=required, backend="numba")
    want = brute_force_pareto(net, 0, n - 1, required=required)
    assert vectors(got) == vectors(want)
    assert all(a.hit and any(m[1] == seed % net.n_legs for m in a.moves()) for a in got)


def test_numba_and_python_agree_on_required_legs_with_seasons() -> None:
    pytest.importorskip("numba")
    for seed in range(80):
        n = 4 + seed % 12
        net = random_network(n, seed, degree=3, seasonal=0.33)
        required = np.random.default_rng(seed).random(net.n_legs) < 0.15
        for eps in (0.0, 0.05):
            ref, got = (
                pareto_search(
                    net, 0, n - 1, epsilon=eps, max_days=300, required=required, backend=backend
                )
                for backend in ("numpy", "numba")
            )
            assert vectors(got) == vectors(ref), (seed, eps)
            assert [a.moves() for a in got] == [a.moves() for a in ref]
