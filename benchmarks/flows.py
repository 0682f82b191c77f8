"""Benchmark the flow model: one model run, and a calibration in one process against 2 Dask workers.

Run: ``.venv/bin/python benchmarks/flows.py [--steps N] [--generations N]``. Both calibrations
run the same work (the CLI's quick setting: one mode search, then 4 chains of sampling), one
after the other: in this process (``sync``), then as tasks on a 2-worker local Dask cluster of
processes (the search is one task; the chains run two at a time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nkescape.atlas import bundled_atlas
from nkescape.flows.analysis import (
    QUICK_CHAINS,
    QUICK_STEPS,
    QUICK_WALKERS,
    fit_flows,
    prepare,
    report_fit,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=QUICK_STEPS)
    parser.add_argument("--generations", type=int, default=150)
    parser.add_argument("--walkers", type=int, default=QUICK_WALKERS)
    args = parser.parse_args()

    t0 = time.perf_counter()
    config, inputs, observed = prepare(bundled_atlas(), 2025, seed=1)
    print(
        f"inputs (transit tables from planner + simulator, {inputs.n_months} months): "
        f"{time.perf_counter() - t0:.2f} s"
    )

    from nkescape.flows.model import run_flows

    rng = np.random.default_rng(0)
    for k in (1, args.walkers, 400):
        x = np.column_stack([p.to_x(p.sample(rng, k)) for p in config.priors])
        run_flows(inputs, x)  # warm
        reps = 5
        t0 = time.perf_counter()
        for _ in range(reps):
            run_flows(inputs, x)
        dt = (time.perf_counter() - t0) / reps
        print(
            f"one model run, {k:>4} parameter sets at once: {1000 * dt:7.1f} ms "
            f"({1000 * dt / k:.3f} ms per set)"
        )

    times = {}
    reports = {}
    for label, scheduler in (("one process", "sync"), ("2-worker Dask cluster", None)):
        t0 = time.perf_counter()
        post = fit_flows(
            inputs,
            observed,
            seed=1,
            chains=QUICK_CHAINS,
            walkers=args.walkers,
            steps=args.steps,
            generations=args.generations,
            scheduler=scheduler,
        )
        times[label] = time.perf_counter() - t0
        reports[label] = report_fit(inputs, observed, post, seed=1)
        r = reports[label]
        print(
            f"calibration, {label:>22}: {times[label]:6.1f} s; MAPE 2002-2019 {r.mape:.1f}%, "
            f"{100 * r.coverage:.0f}% of years inside the 90% interval, "
            f"R-hat (largest) {post.meta['r_hat_max']}"
        )
    print(
        f"speed-up of the 2-worker Dask cluster over one process: "
        f"{times['one process'] / times['2-worker Dask cluster']:.2f}x"
    )


if __name__ == "__main__":
    main()
