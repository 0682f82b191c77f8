"""The journey simulator: Monte Carlo of many journeys along an itinerary, with intervals."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from nkescape.atlas import Atlas
from nkescape.routing import Itinerary
from nkescape.routing.query import Query
from nkescape.simulate.kernel import OUTCOMES, Chunk, run_chunk
from nkescape.simulate.model import JourneyModel, journey_model
from nkescape.simulate.summary import Summary, chunk_aggregates, wilson

__all__ = [
    "BACKENDS",
    "OUTCOMES",
    "Chunk",
    "JourneyModel",
    "SimulationError",
    "Summary",
    "journey_model",
    "run_chunk",
    "simulate",
    "simulate_adaptive",
    "wilson",
]

# Journeys per chunk: large enough that array work dominates Python overhead, small enough that a
# chunk's temporaries (about 25 MB) stay in cache-friendly sizes and memory is bounded whatever
# the number of runs. Measured: 250k is about 25% faster than 1M here.
CHUNK = 250_000


# Journeys per chunk on a GPU: about 1 GB of float32 temporaries, a small share of its memory.
JAX_CHUNK = 1 << 24
DEVICES = ("cpu", "gpu", "auto", "jax-cpu")
# CPU kernels: "numba" (the `fast` extra) or "numpy" (the reference); "auto" is numba if installed.
BACKENDS = ("auto", "numpy", "numba")


class SimulationError(ValueError):
    """A simulation that cannot run: no runs, a bad seed, no such device."""


def _jax_device(device: str) -> object | None:
    """The JAX device to run on, or None to fall back to the NumPy kernel."""
    try:
        from nkescape.simulate import _jax
    except ImportError as exc:
        if device == "auto":
            warnings.warn("JAX is not installed; simulating on the CPU", stacklevel=3)
            return None
        raise SimulationError(
            "the GPU kernel needs JAX: pip install 'nkescape[gpu]' (with a CUDA build of jax)"
        ) from exc
    kind = "cpu" if device == "jax-cpu" else "gpu"
    found = _jax.devices(kind)
    if found:
        chosen: object = found[0]
        return chosen
    if device == "auto":
        warnings.warn("no GPU visible to JAX; simulating on the CPU", stacklevel=3)
        return None
    raise SimulationError("no GPU visible to JAX (use --device cpu, or auto to fall back)")


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


Kernel = Callable[[JourneyModel, int, np.random.Generator], Chunk]
Reducer = Callable[[Chunk, int], dict[str, Any]]


def _cpu_kernel(
    backend: str,
) -> tuple[Kernel, Reducer, Callable[[np.random.SeedSequence], np.random.Generator]]:
    """The chunk kernel, its reducer to counts, and the generator each chunk draws from."""
    if backend == "numba" or (backend == "auto" and _numba_available()):
        try:
            from nkescape.simulate import _numba
        except ImportError as exc:
            raise SimulationError(
                "the numba kernel needs numba: pip install 'nkescape[fast]'"
            ) from exc

        # SFC64 rather than the default PCG64: the kernel draws its normals one at a time from
        # it, and SFC64 is the cheaper of the two per draw (a few per cent on the whole kernel).
        def sfc64(seq: np.random.SeedSequence) -> np.random.Generator:
            return np.random.Generator(np.random.SFC64(seq))

        return _numba.run_chunk, _numba.chunk_aggregates, sfc64
    return run_chunk, chunk_aggregates, np.random.default_rng


def _simulate_jax(
    model: JourneyModel,
    summary: Summary,
    runs: int,
    seed: int,
    chunk: int,
    target: object,
    progress: Callable[[int], None] | None,
) -> Summary:
    import jax

    from nkescape.simulate import _jax

    with jax.default_device(target):
        arrays = _jax.model_arrays(model)
        shapes = _jax.leg_shapes(model)
        key = jax.random.key(seed)
        size = min(chunk, runs)  # one compiled size; a shorter last chunk is masked
        for i in range(-(-runs // chunk)):
            n = min(chunk, runs - i * chunk)
            agg = _jax.jax_chunk_aggregates(
                arrays,
                jax.random.fold_in(key, i),
                size,
                n,
                shapes,
                model.start.month - 1,
                model.start_safe,
            )
            summary.add_aggregates(jax.device_get(agg))
            if progress is not None:
                progress(n)
    return summary


def simulate(
    atlas: Atlas,
    itinerary: Itinerary | list[str],
    *,
    query: Query,
    runs: int,
    seed: int,
    chunk: int | None = None,
    workers: int | None = None,
    device: str = "cpu",
    backend: str = "auto",
    progress: Callable[[int], None] | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> Summary:
    """Simulate ``runs`` journeys of ``query``'s group along ``itinerary``.

    Chunk ``i`` draws from ``SeedSequence(seed).spawn`` child ``i``, so the same seed, chunk
    size and kernel give the same numbers on every run, whatever the number of ``workers``
    (threads over chunks; both CPU kernels release the GIL, so chunks run on several cores). The
    aggregates are integer counts, which add up the same in any order.

    ``device``: ``cpu`` (a CPU kernel), ``gpu`` (the JAX kernel on a GPU; an error if there is
    none), ``auto`` (a GPU if JAX sees one, else the CPU with a warning), or ``jax-cpu`` (the JAX
    kernel on the CPU: the same draws as on a GPU, to compare the two).

    ``backend`` picks the CPU kernel: ``numpy`` (the reference), ``numba`` (compiled, one
    journey at a time, several times faster; the ``fast`` extra), or ``auto``: numba when it is
    installed. The two agree within sampling error, not draw for draw.

    ``on_chunk`` receives each chunk's per-journey results in chunk order (CPU kernel only: the
    JAX kernel reduces on the device), e.g. to write them to Parquet as they come.
    """
    if runs <= 0:
        raise SimulationError(f"runs must be positive (got {runs})")
    if seed < 0:
        raise SimulationError(f"seed must be >= 0 (got {seed})")
    if device not in DEVICES:
        raise SimulationError(f"unknown device {device!r} (one of {', '.join(DEVICES)})")
    if backend not in BACKENDS:
        raise SimulationError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    model = journey_model(atlas, query, itinerary)
    if model.n_legs == 0:
        raise SimulationError("the itinerary has no legs")
    summary = Summary(legs=model.legs, seed=seed)
    if device != "cpu" and on_chunk is not None:
        raise SimulationError("per-journey output needs --device cpu (the GPU keeps only counts)")
    if device != "cpu":
        target = _jax_device(device)
        if target is not None:
            return _simulate_jax(model, summary, runs, seed, chunk or JAX_CHUNK, target, progress)
    kernel, reduce, generator = _cpu_kernel(backend)
    chunk = chunk or CHUNK
    n_chunks = -(-runs // chunk)
    children = np.random.SeedSequence(seed).spawn(n_chunks)

    def one(i: int) -> tuple[Chunk, dict[str, Any]]:
        n = min(chunk, runs - i * chunk)
        done = kernel(model, n, generator(children[i]))
        # Reduced here, in the worker, so that counting runs in parallel too.
        return done, reduce(done, model.n_legs)

    n_workers = max(1, min(workers or os.cpu_count() or 1, n_chunks))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        # At most two chunks per worker in flight, so memory stays bounded for any runs.
        pending = []
        for i in range(n_chunks):
            pending.append(pool.submit(one, i))
            if len(pending) >= 2 * n_workers:
                _consume(pending.pop(0).result(), summary, progress, on_chunk)
        for future in pending:
            _consume(future.result(), summary, progress, on_chunk)
    return summary


def simulate_adaptive(
    atlas: Atlas,
    *,
    query: Query,
    runs: int,
    seed: int,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Simulate journeys that re-plan at every place (see ``adaptive``); CPU kernel."""
    from nkescape.simulate.adaptive import adaptive_policy, run_adaptive_chunk

    if runs <= 0:
        raise SimulationError(f"runs must be positive (got {runs})")
    if seed < 0:
        raise SimulationError(f"seed must be >= 0 (got {seed})")
    policy = adaptive_policy(atlas, query)
    if (policy.move[policy.origin] == -2).all():
        raise SimulationError(
            f"no route from {query.origin!r} to {query.destination!r} in any month: the "
            "adaptive policy has no first move"
        )
    summary = Summary(legs=tuple(atlas.compiled.leg_ids), seed=seed)
    chunk = chunk or CHUNK
    children = np.random.SeedSequence(seed).spawn(-(-runs // chunk))
    for i, child in enumerate(children):
        n = min(chunk, runs - i * chunk)
        done, taken = run_adaptive_chunk(policy, n, np.random.default_rng(child))
        summary.add(done)
        summary.add_taken(taken)
        if progress is not None:
            progress(n)
    return summary


def _consume(
    result: tuple[Chunk, dict[str, Any]],
    summary: Summary,
    progress: Callable[[int], None] | None,
    on_chunk: Callable[[Chunk], None] | None,
) -> None:
    done, counts = result
    summary.add_aggregates(counts)
    if on_chunk is not None:
        on_chunk(done)
    if progress is not None:
        progress(len(done.status))
