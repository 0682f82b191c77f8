"""When a group should reach the end of each leg: p50 and p90 from the simulator.

One source of truth: the windows come from the simulator's own journey model and kernel
(``nkescape.simulate.journey_model`` and ``run_chunk``), never from a second account of the legs.
For leg k the kernel runs the itinerary's first k legs: the model is the whole itinerary's (so
betrayal, spread over the itinerary's brokered legs, and every other per-leg figure is what the
full simulation uses), told to stop after leg k. Every prefix draws from the same seed, and the
kernel draws leg by leg, so the first k legs of each prefix run are exactly those of the full run
(common random numbers): leg k's journeys are the full run's journeys as they stood at the end of
leg k. The window is the median and 90th percentile of days from departure among the journeys
that completed those k legs (``end_leg == -1``), i.e. conditioned on reaching the leg's end.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from nkescape.board.errors import BoardError
from nkescape.board.model import LegWindow

if TYPE_CHECKING:
    from nkescape.atlas import Atlas
    from nkescape.routing import Itinerary, Plan
    from nkescape.routing.query import Query

__all__ = ["RUNS", "SEED", "itinerary_windows", "leg_windows"]

# Journeys per window. The p90 of n journeys that reach a leg is known to about
# sqrt(0.9 * 0.1 / n) of a quantile: with 20,000 runs and a third of them reaching the last leg of
# a long itinerary (about 7,000), +-0.4 percentile points, a few per cent of the window's width.
# It costs about 0.1 s for an itinerary of 11 legs (every prefix run), once per plan.
RUNS = 20_000

# One fixed seed: a plan's windows are a function of the plan alone (the same plan gives the same
# windows on every board and every machine, and tests can pin them). The value means nothing.
SEED = 16

# The NumPy kernel is the reference and draws the same numbers everywhere; numba (optional) agrees
# only within sampling error, so it would make windows depend on what is installed.
BACKEND = "numpy"

# Windows are kept to 0.01 day (about a quarter of an hour): finer than any check-in's timing,
# and the JSON stored and shown is then exact.
DIGITS = 2

# The quantiles a window reports: the expected (median) and the late-but-normal (p90) arrival.
P50, P90 = 0.5, 0.9


def leg_windows(
    atlas: Atlas, plan: Plan, itinerary: int = 1, *, runs: int = RUNS, seed: int = SEED
) -> tuple[LegWindow, ...]:
    """The window of each leg of the plan's itinerary ``itinerary`` (ranked from 1).

    Parameters
    ----------
    atlas
        The atlas the plan was made on.
    plan
        The planner's answer; its query gives the departure, group and funding.
    itinerary
        Which itinerary, 1 the best.
    runs, seed
        Simulated journeys and the seed they draw from (the same seed gives the same windows).

    Returns
    -------
    tuple of LegWindow
        One per leg, in order: p50 <= p90, and neither decreases along the legs.

    Raises
    ------
    BoardError
        For an itinerary the plan does not have.
    """
    count = len(plan.itineraries)
    if isinstance(itinerary, bool) or not isinstance(itinerary, int) or not 1 <= itinerary <= count:
        raise BoardError(
            f"itinerary {itinerary!r}: the plan has {count} (choose 1-{count}, 1 = the best)"
        )
    return itinerary_windows(
        atlas, plan.query, plan.itineraries[itinerary - 1], runs=runs, seed=seed
    )


def itinerary_windows(
    atlas: Atlas, query: Query, itinerary: Itinerary, *, runs: int = RUNS, seed: int = SEED
) -> tuple[LegWindow, ...]:
    """The windows of ``itinerary`` planned for ``query`` (see :func:`leg_windows`)."""
    from nkescape.simulate import chunk_seed, journey_model, run_chunk, seed_sequence

    model = journey_model(atlas, query, itinerary)
    root = seed_sequence(seed)
    steps = itinerary.legs
    p50s: list[float] = []
    p90s: list[float] = []
    for k in range(1, model.n_legs + 1):
        # The kernel runs `n_legs` legs, which it reads from `legs`; the other arrays keep the
        # whole itinerary's figures, as the full simulation has them.
        first_k = dataclasses.replace(model, legs=model.legs[:k])
        # Chunk 0 of `seed`, drawn as `simulate(..., backend="numpy")` draws its first chunk.
        rng = np.random.default_rng(chunk_seed(root, 0))
        done = run_chunk(first_k, runs, rng)
        days = done.days[done.end_leg == -1]
        if days.size:
            p50, p90 = (float(q) for q in np.quantile(days, [P50, P90]))
        else:
            # Nobody simulated got this far (a leg almost no one survives): the day the plan
            # reaches the leg's end if all goes well is the only figure left.
            p50 = p90 = steps[k - 1].start_day + steps[k - 1].days
        # A later leg's end never comes before an earlier one's; among the survivors of a
        # later leg the fast ones can be over-represented, which could lower a quantile a
        # little, so each window starts no earlier than the one before it.
        p50s.append(max(p50, p50s[-1]) if p50s else p50)
        p90s.append(max(p90, p90s[-1]) if p90s else p90)
    return tuple(
        LegWindow(
            index=k,
            leg=step.leg or "",
            start=step.from_place,
            end=step.to_place,
            p50_days=round(p50, DIGITS),
            p90_days=round(max(p90, p50), DIGITS),
        )
        for k, (step, p50, p90) in enumerate(zip(steps, p50s, p90s, strict=True), start=1)
    )
