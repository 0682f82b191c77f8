"""The journey simulator: Monte Carlo of many journeys along an itinerary, with intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nkescape.atlas import Atlas
from nkescape.routing import Itinerary
from nkescape.routing.query import Query
from nkescape.simulate.kernel import OUTCOMES, Chunk, run_chunk
from nkescape.simulate.model import JourneyModel, journey_model
from nkescape.simulate.summary import Summary, wilson

__all__ = [
    "OUTCOMES",
    "Chunk",
    "JourneyModel",
    "SimulationError",
    "Summary",
    "journey_model",
    "run_chunk",
    "simulate",
    "wilson",
]

# Journeys per chunk: large enough that array work dominates, small enough (about 100 MB of
# temporaries) that memory stays bounded whatever the number of runs.
CHUNK = 1_000_000


class SimulationError(ValueError):
    """A simulation that cannot run: no runs, a bad seed."""


def simulate(
    atlas: Atlas,
    itinerary: Itinerary | list[str],
    *,
    query: Query,
    runs: int,
    seed: int,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Simulate ``runs`` journeys of ``query``'s group along ``itinerary``.

    Chunk ``i`` draws from ``SeedSequence(seed).spawn`` child ``i``, so the same seed and chunk
    size give the same numbers on every run.
    """
    if runs <= 0:
        raise SimulationError(f"runs must be positive (got {runs})")
    if seed < 0:
        raise SimulationError(f"seed must be >= 0 (got {seed})")
    model = journey_model(atlas, query, itinerary)
    if model.n_legs == 0:
        raise SimulationError("the itinerary has no legs")
    summary = Summary(legs=model.legs, seed=seed)
    n_chunks = -(-runs // chunk)
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(n_chunks)):
        n = min(chunk, runs - i * chunk)
        summary.add(run_chunk(model, n, np.random.default_rng(child)))
        if progress is not None:
            progress(n)
    return summary
