"""The journey simulator: Monte Carlo of many journeys along an itinerary, with intervals."""

from __future__ import annotations

import inspect
import os
import sys
import types
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas
from nkescape.backends import BACKENDS, DEVICES, INSTALL, BackendError, Engine, resolve
from nkescape.routing import Itinerary, Plan
from nkescape.routing.query import Query
from nkescape.simulate.kernel import OUTCOMES, Chunk, run_chunk
from nkescape.simulate.model import JourneyModel, journey_model
from nkescape.simulate.summary import (
    SUMMARY_FORMAT,
    Summary,
    chunk_aggregates,
    wilson,
    wounded_if_safe,
)

if TYPE_CHECKING:
    from nkescape.simulate.adaptive import Policy

__all__ = [
    "BACKENDS",
    "DEVICES",
    "MAX_RUNS",
    "OUTCOMES",
    "SUMMARY_FORMAT",
    "Chunk",
    "JourneyModel",
    "SeedLike",
    "SimulationError",
    "Summary",
    "chunk_aggregates",
    "chunk_seed",
    "journey_model",
    "run_chunk",
    "seed_sequence",
    "simulate",
    "simulate_adaptive",
    "wilson",
    "wounded_if_safe",
]

# Journeys per chunk: large enough that array work dominates Python overhead, small enough that a
# chunk's temporaries (about 25 MB) stay in cache-friendly sizes and memory is bounded whatever
# the number of runs. Measured: 250k is about 25% faster than 1M here.
CHUNK = 250_000


# Journeys per chunk on a GPU: about 1 GB of float32 temporaries, a small share of its memory.
JAX_CHUNK = 1 << 24


# The most journeys one run takes: its counts are 64-bit integers. Memory does not grow with the
# number of runs (chunk seeds are made as chunks start, histograms have fixed bins), so this is
# the only limit; time is the user's to spend (the progress callback sees every chunk).
MAX_RUNS = int(np.iinfo(np.int64).max)
# The JAX kernel folds the chunk index into its key as a 32-bit word.
_JAX_MAX_CHUNKS = 1 << 32

SeedLike = int | np.random.SeedSequence | np.random.Generator


class SimulationError(ValueError):
    """A simulation that cannot run: no runs, a bad seed, a kernel or device that cannot run
    here, a scheduler that does not answer."""


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """The one way a seed becomes the ``SeedSequence`` a run draws from.

    Parameters
    ----------
    seed
        An int >= 0 (``SeedSequence(seed)``); a ``SeedSequence``, used as it is; or a
        ``Generator``, from whose own seed sequence the next child is spawned (as
        ``Generator.spawn`` does), so that a generator used twice gives two independent runs
        and a generator made afresh from the same seed gives the same runs again in the same
        order. Its stream of numbers is left untouched.

    Returns
    -------
    numpy.random.SeedSequence
        The run's root: chunk ``i`` draws from ``chunk_seed(root, i)``.

    Raises
    ------
    SimulationError
        For a negative int or a value of another type.

    Examples
    --------
    >>> seed_sequence(7).entropy
    7
    >>> rng = np.random.default_rng(7)
    >>> seed_sequence(rng).spawn_key, seed_sequence(rng).spawn_key
    ((0,), (1,))
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        parent = seed.bit_generator.seed_seq
        if isinstance(parent, np.random.SeedSequence):
            return parent.spawn(1)[0]
        # A bit generator seeded some other way: take the child's entropy from its stream.
        return np.random.SeedSequence(int.from_bytes(seed.bytes(16), "little"))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise SimulationError(
            "seed must be an int >= 0, a numpy SeedSequence or a numpy Generator "
            f"(got {type(seed).__name__})"
        )
    if seed < 0:
        raise SimulationError(f"seed must be >= 0 (got {seed})")
    return np.random.SeedSequence(int(seed))


def chunk_seed(root: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """Chunk ``i``'s seed: child ``i`` of ``root``, made when the chunk starts.

    The same sequence ``root.spawn(n)[i]`` gives for a root that has spawned nothing, without
    holding all ``n`` children (a run of 10^12 journeys has millions of chunks).

    Examples
    --------
    >>> root = np.random.SeedSequence(5)
    >>> chunk_seed(root, 2).generate_state(2).tolist() == root.spawn(3)[2].generate_state(
    ...     2
    ... ).tolist()
    True
    """
    return np.random.SeedSequence(
        root.entropy, spawn_key=(*root.spawn_key, i), pool_size=root.pool_size
    )


def _seed_record(root: np.random.SeedSequence) -> tuple[int | tuple[int, ...], tuple[int, ...]]:
    """The root's entropy and spawn key as plain ints, for the summary."""
    entropy = root.entropy
    if isinstance(entropy, int):
        return entropy, tuple(root.spawn_key)
    return tuple(int(x) for x in np.atleast_1d(np.asarray(entropy))), tuple(root.spawn_key)


