"""The calibration's Laplace approximation and chain starts, on costs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from nkescape.flows.calibrate import Mode, _laplace_covariance, _starts

LO, HI = np.full(3, -50.0), np.full(3, 50.0)
SD = np.array([0.5, 2.0, 1.0])


def _quadratic(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * np.sum((z / SD) ** 2, axis=1)
    return out


def test_a_curved_posterior_gets_its_own_covariance() -> None:
    cov = _laplace_covariance(_quadratic, np.zeros(3), LO, HI)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), SD, rtol=1e-3)


def test_a_direction_the_differences_read_as_flat_is_measured_not_held_to_the_box() -> None:
    # Flat within a few difference steps of the mode, then curved: central differences see no
    # curvature along the second axis; its width is still where the cost has risen by 1/2.
    def shelf(z: NDArray[np.float64]) -> NDArray[np.float64]:
        bent = np.sign(z[:, 1]) * np.maximum(np.abs(z[:, 1]) - 0.3, 0.0)
        return _quadratic(np.column_stack([z[:, 0], bent, z[:, 2]]))

    cov = _laplace_covariance(shelf, np.zeros(3), LO, HI)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(sd[[0, 2]], SD[[0, 2]], rtol=1e-3)
    # The cost rises by 1/2 at 0.3 + SD: the measured width, within the grid's spacing (21%).
    assert sd[1] == pytest.approx(0.3 + SD[1], rel=0.25)
    assert sd[1] < 0.1 * (HI - LO)[1]


def test_starts_in_another_basin_are_dropped() -> None:
    # A second, much lower basin where the approximation's wide tail reaches: no walker starts
    # there, though the normal puts a fifth of its draws on that side.
    def log_post(z: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = np.where(z[:, 0] > 1.0, -1e3, -_quadratic(z))
        return out

    mode = Mode(
        z=np.zeros(3),
        log_posterior=0.0,
        covariance=np.diag(SD**2),
        generations=0,
        polish_steps=0,
    )
    bounds = list(zip(LO.tolist(), HI.tolist(), strict=True))
    rng = np.random.default_rng(3)
    starts = np.vstack(_starts(mode, 2, 64, bounds, rng, log_post))
    assert starts.shape == (128, 3)
    assert (starts[:, 0] <= 1.0).all()
    loose = np.vstack(_starts(mode, 2, 64, bounds, np.random.default_rng(3)))
    assert (loose[:, 0] > 1.0).mean() > 0.1
