"""Journey-legs per second of the simulator's CPU kernels against a per-journey Python loop.

Run: .venv/bin/python benchmarks/simulate.py [--quick] [--runs 1e9]

All run the same model (the overland route through Vietnam and Laos, September 2017) in the same
process; the reference is a plain loop over journeys and legs, as the tests keep it. Both CPU
kernels are timed (NumPy, and numba where it is installed; the numba kernel's compilation, or
its load from numba's cache, is timed apart). Each run checks its answer (the success rate of the
kernel against the reference's, within 4 standard errors), so it cannot get fast by doing
nothing. Peak memory is the process's resident maximum. ``--runs N`` instead streams one run of
N journeys on every core with the default kernel and reports its time, rate and peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import resource
import time

import numpy as np

from nkescape.atlas import bundled_atlas
from nkescape.routing import plan
from nkescape.simulate import JourneyModel, journey_model, simulate
from nkescape.simulate.summary import Summary


def reference(model: JourneyModel, n: int, seed: int) -> float:
    """Success rate of ``n`` journeys simulated one at a time (no arrays)."""
    rng = np.random.default_rng(seed)
    start0 = model.start.month - 1
    ok = 0
    for _ in range(n):
        t, alive = 0.0, True
        for k in range(model.n_legs):
            t = max(t, float(model.not_before[k]))
            i = int(np.searchsorted(model.month_starts, t, side="right")) - 1
            m = (start0 + i) % 12
            code, a, b = model.dur[k]
            d = a if code == 0 else rng.uniform(a, b) if code == 1 else rng.lognormal(a, b)
            code, a, b = model.p_int[k]
            p = a if code == 0 else rng.uniform(a, b)
            f = model.odds_factor[k, m]
            p = p * f / (1 - p + p * f)
            u = rng.random()
            robbed, turned, sold = model.betrayal[k]
            if u < robbed or robbed + turned <= u < robbed + turned + sold:
                alive = False
                break
            if rng.random() < p or robbed <= u < robbed + turned:
                v = rng.random()
                if v < model.p_back[k]:
                    alive = False
                    break
                if v < model.p_back[k] + model.p_embassy[k]:
                    break
            t += d * model.dur_factor[k, m]
        ok += alive
    return ok / n


def check(summary: Summary, p_ref: float, n_ref: int) -> float:
    """The run's success rate, after checking it against the reference's."""
    p, runs = summary.p_reach_destination, summary.runs
    se = math.sqrt(p * (1 - p) / runs + p_ref * (1 - p_ref) / n_ref)
    assert abs(p - p_ref) < 4 * se, (p, p_ref)
    return p


def backends() -> list[str]:
    try:
        import numba  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "numba"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument(
        "--runs", type=float, default=None, help="stream one run of this many journeys (1e9)"
    )
    args = parser.parse_args()
    atlas = bundled_atlas()
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1))
    route = next(
        it for it in result.itineraries if any(s.leg == "vietnam-night-run" for s in it.legs)
    )
    model = journey_model(atlas, result.query, route)
    legs = model.n_legs
    n_ref = 20_000 if args.quick else 100_000
    start = time.perf_counter()
    p_ref = reference(model, n_ref, seed=1)
    t_ref = time.perf_counter() - start
    ref_rate = n_ref * legs / t_ref
    print(
        f"model: {legs} legs; reference loop: {n_ref:,} journeys in {t_ref:.2f} s, "
        f"{ref_rate:.3g} journey-legs/s"
    )
    if args.runs is not None:
        runs = int(args.runs)
        start = time.perf_counter()
        summary = simulate(atlas, route, query=result.query, runs=runs, seed=1)
        elapsed = time.perf_counter() - start
        p = check(summary, p_ref, n_ref)
        rate = runs * legs / elapsed
        print(
            f"streamed: {runs:,} journeys on every core (default kernel): {elapsed:.1f} s, "
            f"{rate:.3g} journey-legs/s, {rate / ref_rate:.0f}x the reference; "
            f"P(reach Seoul) {p:.5f} (reference {p_ref:.4f})"
        )
    else:
        sizes = [100_000] if args.quick else [100_000, 10_000_000]
        for backend in backends():
            if backend == "numba":
                start = time.perf_counter()
                simulate(atlas, route, query=result.query, runs=1, seed=1, backend=backend)
                load = time.perf_counter() - start
                print(f"numba kernel compiled or loaded from its cache: {load:.2f} s")
            for runs in sizes:
                for workers in (1, 2):
                    start = time.perf_counter()
                    summary = simulate(
                        atlas,
                        route,
                        query=result.query,
                        runs=runs,
                        seed=1,
                        workers=workers,
                        backend=backend,
                    )
                    elapsed = time.perf_counter() - start
                    p = check(summary, p_ref, n_ref)
                    rate = runs * legs / elapsed
                    print(
                        f"{backend:>5} kernel: {runs:>11,} journeys, {workers} thread(s): "
                        f"{elapsed:6.2f} s, {rate:.3g} journey-legs/s, "
                        f"{rate / ref_rate:.0f}x the reference; "
                        f"P(reach Seoul) {p:.4f} (reference {p_ref:.4f})"
                    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