def _check_runs(runs: int) -> None:
    if isinstance(runs, bool) or not isinstance(runs, int | np.integer):
        raise SimulationError(f"runs must be a whole number (got {type(runs).__name__})")
    if runs <= 0:
        raise SimulationError(f"runs must be positive (got {runs})")
    if runs > MAX_RUNS:
        raise SimulationError(
            f"runs must be at most {MAX_RUNS:,} (2^63 - 1: the counts are 64-bit integers); "
            f"got {runs:,}"
        )


def _engine(backend: str, device: str) -> Engine:
    """``nkescape.backends.resolve`` for the simulator, its errors as ``SimulationError``."""
    try:
        return resolve(backend, device, what="simulator")
    except BackendError as exc:
        raise SimulationError(str(exc)) from None


def _jax_device(engine: Engine) -> Any:
    """The JAX device the engine runs on (``resolve`` has checked that JAX sees one)."""
    try:
        from nkescape.simulate import _jax
    except ImportError as exc:
        raise SimulationError(
            f"the JAX kernel cannot be imported ({exc}): {INSTALL['jax']}"
        ) from exc
    found = _jax.devices(engine.device)
    if not found:
        raise SimulationError(f"no {engine.device.upper()} visible to JAX (use another --device)")
    return found[0]


# A CPU kernel as the drivers call it: ``n`` journeys of the model drawn from a chunk's seed;
# their per-journey results when asked (else None) and their counts.
ChunkRun = Callable[
    [JourneyModel, int, np.random.SeedSequence, bool], tuple[Chunk | None, dict[str, Any]]
]


def _numpy_chunk(
    model: JourneyModel, n: int, seed: np.random.SeedSequence, keep: bool
) -> tuple[Chunk | None, dict[str, Any]]:
    done = run_chunk(model, n, np.random.default_rng(seed))
    return (done if keep else None), chunk_aggregates(done, model.n_legs)


def _cpu_kernel(backend: str) -> ChunkRun:
    """The CPU kernel ``numpy`` or ``numba``."""
    if backend == "numba":
        try:
            from nkescape.simulate import _numba
        except ImportError as exc:
            raise SimulationError(
                f"the numba kernel cannot be imported ({exc}): {INSTALL['numba']}"
            ) from exc
        return _numba.run_seeded
    if backend != "numpy":
        raise SimulationError(f"{backend!r} is not a CPU kernel (numpy or numba)")
    return _numpy_chunk


def _jax_key(root: np.random.SeedSequence) -> Any:
    """A JAX key from 128 bits of the root's state (a plain int key keeps only 32 bits)."""
    import jax

    words = root.generate_state(4, np.uint32)
    key = jax.random.key(int(words[0]))
    for word in words[1:]:
        key = jax.random.fold_in(key, int(word))
    return key


