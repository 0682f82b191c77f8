"""Time planner queries on the bundled atlas and on synthetic networks, against references.

Run: .venv/bin/python benchmarks/plan.py [--quick]

References, run in the same process: brute-force enumeration of every itinerary (where it
finishes within the time limit) and the plain-Python search when the numba kernel is used. Each
run checks its answer (non-empty, and equal to the reference's where one ran), so the benchmark
cannot get fast by answering nothing. Synthetic networks are geometric graphs whose share of
seasonal legs matches the bundled atlas; queries go from node 0 to the median-depth reachable
node, which on the large graphs is hundreds of legs away (far longer than any real itinerary).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from nkescape.atlas import bundled_atlas
from nkescape.backends import numba_available
from nkescape.routing import (
    Label,
    Network,
    brute_force_pareto,
    build_network,
    pareto_search,
    plan,
    random_network,
)
from nkescape.routing.query import Group, Query

T = TypeVar("T")


def _child(
    conn: Connection, fn: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    conn.send((result, time.perf_counter() - start))
    conn.close()


def limited(
    seconds: int, fn: Callable[..., T], *args: object, **kwargs: object
) -> tuple[T | None, float]:
    """Run ``fn(*args, **kwargs)`` in a forked child for at most ``seconds``.

    A child process, because compiled code (the numba kernel) cannot be interrupted by a signal;
    fork, so the network is shared rather than copied. Returns (result or None, seconds).
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs))
    start = time.perf_counter()
    proc.start()
    child.close()
    if parent.poll(seconds):
        result, elapsed = parent.recv()
        proc.join()
        return result, elapsed
    proc.kill()
    proc.join()
    return None, time.perf_counter() - start


def vectors(labels: list[Label]) -> list[tuple[float, ...]]:
    return sorted((round(a.t, 6), round(a.cost, 3), round(a.risk, 9), a.safe) for a in labels)


def bundled(reference_limit: int) -> None:
    atlas = bundled_atlas()
    starts = sorted({s for p in atlas.profiles.values() for s in p.starts} - {"seoul"})
    queries = [(s, m) for s in starts for m in (1, 4, 8, 11)]
    plan(atlas, "hyesan", date=dt.date(2017, 1, 1))  # warm caches (compiled atlas)
    times = []
    for origin, month in queries:
        start = time.perf_counter()
        try:
            result = plan(atlas, origin, date=dt.date(2017, month, 1))
            assert result.itineraries
        except Exception as exc:  # a start with no route is still a timed query
            assert "no route" in str(exc), exc
        times.append(time.perf_counter() - start)
    print(
        f"bundled atlas: {len(queries)} plan() queries from every profile start in 4 months: "
        f"median {1e3 * statistics.median(times):.1f} ms, max {1e3 * max(times):.1f} ms "
        f"(target < 50 ms)"
    )
    c = atlas.compiled
    q = Query("hyesan", "seoul", dt.date(2017, 1, 10), Group(), None, None, "self")
    net = build_network(atlas, q).network
    src, dst = c.place_index["hyesan"], c.place_index["seoul"]
    found, t_search = limited(60, pareto_search, net, src, dst, max_days=200)
    truth, t_ref = limited(reference_limit, brute_force_pareto, net, src, dst, max_days=200)
    assert found
    if truth is None:
        print(
            f"  search hyesan->seoul (200-day limit): {1e3 * t_search:.1f} ms; brute force "
            f"did not finish in {reference_limit} s"
        )
    else:
        same = "same set" if vectors(found) == vectors(truth) else "sets differ"
        print(
            f"  search hyesan->seoul (200-day limit): {1e3 * t_search:.1f} ms; brute force "
            f"{1e3 * t_ref:.1f} ms; ratio {t_ref / t_search:.0f}x; {same}"
        )


def seasonal_share() -> float:
    atlas = bundled_atlas()
    net = build_network(
        atlas, Query("hyesan", "seoul", dt.date(2017, 1, 1), Group(), None, None, "self")
    ).network
    varies = (
        (net.open != net.open[:1]).any(axis=0)
        | (net.days != net.days[:1]).any(axis=0)
        | (net.risk != net.risk[:1]).any(axis=0)
    )
    return float(varies.mean())


def target_of(net: Network) -> tuple[int, int]:
    graph = sp.csr_matrix(
        (np.ones(net.n_legs), (net.leg_from(), net.leg_to)), shape=(net.n_nodes, net.n_nodes)
    )
    order = breadth_first_order(graph, 0, return_predecessors=False)
    return 0, int(order[len(order) // 2])


def synthetic(sizes: list[int], epsilons: list[float], share: float, limit: int) -> None:
    backend = "numba" if numba_available() else "numpy"
    print(
        f"synthetic networks: 4 legs out of each place, {share:.0%} seasonal legs (as in the "
        f"bundled atlas); backend {backend}"
    )
    if backend == "numba":
        warm = random_network(50, 0, seasonal=share)
        pareto_search(warm, 0, 49, backend="numba")  # compile once, outside the timings
    for n in sizes:
        net = random_network(n, 1, degree=4, seasonal=share)
        src, dst = target_of(net)
        for eps in epsilons:
            result, elapsed = limited(
                limit, pareto_search, net, src, dst, epsilon=eps, backend=backend
            )
            if result is None:
                print(f"  {n:>7} places, epsilon {eps:<4}: did not finish in {limit} s")
                continue
            assert result, "the benchmark query must have an answer"
            hops = len([m for m in result[0].moves() if m[1] >= 0])
            line = (
                f"  {n:>7} places, epsilon {eps:<4}: {elapsed:7.3f} s per query, "
                f"{len(result)} itineraries, {hops} legs"
            )
            if backend == "numba":
                ref, t_ref = limited(
                    limit, pareto_search, net, src, dst, epsilon=eps, backend="numpy"
                )
                if ref is None:
                    line += f"; numpy search > {limit} s"
                else:
                    assert vectors(ref) == vectors(result), "numba and numpy disagree"
                    line += f"; numpy search {t_ref:.3f} s ({t_ref / elapsed:.0f}x)"
            if n <= 12:
                # Enumeration needs a bound on waiting; both sides get the same one.
                capped, t_cap = limited(
                    limit, pareto_search, net, src, dst, epsilon=eps, max_days=200
                )
                truth, t_bf = limited(limit, brute_force_pareto, net, src, dst, max_days=200)
                if truth is not None and capped is not None:
                    line += (
                        f"; with a 200-day limit {1e3 * t_cap:.1f} ms vs brute force "
                        f"{1e3 * t_bf:.1f} ms ({t_bf / t_cap:.0f}x)"
                    )
            print(line)


def main() -> None:
    sys.setrecursionlimit(10_000)  # itineraries of hundreds of legs are pickled back from children
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only (CI smoke)")
    args = parser.parse_args()
    limit = 20 if args.quick else 120
    bundled(reference_limit=limit)
    share = seasonal_share()
    if args.quick:
        synthetic([12, 1000], [0.0, 0.1], share, limit)
    else:
        synthetic([12, 1000, 10_000, 100_000], [0.0, 0.05, 0.1, 0.2], share, limit)


if __name__ == "__main__":
    main()
