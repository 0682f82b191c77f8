"""Journey-legs per second of the simulator's kernels, as a ratio to this machine's own ceiling.

Run: .venv/bin/python benchmarks/simulate.py [--quick] [--runs 1e9]

All run the same model (the overland route through Vietnam and Laos, September 2017: 13 legs) in
the same process, so the ratios survive a noisy, shared machine:

* the **ceiling**: uniforms per second numpy's default generator makes on one core (the "toy
  random-number ceiling" of issue 18), measured first and last, best of each;
* each kernel (NumPy; numba and JAX on the CPU where installed) on one thread and on every
  core, as journey-legs per second and as a ratio to the ceiling; the same seed must give the
  same counts on one thread and on several (the script stops if not);
* what bounds the numba kernel: the same kernel's draws alone (the inline stream's uniforms,
  the ziggurat's normals, a lognormal's exp), made per journey-leg as the kernel makes them
  but without the rules, on one thread. The kernel cannot beat that floor; the gap between
  them is the rules' own cost.

Each kernel's answer is checked against a plain per-journey Python loop of the same model (the
success rate, within 4 standard errors), so no kernel can get fast by doing nothing. Peak memory
is the process's resident maximum. ``--runs N`` instead streams one run of N journeys on every
core with the default kernel and reports its time, rate and peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import math
import os
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nkescape.atlas import bundled_atlas
from nkescape.backends import numba_available
from nkescape.routing import plan
from nkescape.simulate import JourneyModel, journey_model, simulate
from nkescape.simulate.summary import Summary


def best(f: Callable[[], Any], repeat: int = 3) -> float:
    """The shortest of ``repeat`` timings of ``f``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def timed(run: Callable[[], Summary], repeat: int = 2) -> tuple[float, Summary]:
    """The shortest of ``repeat`` timings of ``run``, and the summary it gave."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        summary = run()
        out.append((time.perf_counter() - start, summary))
    return min(out, key=lambda x: x[0])


def ceiling(n: int = 10_000_000) -> float:
    """Uniforms per second from numpy's default generator on one core, into a reused buffer."""
    rng = np.random.default_rng(0)
    out = np.empty(n)
    rng.random(out=out)  # the first fill pays for the pages
    return n / best(lambda: rng.random(out=out))


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


def counts(summary: Summary) -> dict[str, Any]:
    """What a run counted, for comparing two runs."""
    data = summary.to_json()
    return {k: data[k] for k in ("runs", "p_reach_safety", "p_reach_destination", "funnel")} | {
        "histograms": [summary.days_safety.tolist(), summary.cost.tolist()]
    }


def draws_floor(model: JourneyModel, n: int) -> float:
    """Journey-legs per second of the numba kernel's draws alone, on one thread."""
    from numba import njit

    from nkescape.simulate import _numba
    from nkescape.simulate.step import LOGNORMAL, POINT

    @njit(nogil=True)
    def draws(
        s: np.ndarray[Any, Any],
        n: int,
        codes: np.ndarray[Any, Any],
        hazard: np.ndarray[Any, Any],
        brokered: np.ndarray[Any, Any],
    ) -> float:
        total = 0.0
        for _ in range(n):
            for k in range(codes.shape[0]):
                if hazard[k] > 0:
                    total += _numba._uniform(s)
                for j in range(3):
                    if codes[k, j] == LOGNORMAL:
                        total += math.exp(0.5 * _numba._normal(s))
                    elif codes[k, j] != POINT:
                        total += _numba._uniform(s)
                total += _numba._uniform(s) + _numba._uniform(s)
                if brokered[k]:
                    total += _numba._uniform(s)
        return total

    codes = np.stack([model.dur[:, 0], model.cost[:, 0], model.p_int[:, 0]], axis=1)
    state = np.random.SFC64(1).state["state"]["state"].copy()
    args = (codes, model.wait_hazard, model.betrayal.sum(axis=1) > 0)
    draws(state, 10, *args)
    return n * model.n_legs / best(lambda: draws(state, n, *args))