def _simulate_jax(
    model: JourneyModel,
    summary: Summary,
    runs: int,
    root: np.random.SeedSequence,
    chunk: int,
    target: Any,
    progress: Callable[[int], None] | None,
    on_start: Callable[[Summary], None] | None,
) -> Summary:
    import jax

    from nkescape.simulate import _jax

    n_chunks = -(-runs // chunk)
    if n_chunks > _JAX_MAX_CHUNKS:
        raise SimulationError(
            f"the JAX kernel numbers its chunks with 32 bits: at most {_JAX_MAX_CHUNKS:,} "
            f"chunks of {chunk:,} journeys (got {runs:,} runs; use a larger chunk)"
        )
    summary.kernel = "jax"
    summary.device = f"{target.platform}:{target.id} {target.device_kind}"
    summary.chunk = chunk
    if on_start is not None:
        on_start(summary)
    with jax.default_device(target):
        arrays = _jax.model_arrays(model)
        shapes = _jax.leg_shapes(model)
        key = _jax_key(root)
        size = min(chunk, runs)  # one compiled size; a shorter last chunk is masked
        for i in range(n_chunks):
            n = min(chunk, runs - i * chunk)
            agg = _jax.jax_chunk_aggregates(
                arrays,
                jax.random.fold_in(key, i),
                size,
                n,
                shapes,
                model.start_safe,
            )
            summary.add_aggregates(jax.device_get(agg))
            if progress is not None:
                progress(n)
    return summary


def _route(
    route: Plan | Itinerary | Sequence[str], itinerary: int | None, query: Query | None
) -> tuple[Itinerary | list[str], Query, int | None]:
    """What to simulate and under which question, from the forms ``simulate`` accepts."""
    if isinstance(route, Plan):
        if query is not None:
            raise SimulationError(
                "a Plan carries its own query: give query= only with an Itinerary or leg ids"
            )
        rank = 1 if itinerary is None else itinerary
        count = len(route.itineraries)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= count:
            raise SimulationError(
                f"itinerary {rank!r}: the plan has {count} (choose 1-{count}, 1 = best)"
            )
        return route.itineraries[rank - 1], route.query, rank
    if itinerary is not None:
        raise SimulationError("itinerary= picks one of a Plan's itineraries; pass the Plan")
    if query is None:
        raise SimulationError(
            "simulating an itinerary needs the question it was planned for: pass the Plan "
            "itself, or query=plan.query"
        )
    if isinstance(route, Itinerary):
        return route, query, None
    if (
        isinstance(route, str)
        or not isinstance(route, Sequence)
        or not all(isinstance(leg, str) for leg in route)
    ):
        raise SimulationError(
            "route must be a Plan, an Itinerary or a sequence of leg ids "
            f"(got {type(route).__name__})"
        )
    return list(route), query, None


def simulate(
    atlas: Atlas,
    route: Plan | Itinerary | Sequence[str],
    itinerary: int | None = None,
    *,
    runs: int,
    seed: SeedLike,
    query: Query | None = None,
    chunk: int | None = None,
    workers: int | None = None,
    device: str = "cpu",
    backend: str = "auto",
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[Summary], None] | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> Summary:
    """Simulate ``runs`` journeys along one itinerary of a plan: odds, days and dollars.

    Parameters
    ----------
    atlas
        The atlas the journeys cross (the one planned on, or a calibrated copy of it).
    route
        A :class:`~nkescape.routing.Plan`; or one of its itineraries, or a list of leg ids,
        with ``query``.
    itinerary
        Which of the plan's itineraries, ranked from 1 (the best; the default).
    runs
        Number of journeys, up to ``MAX_RUNS``. Memory does not grow with it: journeys run in
        chunks, at most two per worker at a time, and fold into fixed-size counts.
    seed
        An int >= 0, a ``numpy.random.SeedSequence`` or a ``numpy.random.Generator`` (see
        :func:`seed_sequence`). Chunk ``i`` draws from the seed's child ``i``, so the same seed,
        ``chunk`` and kernel give the same numbers on every run, whatever the ``workers`` or
        the ``scheduler``.
    query
        The planning question, needed only when ``route`` is not a Plan (``plan.query``).
    chunk
        Journeys per chunk (default 250,000 on the CPU, 2^24 on a GPU).
    workers
        Threads over chunks (default: every core), or with ``scheduler="local"`` processes;
        both CPU kernels release the GIL. The aggregates are integer counts, which add up the
        same in any order.
    device
        ``cpu``, or ``gpu``: the JAX kernel on a GPU, an error if JAX sees none (nothing falls
        back to the CPU).
    backend
        The kernel (see ``nkescape.backends.resolve``): ``numpy`` (the reference), ``numba``
        (compiled, one journey at a time, several times faster; the ``fast`` extra), ``jax``
        (the ``gpu`` extra; on the CPU it draws what it draws on a GPU, to compare the two), or
        ``auto``: on the CPU numba when it is installed, else NumPy; on a GPU JAX. An explicit
        kernel that cannot run is an error, never replaced. Kernels agree within sampling
        error, not draw for draw.
    scheduler
        None (the default) runs the chunks on threads of this process; ``"tcp://HOST:PORT"``
        runs them as Dask tasks on that scheduler's workers, ``"local"`` on a Dask cluster of
        ``workers`` processes started here, ``"sync"`` as tasks here one after the other. The
        same seed gives the same counts on each. CPU kernels only, and counts only (no
        ``on_chunk``).
    progress
        Called with the number of journeys of each chunk as it is counted; an exception raised
        there stops the run (after the chunks already under way).
    on_start
        Called once with the summary, still empty but holding what the run records (kernel,
        device, chunk, question, seed; see ``Summary.metadata``), before the first chunk.
    on_chunk
        Receives each chunk's per-journey results in chunk order (CPU kernels in this process
        only: the JAX kernel reduces on the device, Dask workers return counts), e.g. to write
        them to Parquet as they come.

    Returns
    -------
    Summary
        Counts and histograms, with the kernel, device, question and seed that made them.

    Raises
    ------
    SimulationError
        For runs out of range, a bad seed, an unknown or unavailable backend or device (with
        the fix: the install hint, another device), an itinerary the plan does not have, a bad
        scheduler or one that does not answer, or per-journey output it cannot give.

    Examples
    --------
    >>> import datetime as dt
    >>> from nkescape.atlas import toy_atlas
    >>> from nkescape.routing import plan
    >>> atlas = toy_atlas()
    >>> p = plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))
    >>> summary = simulate(atlas, p, runs=10_000, seed=1, backend="numpy")
    >>> summary.runs, summary.query.origin, summary.itinerary
    (10000, 'home', 1)
    >>> lo, hi = summary.to_json()["p_reach_destination"]["ci95"]
    >>> lo <= summary.p_reach_destination <= hi
    True
    """
    _check_runs(runs)
    root = seed_sequence(seed)
    engine = _engine(backend, device)
    _check_output(engine, scheduler, on_chunk)
    chosen, question, rank = _route(route, itinerary, query)
    model = journey_model(atlas, question, chosen)
    if model.n_legs == 0:
        raise SimulationError("the itinerary has no legs")
    entropy, spawn_key = _seed_record(root)
    summary = Summary(
        legs=model.legs,
        seed=entropy,
        spawn_key=spawn_key,
        query=question,
        itinerary=rank,
        p_wounded_if_safe=None
        if model.p_wounded is None
        else wounded_if_safe(model.p_wounded.tolist(), model.to_safe.tolist(), model.start_safe),
    )
    if engine.backend == "jax":
        # The GPU's chunk would take gigabytes of the CPU's memory: there, the CPU kernels' size.
        size = chunk or (JAX_CHUNK if engine.device == "gpu" else CHUNK)
        return _simulate_jax(
            model, summary, runs, root, size, _jax_device(engine), progress, on_start
        )
    kernel = _cpu_kernel(engine.backend)
    chunk = chunk or CHUNK
    summary.kernel, summary.chunk = engine.backend, chunk
    if on_start is not None:
        on_start(summary)
    n_chunks = -(-runs // chunk)
    if scheduler is not None:
        from nkescape.simulate.distributed import simulate_on_dask

        simulate_on_dask(
            model, engine.backend, root, runs, chunk, scheduler, workers, summary, progress
        )
        return summary

    def one(i: int) -> tuple[Chunk | None, dict[str, Any]]:
        # Counted here, in the worker, so that counting runs in parallel too.
        return kernel(model, min(chunk, runs - i * chunk), chunk_seed(root, i), keep)

    keep = on_chunk is not None

    n_workers = max(1, min(workers or os.cpu_count() or 1, n_chunks))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        # At most two chunks per worker in flight, so memory stays bounded for any runs.
        pending: list[Future[tuple[Chunk | None, dict[str, Any]]]] = []
        try:
            for i in range(n_chunks):
                pending.append(pool.submit(one, i))
                if len(pending) >= 2 * n_workers:
                    _consume(pending.pop(0).result(), summary, progress, on_chunk)
            for future in pending:
                _consume(future.result(), summary, progress, on_chunk)
        except BaseException:
            # Stopped (an error, the progress callback, Ctrl-C): drop the chunks not started.
            for future in pending:
                future.cancel()
            raise
    return summary


def _check_output(
    engine: Engine, scheduler: str | None, on_chunk: Callable[[Chunk], None] | None
) -> None:
    """Refuse a scheduler or per-journey output the engine cannot give, naming the fix."""
    if scheduler is not None:
        from nkescape.tasks import SchedulerError, check_scheduler

        try:
            check_scheduler(scheduler)
        except SchedulerError as exc:
            raise SimulationError(str(exc)) from None
        if engine.backend == "jax":
            raise SimulationError(
                "a scheduler runs the CPU kernels (numpy, numba) as Dask tasks; the JAX kernel "
                "runs in this process (drop the scheduler, or choose backend numpy or numba)"
            )
        if on_chunk is not None:
            raise SimulationError(
                "per-journey output (on_chunk, --parquet) needs the journeys in this process; "
                "Dask workers return counts only (drop the scheduler, or the per-journey output)"
            )
    if engine.backend == "jax" and on_chunk is not None:
        raise SimulationError(
            "per-journey output (on_chunk, --parquet) needs a CPU kernel (backend numpy or "
            "numba): the JAX kernel keeps only counts"
        )


def simulate_adaptive(
    atlas: Atlas,
    route: Plan | None = None,
    *,
    runs: int,
    seed: SeedLike,
    query: Query | None = None,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Simulate journeys that re-plan at every place (see ``nkescape.simulate.adaptive``).

    Parameters
    ----------
    atlas
        The atlas the journeys cross.
    route
        The :class:`~nkescape.routing.Plan` whose question to answer; or give ``query``.
    runs, seed, chunk, progress
        As for :func:`simulate` (one CPU kernel, NumPy).
    query
        The planning question, when no Plan is given.

    Returns
    -------
    Summary
        Its legs are all the atlas's, in the order journeys take them (the fewest legs before
        them on the policy's ways out, then the most taken); ``taken`` counts the journeys
        that took each.

    Raises
    ------
    SimulationError
        As for :func:`simulate`, or when the policy has no first move from the origin.

    Examples
    --------
    >>> import datetime as dt
    >>> from nkescape.atlas import toy_atlas
    >>> from nkescape.routing import plan
    >>> atlas = toy_atlas()
    >>> p = plan(atlas, "home", "capital", month=1, today=dt.date(2017, 1, 1))
    >>> summary = simulate_adaptive(atlas, p, runs=5_000, seed=1)
    >>> [row["leg"] for row in summary.to_json()["funnel"]][0]
    'river-ice'
    """
    from nkescape.simulate.adaptive import adaptive_policy, run_adaptive_chunk

    _check_runs(runs)
    root = seed_sequence(seed)
    if isinstance(route, Plan):
        if query is not None:
            raise SimulationError("a Plan carries its own query: give a Plan or query=, not both")
        query = route.query
    elif route is not None:
        raise SimulationError(f"route must be a Plan (got {type(route).__name__})")
    if query is None:
        raise SimulationError("give the Plan to simulate, or query=")
    policy = adaptive_policy(atlas, query)
    if (policy.move[policy.origin] == -2).all():
        raise SimulationError(
            f"no route from {query.origin!r} to {query.destination!r} in any month: the "
            "adaptive policy has no first move"
        )
    chunk = chunk or CHUNK
    entropy, spawn_key = _seed_record(root)
    summary = Summary(
        legs=tuple(atlas.compiled.leg_ids),
        seed=entropy,
        spawn_key=spawn_key,
        kernel="adaptive",
        chunk=chunk,
        query=query,
    )
    # Chunk seeds made one at a time, as in simulate: memory does not grow with runs.
    for i in range(-(-runs // chunk)):
        n = min(chunk, runs - i * chunk)
        done, taken = run_adaptive_chunk(policy, n, np.random.default_rng(chunk_seed(root, i)))
        summary.add(done)
        summary.add_taken(taken)
        if progress is not None:
            progress(n)
    assert summary.taken is not None
    summary.order_legs(_journey_order(policy, summary.taken))
    return summary


def _journey_order(policy: Policy, taken: NDArray[np.int64]) -> NDArray[np.int64]:
    """Leg indices in journey order: by the fewest legs before them on the policy's ways out
    of the origin (any month at each place), then the most taken, then the atlas's order."""
    n_legs = len(taken)
    depth = np.full(n_legs, n_legs, dtype=np.int64)  # never reached: after all others
    seen = {policy.origin}
    frontier = [policy.origin]
    level = 0
    while frontier:
        reached: list[int] = []
        for place in frontier:
            if place == policy.destination:
                continue
            moves = policy.move[place]
            for j in np.unique(moves[moves >= 0]).tolist():
                depth[j] = min(depth[j], level)
                to = int(policy.leg_to[j])
                if to not in seen:
                    seen.add(to)
                    reached.append(to)
        frontier = reached
        level += 1
    order: NDArray[np.int64] = np.lexsort((np.arange(n_legs), -taken, depth))
    return order


def _consume(
    result: tuple[Chunk | None, dict[str, Any]],
    summary: Summary,
    progress: Callable[[int], None] | None,
    on_chunk: Callable[[Chunk], None] | None,
) -> None:
    done, counts = result
    summary.add_aggregates(counts)
    if on_chunk is not None:
        assert done is not None, "kept for on_chunk"
        on_chunk(done)
    if progress is not None:
        progress(int(counts["runs"]))


class _SimulatePackage(types.ModuleType):
    """This package, callable as its ``simulate`` function.

    ``from nkescape import simulate`` must give the function, but ``nkescape.simulate`` is
    also this package, and Python sets the package attribute to the module whenever the
    module is first imported. Making the module callable gives one object that is both,
    whichever import comes first, while ``import nkescape.simulate as sim`` and
    ``from nkescape.simulate import simulate`` keep working.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Summary:
        """Run :func:`nkescape.simulate.simulate` (``help(nkescape.simulate.simulate)``)."""
        return simulate(*args, **kwargs)


# What notebooks show for ``simulate?`` and ``inspect.signature(nkescape.simulate)``.
__signature__ = inspect.signature(simulate)
sys.modules[__name__].__class__ = _SimulatePackage
