"""The planner's expected figures against the simulator's means, for every profile start.

The planner computes each itinerary's chances, days and cost in expectation (``routing/
outcome.py``); the simulator draws journeys from the same account. For every itinerary planned
from every profile's start in four months, 10^5 simulated journeys must agree with the plan
within sampling error: a z-score bound that holds for all comparisons together (Bonferroni over
their number), plus, for days, the one stated approximation (the planner takes every journey to
reach a leg on its planned day; simulated durations vary, so a late journey can meet another
month's conditions).
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from statistics import NormalDist

import numpy as np
import pytest

from nkescape.atlas import Atlas, load_atlas
from nkescape.routing import PlanError, plan
from nkescape.simulate.kernel import DESTINATION, run_chunk
from nkescape.simulate.model import journey_model

RUNS = 100_000
MONTHS = (1, 4, 7, 10)
TODAY = dt.date(2026, 12, 1)
# The share of the mean days the planner may be off by its one approximation (timing).
DAYS_APPROXIMATION = 0.01
# A bound on |z| that all comparisons together exceed by chance with probability about 1e-3.
COMPARISONS = 20_000


def _z_bound() -> float:
    return NormalDist().inv_cdf(1 - 1e-3 / (2 * COMPARISONS))


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return load_atlas()


def _starts(atlas: Atlas) -> list[tuple[str, str]]:
    return sorted({(p.id, s) for p in atlas.profiles.values() for s in p.starts})


def _z(plan_value: float, sample: np.ndarray, slack: float = 0.0) -> float:
    """How many standard errors of the sample mean separate it from the plan (beyond slack)."""
    if sample.size < 2:
        return 0.0
    se = float(sample.std(ddof=1)) / math.sqrt(sample.size)
    gap = max(0.0, abs(plan_value - float(sample.mean())) - slack)
    if se == 0.0:
        return 0.0 if gap < 1e-9 * max(1.0, abs(plan_value)) else math.inf
    return gap / se


@pytest.mark.slow
def test_plan_agrees_with_simulation_for_every_profile_start(atlas: Atlas) -> None:
    bound = _z_bound()
    worst: list[tuple[float, str]] = []
    compared = 0
    for profile, start in _starts(atlas):
        for month in MONTHS:
            try:
                result = plan(atlas, start, month=month, profile=profile, today=TODAY)
            except PlanError:
                continue  # no way out from here this month: nothing to compare
            for rank, it in enumerate(result.itineraries, start=1):
                model = journey_model(atlas, result.query, it)
                seed = zlib.crc32(f"{profile}/{start}/{month}/{rank}".encode())
                runs = run_chunk(model, RUNS, np.random.default_rng(seed))
                safe = ~np.isnan(runs.days_to_safety)
                arrived = runs.status == DESTINATION
                checks = {
                    "p_reach_safety": _z(it.p_reach_safety, safe.astype(float)),
                    "p_reach_destination": _z(it.p_reach_destination, arrived.astype(float)),
                    "expected_cost_usd": _z(it.expected_cost_usd, runs.cost),
                }
                if it.expected_days is not None:
                    checks["expected_days"] = _z(
                        it.expected_days,
                        runs.days[arrived],
                        DAYS_APPROXIMATION * it.expected_days,
                    )
                if it.expected_days_to_safety is not None:
                    checks["expected_days_to_safety"] = _z(
                        it.expected_days_to_safety,
                        runs.days_to_safety[safe],
                        DAYS_APPROXIMATION * it.expected_days_to_safety,
                    )
                for name, z in checks.items():
                    compared += 1
                    worst.append((z, f"{profile} from {start}, month {month}, #{rank}: {name}"))
    worst.sort(reverse=True)
    assert compared > 500, f"only {compared} comparisons: the walk found too few itineraries"
    assert compared <= COMPARISONS
    assert worst[0][0] < bound, f"plan and simulation disagree (|z| bound {bound:.2f}): {worst[:5]}"


def test_betrayal_is_in_the_plan(atlas: Atlas) -> None:
    """A broker who is never paid up front is still a risk: the plan's chances include it."""
    result = plan(atlas, "hyesan", month=1, today=TODAY)
    it = result.itineraries[0]
    model = journey_model(atlas, result.query, it)
    assert model.betrayal.sum() > 0, "the top itinerary should use hired hands"
    # Without betrayal the survival would be the product over legs of not being sent back.
    no_betrayal = math.prod(
        1 - s.p_intercept * s.p_sent_back for s in it.steps if s.kind == "leg"
    ) * math.prod(1 - s.p_intercept for s in it.steps if s.kind == "wait")
    assert it.p_reach_destination < no_betrayal - 0.01


def test_pay_later_is_paid_later(atlas: Atlas) -> None:
    """Up front and later differ for a pay-later broker; they add up to the full price."""
    later = plan(atlas, "hyesan", month=1, funding="broker-later", today=TODAY).itineraries[0]
    assert later.cost_later_usd > 0
    assert later.cost_upfront_usd < later.cost_usd
    assert later.cost_upfront_usd + later.cost_later_usd == pytest.approx(later.cost_usd)
    assert later.cost_sponsor_usd == pytest.approx(0.0)
    own = plan(atlas, "hyesan", month=1, funding="self", today=TODAY).itineraries[0]
    assert own.cost_later_usd == pytest.approx(0.0)
    assert own.cost_sponsor_usd == pytest.approx(0.0)
    assert own.cost_upfront_usd == pytest.approx(own.cost_usd)
    ngo = plan(atlas, "hyesan", month=1, funding="ngo", today=TODAY).itineraries[0]
    assert ngo.cost_sponsor_usd > 0 and ngo.cost_later_usd == pytest.approx(0.0)
    assert ngo.cost_upfront_usd + ngo.cost_sponsor_usd == pytest.approx(ngo.cost_usd)
    # Journeys that end early pay less than the full price.
    assert own.expected_cost_usd < own.cost_usd