def draw_costs(model: JourneyModel, n: int) -> str:
    """Seconds per draw of each kind the numba kernel makes, and how many of each a journey-leg
    of ``model`` takes: the arithmetic of the floor."""
    from numba import njit

    from nkescape.simulate import _numba
    from nkescape.simulate.step import LOGNORMAL, POINT

    @njit(nogil=True)
    def uniforms(s: np.ndarray[Any, Any], n: int) -> float:
        total = 0.0
        for _ in range(n):
            total += _numba._uniform(s)
        return total

    @njit(nogil=True)
    def normals(s: np.ndarray[Any, Any], n: int) -> float:
        total = 0.0
        for _ in range(n):
            total += _numba._normal(s)
        return total

    @njit(nogil=True)
    def exps(s: np.ndarray[Any, Any], n: int) -> float:
        total, x = 0.0, 0.0
        for _ in range(n):
            total += math.exp(x)
            x += 1e-9
        return total

    state = np.random.SFC64(2).state["state"]["state"].copy()
    cost = {}
    for name, f in (("uniform", uniforms), ("normal", normals), ("exp", exps)):
        f(state, 10)
        cost[name] = best(lambda f=f: f(state, n)) / n
    codes = np.stack([model.dur[:, 0], model.cost[:, 0], model.p_int[:, 0]], axis=1)
    per_leg = {
        "normal": float((codes == LOGNORMAL).sum()) / model.n_legs,
        "exp": float((codes == LOGNORMAL).sum()) / model.n_legs,
        "uniform": float(
            ((codes != LOGNORMAL) & (codes != POINT)).sum()
            + (model.wait_hazard > 0).sum()
            + (model.betrayal.sum(axis=1) > 0).sum()
            + 2 * model.n_legs
        )
        / model.n_legs,
    }
    floor = sum(cost[k] * per_leg[k] for k in cost)
    parts = ", ".join(f"{per_leg[k]:.2f} {k}s at {cost[k] * 1e9:.1f} ns" for k in cost)
    return f"a journey-leg takes {parts}: {floor * 1e9:.0f} ns, at most {1 / floor:.3g} per second"


def kernels(quick: bool) -> list[tuple[str, dict[str, str]]]:
    """The kernels installed here (JAX not in a quick run: compiling it takes 20 s)."""
    out = [("numpy", {"backend": "numpy"})]
    if numba_available():
        out.append(("numba", {"backend": "numba"}))
    if not quick and importlib.util.find_spec("jax") is not None:
        out.append(("jax-cpu", {"backend": "jax", "device": "cpu"}))
    return out


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
    cores = os.cpu_count() or 1
    top = ceiling()
    print(f"ceiling: {top:.3g} uniforms/s from numpy's default generator on one core")
    n_ref = 20_000 if args.quick else 100_000
    start = time.perf_counter()
    p_ref = reference(model, n_ref, seed=1)
    t_ref = time.perf_counter() - start
    print(f"model: {legs} legs; reference loop: {n_ref * legs / t_ref:.3g} journey-legs/s")
    if args.runs is not None:
        runs = int(args.runs)
        start = time.perf_counter()
        summary = simulate(atlas, route, query=result.query, runs=runs, seed=1)
        elapsed = time.perf_counter() - start
        p = check(summary, p_ref, n_ref)
        rate = runs * legs / elapsed
        print(
            f"streamed: {runs:,} journeys on {cores} cores ({summary.kernel} kernel): "
            f"{elapsed:.1f} s, {rate:.3g} journey-legs/s, {rate / top:.2f}x the ceiling; "
            f"P(reach Seoul) {p:.5f} (reference {p_ref:.4f})"
        )
    else:
        for name, engine in kernels(args.quick):
            runs = {"numpy": 2_000_000, "numba": 10_000_000, "jax-cpu": 2_000_000}[name]
            if args.quick:
                runs //= 20
            # The first run compiles (numba, JAX) or loads the compiled kernel from its cache.
            start = time.perf_counter()
            simulate(atlas, route, query=result.query, runs=1_000, seed=1, **engine)
            ready = time.perf_counter() - start
            print(f"{name:>7} kernel ready (compiled or loaded from its cache) in {ready:.1f} s")
            seen = []
            # JAX spreads one chunk over the cores itself: one run of it.
            for workers in sorted({1, cores}) if name != "jax-cpu" else [cores]:
                elapsed, summary = timed(
                    lambda w=workers, e=engine, n=runs: simulate(
                        atlas, route, query=result.query, runs=n, seed=1, workers=w, **e
                    )
                )
                p = check(summary, p_ref, n_ref)
                seen.append(counts(summary))
                rate = runs * legs / elapsed
                print(
                    f"{name:>7} kernel: {runs:>11,} journeys, {workers} thread(s): "
                    f"{elapsed:6.2f} s, {rate:.3g} journey-legs/s, {rate / top:.3f}x the "
                    f"ceiling; P(reach Seoul) {p:.4f} (reference {p_ref:.4f})"
                )
            assert all(s == seen[0] for s in seen), f"{name}: the same seed gave other counts"
            print(f"{name:>7} kernel: the same seed gave the same counts on 1 and {cores} threads")
        if numba_available():
            floor = draws_floor(model, 500_000 if args.quick else 10_000_000)
            print(
                f"  bound: the numba kernel's draws alone, one thread: {floor:.3g} journey-legs/s, "
                f"{floor / top:.3f}x the ceiling ({cores * floor:.3g} on {cores} cores at best)"
            )
            print(f"  bound: {draw_costs(model, 2_000_000 if args.quick else 20_000_000)}")
        top_end = ceiling()
        print(f"ceiling again at the end: {top_end:.3g} uniforms/s (first {top:.3g})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
