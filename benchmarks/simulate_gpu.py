"""The JAX journey kernel on a GPU: agreement with the CPU for one seed, and throughput.

Run on a machine with a GPU and JAX: python benchmarks/simulate_gpu.py [--out DIR]

1. The same seed on the JAX CPU backend and on the GPU: the random draws are the same
   (counter-based generator); counts may differ only where float32 rounding moves a draw across
   a threshold, so the script reports the largest relative difference of the outcome counts.
2. The NumPy CPU kernel (the reference) with the same number of journeys: the probabilities agree
   within sampling error (different generators).
3. Journey-legs per second on the GPU for 10^8 and 10^9 journeys, streamed in chunks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from pathlib import Path

import jax

from nkescape.atlas import bundled_atlas
from nkescape.routing import plan
from nkescape.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sizes", default="100000000,1000000000")
    args = parser.parse_args()
    print(f"jax {jax.__version__}; devices: {jax.devices()}")
    atlas = bundled_atlas()
    result = plan(atlas, "hyesan", date=dt.date(2017, 9, 1))
    route = next(
        it for it in result.itineraries if any(s.leg == "vietnam-night-run" for s in it.legs)
    )
    legs = len(route.legs)
    n = 2_000_000
    runs = {}
    engines = {
        "jax-cpu": {"backend": "jax", "device": "cpu"},
        "gpu": {"backend": "jax", "device": "gpu"},
        "cpu": {"backend": "numpy", "device": "cpu"},
    }
    for name, engine in engines.items():
        start = time.perf_counter()
        runs[name] = simulate(atlas, route, query=result.query, runs=n, seed=1, **engine)
        print(
            f"{name:8}: {n:,} journeys in {time.perf_counter() - start:.2f} s "
            f"(first call includes compilation)"
        )
    a, b = runs["jax-cpu"].outcomes, runs["gpu"].outcomes
    diff = max(abs(int(x) - int(y)) / max(int(x), 1) for x, y in zip(a, b, strict=True))
    print(
        f"same seed, JAX CPU vs GPU: outcome counts {a.tolist()} vs {b.tolist()}; "
        f"largest relative difference {diff:.2e}"
    )
    p_gpu, p_np = runs["gpu"].p_reach_destination, runs["cpu"].p_reach_destination
    se = math.sqrt(2 * p_np * (1 - p_np) / n)
    print(
        f"GPU vs NumPy reference: P(reach Seoul) {p_gpu:.5f} vs {p_np:.5f} "
        f"(difference {abs(p_gpu - p_np) / se:.1f} standard errors)"
    )
    report = {"agreement_max_rel_diff": diff, "p_gpu": p_gpu, "p_numpy": p_np, "throughput": []}
    for size in (int(x) for x in args.sizes.split(",")):
        simulate(atlas, route, query=result.query, runs=1 << 24, seed=2, device="gpu")  # warm
        start = time.perf_counter()
        summary = simulate(atlas, route, query=result.query, runs=size, seed=3, device="gpu")
        elapsed = time.perf_counter() - start
        rate = size * legs / elapsed
        print(
            f"GPU: {size:,} journeys x {legs} legs in {elapsed:.2f} s = {rate:.3g} "
            f"journey-legs/s; P(reach Seoul) {summary.p_reach_destination:.5f}"
        )
        report["throughput"].append({"runs": size, "seconds": elapsed, "journey_legs_per_s": rate})
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
