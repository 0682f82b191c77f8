"""The NumPy kernel: a chunk of journeys along one itinerary, vectorised over journeys.

The reference kernel. The only Python loop is over the itinerary's legs: each leg draws what it
needs for the journeys still under way and applies the rules of ``step`` to them as arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nkescape.simulate.model import JourneyModel
from nkescape.simulate.step import (
    ACTIVE,
    DEAD,
    DESTINATION,
    HIDING,
    LOGNORMAL,
    NUMPY,
    OUTCOMES,
    POINT,
    REPATRIATED,
    SAFETY,
    journey_rules,
)

__all__ = [
    "ACTIVE",
    "DEAD",
    "DESTINATION",
    "HIDING",
    "OUTCOMES",
    "REPATRIATED",
    "SAFETY",
    "Chunk",
    "run_chunk",
    "run_draws",
]

RULES = journey_rules(NUMPY)


@dataclass(frozen=True, eq=False)
class Chunk:
    """Per-journey results of one chunk."""

    status: NDArray[np.int8]  # index into OUTCOMES
    end_leg: NDArray[np.int16]  # leg where the journey ended (-1: completed)
    days_to_safety: NDArray[np.float64]  # NaN if never safe
    days: NDArray[np.float64]  # days until the journey ended
    cost: NDArray[np.float64]  # US$ spent by the group


def _estimate_draw(code: float, rng: np.random.Generator, n: int) -> NDArray[np.float64] | float:
    """What an estimate of shape ``code`` is drawn from (``step``'s module notes)."""
    if code == POINT:
        return 0.0
    if code == LOGNORMAL:
        return rng.standard_normal(n)
    return rng.random(n)


def _leg_draws(
    model: JourneyModel, k: int, rng: np.random.Generator, n: int
) -> tuple[NDArray[np.float64] | float, ...]:
    """Leg ``k``'s draws (in ``step.DRAWS`` order) for ``n`` journeys; a draw the leg cannot use
    is a constant, not drawn."""
    unused = 0.0
    return (
        rng.random(n) if model.wait_hazard[k] > 0 else unused,
        _estimate_draw(model.dur[k, 0], rng, n),
        _estimate_draw(model.cost[k, 0], rng, n),
        _estimate_draw(model.p_int[k, 0], rng, n),
        rng.random(n),
        rng.random(n) if model.betrayal[k].sum() > 0 else unused,
        rng.random(n),
    )


def run_draws(model: JourneyModel, n: int, draws: Any) -> Chunk:
    """Simulate ``n`` journeys whose leg ``k`` takes ``draws(k, active)``: the draws (in
    ``step.DRAWS`` order) for the journeys ``active`` (indices) still under way."""
    m = model.tables()
    t = np.zeros(n)
    spent = np.zeros(n)
    status = np.full(n, ACTIVE, dtype=np.int8)
    end_leg = np.full(n, -1, dtype=np.int16)
    t_safe = np.zeros(n) if model.start_safe else np.full(n, np.nan)
    # p >= 1 and a factor of 0 make 0/0 in the odds, which the select then discards.
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(model.n_legs):
            a = np.flatnonzero(status == ACTIVE)
            if a.size == 0:
                break
            new, t[a], spent[a], t_safe[a] = RULES.leg(
                m, k, t[a], spent[a], t_safe[a], *draws(k, a)
            )
            status[a] = new
            end_leg[a[new != ACTIVE]] = k
    return Chunk(RULES.finish(status, t_safe).astype(np.int8), end_leg, t_safe, t, spent)


def run_chunk(model: JourneyModel, n: int, rng: np.random.Generator) -> Chunk:
    """Simulate ``n`` journeys drawing from ``rng``."""
    return run_draws(model, n, lambda k, a: _leg_draws(model, k, rng, a.size))
