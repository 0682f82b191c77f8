"""Chunks of journeys as Dask tasks: ``simulate(..., scheduler=...)`` beyond this process.

Each task is :func:`chunk_counts`, a top-level function of picklable arguments (the journey
model, the kernel's name, the chunk's seed, its size) that returns the chunk's integer
aggregates. Chunk ``i``'s seed is ``chunk_seed(root, i)``, which depends on the run's seed and
``i`` alone, so a chunk draws the same journeys on any worker; integer counts add up the same in
any order, so a run gives the same summary here, on a local cluster or on a remote one. The
scheduler wrapper is the flow model's (``nkescape.tasks.TaskRunner``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from nkescape.simulate import SimulationError, _cpu_kernel, chunk_seed
from nkescape.simulate.model import JourneyModel
from nkescape.simulate.summary import Summary
from nkescape.tasks import SchedulerError, TaskRunner

__all__ = ["IN_FLIGHT_PER_SLOT", "chunk_counts", "simulate_on_dask"]

# Chunks submitted and not yet counted, per task the cluster can run at once: as the threads in
# this process do, two, so that a worker never waits for its next chunk and memory stays bounded.
IN_FLIGHT_PER_SLOT = 2


def chunk_counts(
    model: JourneyModel, backend: str, seed: np.random.SeedSequence, n: int
) -> dict[str, Any]:
    """One chunk's aggregates (``summary.chunk_aggregates``): ``n`` journeys of ``model`` drawn
    by the CPU kernel ``backend`` from ``seed``. The task a Dask worker runs."""
    return _cpu_kernel(backend)(model, n, seed, False)[1]


def simulate_on_dask(
    model: JourneyModel,
    backend: str,
    root: np.random.SeedSequence,
    runs: int,
    chunk: int,
    scheduler: str,
    workers: int | None,
    summary: Summary,
    progress: Callable[[int], None] | None,
) -> None:
    """Fold the run's chunks, run as Dask tasks on ``scheduler``, into ``summary`` in order.

    ``workers`` is the number of processes of a ``"local"`` cluster (default: every core, at
    most one per chunk); a running scheduler brings its own.
    """
    n_chunks = -(-runs // chunk)

    def tasks() -> Iterator[tuple[JourneyModel, str, np.random.SeedSequence, int]]:
        # Seeds made as chunks are submitted: memory does not grow with the number of chunks.
        for i in range(n_chunks):
            yield model, backend, chunk_seed(root, i), min(chunk, runs - i * chunk)

    processes = max(1, min(workers or os.cpu_count() or 1, n_chunks))
    try:
        with TaskRunner(scheduler, workers=processes) as runner:
            in_flight = IN_FLIGHT_PER_SLOT * runner.slots
            for counts in runner.imap(chunk_counts, tasks(), in_flight=in_flight):
                summary.add_aggregates(counts)
                if progress is not None:
                    progress(int(counts["runs"]))
    except SchedulerError as exc:
        raise SimulationError(str(exc)) from exc
