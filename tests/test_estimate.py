"""Estimates: shapes, checks, quantiles and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from nkescape.atlas.estimate import Days, Estimate, Probability


class _Holder(BaseModel):
    p: Probability | None = None
    d: Days | None = None


def test_point_range_lognormal_shapes() -> None:
    assert Estimate(value=3, source=("s",)).shape == "point"
    assert Estimate(low=1, high=2, source=("s",)).shape == "range"
    assert Estimate(median=10, p90=20, source=("s",)).shape == "lognormal"


@pytest.mark.parametrize(
    "fields",
    [{}, {"value": 1, "low": 0, "high": 2}, {"low": 1}, {"median": 1}, {"value": 1, "median": 2}],
)
def test_exactly_one_shape(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="give exactly one of"):
        Estimate(**fields, source=("s",))  # type: ignore[arg-type]


def test_bad_ranges_and_nan() -> None:
    with pytest.raises(ValidationError, match="swap them"):
        Estimate(low=3, high=1, source=("s",))
    with pytest.raises(ValidationError, match="p90 must be >= median"):
        Estimate(median=3, p90=1, source=("s",))
    with pytest.raises(ValidationError, match="finite"):
        Estimate(value=math.nan, source=("s",))
    with pytest.raises(ValidationError, match="source"):
        Estimate.model_validate({"value": 1})


def test_probability_and_non_negative_checks() -> None:
    with pytest.raises(ValidationError, match=r"probability in \[0, 1\]"):
        _Holder(p={"low": 0.5, "high": 1.2, "source": "s"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cannot be given as median/p90"):
        _Holder(p={"median": 0.1, "p90": 0.2, "source": "s"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cannot be negative"):
        _Holder(d={"value": -3, "source": "s"})  # type: ignore[arg-type]
    assert _Holder(p={"value": 0, "source": "s"}).p is not None  # type: ignore[arg-type]


def test_lognormal_quantiles_round_trip() -> None:
    e = Estimate(median=10, p90=30, source=("s",))
    assert e.quantile(0.5) == pytest.approx(10)
    assert e.quantile(0.9) == pytest.approx(30)
    sigma = math.log(3) / 1.2815515655446004
    assert e.mean == pytest.approx(10 * math.exp(sigma**2 / 2))


@given(
    low=st.floats(0, 1e6, allow_nan=False),
    width=st.floats(0, 1e6, allow_nan=False),
    q=st.floats(0, 1),
)
def test_range_quantile_is_monotone_and_inside(low: float, width: float, q: float) -> None:
    e = Estimate(low=low, high=low + width, source=("s",))
    assert low <= e.quantile(q) <= low + width
    assert e.quantile(0) <= e.quantile(q) <= e.quantile(1)


@pytest.mark.parametrize(
    "e",
    [
        Estimate(value=4, source=("s",)),
        Estimate(low=2, high=6, source=("s",)),
        Estimate(median=4, p90=9, source=("s",)),
    ],
)
def test_sample_mean_matches_analytic_mean(e: Estimate) -> None:
    n = 200_000
    draws = e.sample(np.random.default_rng(42), n)
    # Tolerance: 4 standard errors of the sample mean, estimated from the draws themselves.
    se = draws.std() / math.sqrt(n)
    assert abs(draws.mean() - e.mean) <= 4 * se + 1e-12


def test_sampling_is_reproducible_by_seed() -> None:
    e = Estimate(median=4, p90=9, source=("s",))
    a = e.sample(np.random.default_rng(7), 5)
    assert np.array_equal(a, e.sample(np.random.default_rng(7), 5))
    assert not np.array_equal(a, e.sample(np.random.default_rng(8), 5))


def test_scaled_keeps_shape_and_source() -> None:
    e = Estimate(median=1.2, p90=1.5, source=("s",)).scaled(100)
    assert (e.median, e.p90, e.source) == (pytest.approx(120), pytest.approx(150), ("s",))
    assert Estimate(low=1, high=2, source=("s",)).scaled(0).value == 0


@given(p=st.floats(0, 1), f=st.floats(0, 100), g=st.floats(0, 100))
def test_scale_odds_stays_a_probability_and_composes(p: float, f: float, g: float) -> None:
    from nkescape.atlas.estimate import scale_odds

    once = float(scale_odds(p, f))
    assert 0.0 <= once <= 1.0
    assert float(scale_odds(p, 1.0)) == pytest.approx(p)
    # Composing needs the first step's odds kept: a p within 1e-16 of 1 times a large factor
    # rounds to exactly 1.0 (odds infinite), which no later factor can bring back.
    if 0 < p < 1 and 0 < once < 1:
        assert float(scale_odds(once, g)) == pytest.approx(float(scale_odds(p, f * g)), abs=1e-9)
