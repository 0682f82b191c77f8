"""The journey simulator: Monte Carlo of many journeys along an itinerary, with intervals."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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

# Journeys per chunk: large enough that array work dominates Python overhead, small enough that a
# chunk's temporaries (about 25 MB) stay in cache-friendly sizes and memory is bounded whatever
# the number of runs. Measured: 250k is about 25% faster than 1M here.
CHUNK = 250_000


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
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Simulate ``runs`` journeys of ``query``'s group along ``itinerary``.

    Chunk ``i`` draws from ``SeedSequence(seed).spawn`` child ``i``, so the same seed and chunk
    size give the same numbers on every run, whatever the number of ``workers`` (threads; numpy
    releases the GIL in its array loops, so chunks run on several cores). The aggregates are
    integer counts, which add up the same in any order.
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
    children = np.random.SeedSequence(seed).spawn(n_chunks)

    def one(i: int) -> Chunk:
        n = min(chunk, runs - i * chunk)
        return run_chunk(model, n, np.random.default_rng(children[i]))

    n_workers = max(1, min(workers or os.cpu_count() or 1, n_chunks))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        # At most two chunks per worker in flight, so memory stays bounded for any runs.
        pending = []
        for i in range(n_chunks):
            pending.append(pool.submit(one, i))
            if len(pending) >= 2 * n_workers:
                done = pending.pop(0).result()
                summary.add(done)
                if progress is not None:
                    progress(len(done.status))
        for future in pending:
            done = future.result()
            summary.add(done)
            if progress is not None:
                progress(len(done.status))
    return summary
