"""Calibrate the flow model to the yearly arrival counts: a posterior by emcee, chains on Dask.

The model gives the expected arrivals of each year, so the likelihood is explicit: yearly totals
are negative binomial around the model (coefficient of variation ``dispersion``) and the women
among them beta-binomial around the model's share (concentration 1 / ``share_dispersion``^2),
both scipy's; the published estimates of North Koreans in China weigh the model's stock (flat
inside each range, a half normal of width ``stock_spread`` outside it).
With a likelihood in hand, an ensemble MCMC (emcee) gives the exact posterior where ABC would
give an approximation, and needs no summary statistics or tolerance schedule. One search finds
the posterior's mode and its curvature; chains (one Dask task each) start from independent
draws of that normal approximation, are pooled, and ArviZ's R-hat across them is recorded.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nkescape.flows.model import FlowInputs, FlowRun, run_flows
from nkescape.flows.observed import Observed
from nkescape.flows.parameters import StockEstimate

# The scheduler wrapper is shared with the simulator; run_tasks is re-exported for flows.analysis.
from nkescape.tasks import TaskRunner
from nkescape.tasks import Tick as _Tick
from nkescape.tasks import run_tasks as run_tasks

__all__ = [
    "Posterior",
    "PosteriorError",
    "calibrate",
    "load_posterior",
    "log_posterior",
    "predictive",
    "stock_log_weight",
    "stock_value",
]

POSTERIOR_FORMAT = "nkescape-flows-posterior/1"


class PosteriorError(ValueError):
    """A posterior file that cannot be used."""


@dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior samples in natural units, one row per draw, columns named."""

    names: tuple[str, ...]
    samples: NDArray[np.float64]
    fit_years: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> NDArray[np.float64]:
        return self.samples[:, self.names.index(name)]

    def interval(self, name: str, level: float = 0.9) -> tuple[float, float, float]:
        """(low, median, high) of a parameter's central ``level`` interval."""
        lo, mid, hi = np.quantile(self.column(name), [(1 - level) / 2, 0.5, (1 + level) / 2])
        return float(lo), float(mid), float(hi)

    def save(self, path: Path) -> None:
        data = {
            "format": POSTERIOR_FORMAT,
            "names": list(self.names),
            "fit_years": list(self.fit_years),
            "meta": self.meta,
            "samples": self.samples.tolist(),
        }
        path.write_text(json.dumps(data), encoding="utf-8")


def load_posterior(path: Path, names: tuple[str, ...]) -> Posterior:
    """Read a saved posterior; PosteriorError in one line if it is not one or does not fit."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PosteriorError(f"{path}: cannot read it ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PosteriorError(f"{path}: not a posterior file (not JSON: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != POSTERIOR_FORMAT:
        raise PosteriorError(
            f"{path}: not a posterior file (expected format {POSTERIOR_FORMAT!r}; "
            "write one with the `flows fit` command)"
        )
    try:
        got = tuple(str(n) for n in data["names"])
        samples = np.asarray(data["samples"], dtype=np.float64)
        years = tuple(int(y) for y in data["fit_years"])
        meta = dict(data.get("meta") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise PosteriorError(f"{path}: broken posterior file ({exc!r})") from exc
    if got != names:
        raise PosteriorError(
            f"{path}: its parameters ({', '.join(got)}) are not the model's ({', '.join(names)}); "
            "fit again with the `flows fit` command"
        )
    if samples.ndim != 2 or samples.shape[1] != len(names) or len(samples) == 0:
        raise PosteriorError(f"{path}: broken posterior file (samples of shape {samples.shape})")
    if not np.isfinite(samples).all():
        raise PosteriorError(f"{path}: broken posterior file (samples that are not numbers)")
    return Posterior(names, samples, years, meta)


def _year_columns(run: FlowRun, years: tuple[int, ...]) -> tuple[NDArray[np.float64], ...]:
    all_years, arr = run.yearly("arrivals")
    idx = [int(np.flatnonzero(all_years == y)[0]) for y in years]
    women = arr[:, 0, idx]
    total = arr[:, :, idx].sum(axis=1)
    return total, women


def stock_value(run: FlowRun, estimate: StockEstimate) -> NDArray[np.float64]:
    """(K,) the model's counterpart of a published estimate: the number of people in China at
    the end of its year, or the women's share among them."""
    at = run.year_end("hiding", estimate.year)
    people: NDArray[np.float64] = np.maximum(at.sum(axis=1), 1e-9)
    return at[:, 0] / people if estimate.measure == "women_share" else people


def stock_log_weight(inputs: FlowInputs, run: FlowRun, last_year: int) -> NDArray[np.float64]:
    """(K,) log weight of the model's stock in China against the published estimates up to
    ``last_year``: 0 inside each range, falling as a half normal outside it."""
    cfg = inputs.config
    out = np.zeros(len(run.hiding))
    for est in cfg.stock_estimates:
        if est.year > last_year or est.year * 12 + 11 not in run.months:
            continue
        value = stock_value(run, est)
        if est.measure == "women_share":
            # Shares on the log-odds scale, as numbers on the log scale: a range's ends are
            # guesses by a factor, not by a fixed margin.
            share = np.clip(value, 1e-9, 1 - 1e-9)
            value = np.log(share / (1 - share))
            low, high = (math.log(e / (1 - e)) for e in (est.low, est.high))
        else:
            value, low, high = np.log(value), math.log(est.low), math.log(est.high)
        beyond = np.maximum(low - value, 0) + np.maximum(value - high, 0)
        out -= 0.5 * (beyond / cfg.stock_spread) ** 2
    return out


def log_likelihood(
    inputs: FlowInputs, observed: Observed, x: NDArray[np.float64], years: tuple[int, ...]
) -> NDArray[np.float64]:
    """(K,) log likelihood of the counts of ``years`` for each parameter row of ``x``, with the
    published stock estimates up to the last of those years."""
    # scipy.stats costs a second to import, and `nkescape --help` must not pay it.
    from scipy.stats import betabinom, nbinom

    run = run_flows(inputs, x)
    mu, women = _year_columns(run, years)
    cv = x[:, inputs.config.index("dispersion")][:, None]
    r = 1 / cv**2
    n = np.array([observed.get(y)[0] for y in years], dtype=np.float64)[None, :]
    mu = np.maximum(mu, 1e-9)
    ll = np.asarray(nbinom.logpmf(n, r, r / (r + mu))).sum(axis=1)
    ll += stock_log_weight(inputs, run, max(years))
    split = [(i, observed.get(y)[1]) for i, y in enumerate(years)]
    have = [(i, f) for i, f in split if f is not None]
    if have:
        cols = [i for i, _ in have]
        f = np.array([f for _, f in have], dtype=np.float64)[None, :]
        nn = n[:, cols]
        share = np.clip(women[:, cols] / mu[:, cols], 1e-6, 1 - 1e-6)
        # One spread for both: a separate one for the share (tried) fits the shares tighter
        # only by loosening the totals, and the model cannot follow both (docs/design.md).
        conc = 1 / x[:, inputs.config.index("share_dispersion")][:, None] ** 2
        ll += np.asarray(betabinom.logpmf(f, nn, share * conc, (1 - share) * conc)).sum(axis=1)
    return np.where(np.isfinite(ll), ll, -np.inf)


def log_posterior(
    z: NDArray[np.float64], inputs: FlowInputs, observed: Observed, years: tuple[int, ...]
) -> NDArray[np.float64]:
    """(K,) log posterior of rows of ``z`` (the priors' sampling scale)."""
    z = np.atleast_2d(z)
    priors = inputs.config.priors
    lp = np.zeros(len(z))
    for j, p in enumerate(priors):
        lp += p.log_density(z[:, j])
    ok = np.isfinite(lp)
    out = np.full(len(z), -np.inf)
    if ok.any():
        x = np.column_stack([p.to_x(z[ok, j]) for j, p in enumerate(priors)])
        out[ok] = lp[ok] + log_likelihood(inputs, observed, x, years)
    return out


def _bounds(inputs: FlowInputs) -> list[tuple[float, float]]:
    # Lognormal priors are searched within three standard deviations.
    return [
        (p.a - 3 * p.b, p.a + 3 * p.b) if p.shape == "lognormal" else (p.a, p.b)
        for p in inputs.config.priors
    ]


@dataclass(frozen=True)
class FitProgress:
    """How far a calibration has got: ``done`` of ``total`` generations of the mode search, or
    of the chains' steps together while sampling."""

    stage: str  # "mode search" or "sampling"
    done: int
    total: int


# Called on the calling process (the Dask client's thread when the tasks run on Dask).
ProgressFn = Callable[[FitProgress], None]
# A task's own report of how far it has got (generations or steps done), picklable for Dask.


@dataclass(frozen=True)
class Mode:
    """The posterior's mode (in z), its log posterior, and the Laplace approximation around it:
    the covariance of the normal whose log density curves as the log posterior does there."""

    z: NDArray[np.float64]
    log_posterior: float
    covariance: NDArray[np.float64]
    generations: int  # of the differential-evolution search
    polish_steps: int  # of the local search after it


def find_mode(
    inputs: FlowInputs,
    observed: Observed,
    years: tuple[int, ...],
    *,
    seed: int,
    generations: int,
    tick: _Tick | None = None,
) -> Mode:
    """The posterior's mode: a vectorised differential-evolution search over the priors' box
    finds its basin, a quasi-Newton search (L-BFGS-B) climbs to the top, and the curvature
    there gives the Laplace approximation.

    The search alone stops about 10 log units below the top (seed 1: -247.7 against -237.4),
    and chains started on its population spent their first thousand steps climbing."""
    from scipy.optimize import differential_evolution, minimize

    lo, hi = (np.array(b) for b in zip(*_bounds(inputs), strict=True))

    def cost(z: NDArray[np.float64]) -> NDArray[np.float64]:
        value = -log_posterior(z, inputs, observed, years)
        return np.where(np.isfinite(value), value, 1e300)

    done = 0

    def on_generation(intermediate_result: Any) -> None:
        nonlocal done
        done += 1
        if tick is not None:
            tick(done)

    result = differential_evolution(
        lambda zt: cost(zt.T),
        list(zip(lo, hi, strict=True)),
        seed=seed,
        maxiter=generations,
        popsize=_POPSIZE,
        tol=1e-7,
        polish=False,
        vectorized=True,
        updating="deferred",
        callback=on_generation,
    )
    if tick is not None:
        tick(generations)  # the search may stop early, converged
    # The gradient by forward differences, all of them in one vectorised model run; each step
    # points into the box, so that a bound of a uniform prior is never crossed.
    step = _GRADIENT_STEP * (hi - lo)

    def value_and_gradient(z: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        h = np.where(z + step <= hi, step, -step)
        values = cost(np.vstack([z, z + np.diag(h)]))
        return float(values[0]), (values[1:] - values[0]) / h

    polished = minimize(
        value_and_gradient,
        np.asarray(result.x),
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lo, hi, strict=True)),
    )
    best = polished.x if polished.fun <= result.fun else np.asarray(result.x)
    return Mode(
        z=np.asarray(best),
        log_posterior=-float(min(polished.fun, result.fun)),
        covariance=_laplace_covariance(cost, np.asarray(best), lo, hi),
        generations=int(result.nit),
        polish_steps=int(polished.nit),
    )


# Finite-difference steps as shares of each parameter's search range: the gradient's small (the
# log posterior is smooth and the model is deterministic), the curvature's larger, so that the
# differences rise above rounding.
_GRADIENT_STEP = 1e-5
_CURVATURE_STEP = 1e-3


def _laplace_covariance(
    cost: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    mode: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Inverse of the Hessian of ``cost`` (the negative log posterior) at ``mode``, by central
    differences in one vectorised model run.

    Where the mode sits on a bound of the box, the curvature is taken just inside it. Directions
    the counts leave flat (or where the differences come out negative) are held to the width
    of the box: the starting points then spread over the region the priors allow there.
    """
    n = len(mode)
    h = _CURVATURE_STEP * (hi - lo)
    centre = np.clip(mode, lo + 2 * h, hi - 2 * h)
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    signs = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    points = [centre]
    for i, j in pairs:
        for si, sj in signs:
            d = np.zeros(n)
            d[i] += si * h[i]
            d[j] += sj * h[j]
            points.append(centre + d)
    values = cost(np.array(points))
    hessian = np.zeros((n, n))
    for k, (i, j) in enumerate(pairs):
        pp, pm, mp, mm = values[1 + 4 * k : 5 + 4 * k]
        hessian[i, j] = hessian[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j])
    eigenvalues, vectors = np.linalg.eigh(hessian)
    flat = np.flatnonzero(eigenvalues <= 1 / float(np.max(hi - lo)) ** 2)
    variances = 1 / np.where(eigenvalues > 0, eigenvalues, np.inf)
    if flat.size:
        # Differences this coarse can read a curved direction as flat or bent the wrong way (the
        # dated policies of 2013 turned two of thirteen so); held to the width of the box, the
        # starts then spread into a poorer basin the chains did not leave. Along such a
        # direction the width is measured instead: how far until the log posterior has dropped
        # by 1/2, one standard deviation of a normal, or the box's edge.
        variances[flat] = _measured_widths(cost, mode, vectors[:, flat], lo, hi) ** 2
    return np.asarray((vectors * variances) @ vectors.T)


def _measured_widths(
    cost: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    mode: NDArray[np.float64],
    axes: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per column of ``axes``: the mean over both sides of the distance from ``mode`` at which
    ``cost`` has risen by 1/2, in one vectorised run over a geometric grid of distances."""
    grid = np.geomspace(1e-4, 1.0, _WIDTH_STEPS) * float(np.linalg.norm(hi - lo))
    pts = mode[None, None, None, :] + (
        np.array([1.0, -1.0])[None, :, None, None]
        * grid[None, None, :, None]
        * axes.T[:, None, None, :]
    )  # (axes, sides, grid, parameters)
    inside = np.all((pts > lo) & (pts < hi), axis=-1)
    flat_pts = np.clip(pts.reshape(-1, len(mode)), lo, hi)
    rise = cost(flat_pts).reshape(inside.shape) - cost(mode[None, :])[0]
    past = (rise >= 0.5) | ~inside  # leaving the box counts as falling off
    first = np.where(past.any(axis=-1), past.argmax(axis=-1), len(grid) - 1)
    return np.asarray(grid[first].mean(axis=1))


def _starts(
    mode: Mode,
    chains: int,
    walkers: int,
    bounds: list[tuple[float, float]],
    rng: np.random.Generator,
    logp: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> list[NDArray[np.float64]]:
    """Each chain's walkers drawn independently from the Laplace approximation, widened
    (``_OVERDISPERSION``), within the box.

    Starts wider than the posterior (Gelman et al., Bayesian Data Analysis, 3rd ed., 11.4) make
    R-hat mean something: chains that start spread out must contract onto the same posterior
    before their halves agree, where starts drawn from the approximation itself would agree from
    the first step whenever it is close.
    """
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    want = chains * walkers
    cov = _OVERDISPERSION**2 * mode.covariance
    kept = np.empty((0, len(lo)))
    # Were the posterior the normal, a start drawn this wide would lie below the mode by
    # c^2 chi2_P / 2 in log density; one far lower than that quantile is in another basin.
    from scipy.stats import chi2

    floor = mode.log_posterior - _OVERDISPERSION**2 * chi2.ppf(_START_LEVEL, len(lo)) / 2
    for _ in range(100):  # the box holds most of the normal; redraw what falls outside
        draws = rng.multivariate_normal(mode.z, cov, size=2 * want)
        inside = np.all((draws > lo) & (draws < hi), axis=1)
        draws = draws[inside]
        if logp is not None and len(draws):
            draws = draws[logp(draws) >= floor]
        kept = np.vstack([kept, draws])
        if len(kept) >= want:
            break
    if len(kept) < want:  # a mode in a corner of the box: the rest on its edges
        extra = rng.multivariate_normal(mode.z, cov, size=want - len(kept))
        kept = np.vstack([kept, np.clip(extra, lo + 1e-9, hi - 1e-9)])
    return [kept[c * walkers : (c + 1) * walkers] for c in range(chains)]


# How much wider than the Laplace approximation the chains start, in standard deviations.
_OVERDISPERSION = 2.0
_START_LEVEL = 0.99
# Points along each axis of the Laplace approximation where its width is measured.
_WIDTH_STEPS = 48
# The progress key of the mode search; the chains report under their index.
_MODE_KEY = -1
# Differential evolution's population, per parameter (12 x 13 = 156 members).
_POPSIZE = 12
# Draws each chain keeps after burn-in (thinned to about this many steps): the posterior file
# stays small while the draws still span the kept part of every chain.
_KEEP_STEPS = 50
# Draws the posterior file keeps at most, whatever the walkers: what scenarios and the fit's bands
# resample from (a few hundred each), while the file stays about 1.5 MB. The diagnostics use
# every walker's kept steps.
_KEEP_DRAWS = 6400


@dataclass(frozen=True)
class _ChainResult:
    kept: NDArray[np.float64]  # (steps kept, walkers, parameters) in z, after burn-in, thinned
    acceptance: float
    tau: float  # largest integrated autocorrelation time over parameters, in steps


def _chain(
    inputs: FlowInputs,
    observed: Observed,
    years: tuple[int, ...],
    start: NDArray[np.float64],
    steps: int,
    burn: int,
    thin: int,
    seed: int,
    tick: _Tick | None,
) -> _ChainResult:
    """One chain: an emcee ensemble of ``len(start)`` walkers from ``start`` for ``steps`` steps,
    the first ``burn`` discarded."""
    import emcee  # type: ignore[import-untyped]

    walkers, ndim = start.shape

    def logp(z: NDArray[np.float64]) -> NDArray[np.float64]:
        return log_posterior(z, inputs, observed, years)

    sampler = emcee.EnsembleSampler(walkers, ndim, logp, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    every = max(1, steps // 100)
    for done, _ in enumerate(sampler.sample(start, iterations=steps), start=1):
        if tick is not None and (done % every == 0 or done == steps):
            tick(done)
    kept = sampler.get_chain(discard=burn, thin=thin)
    # emcee logs a warning when the chain is short; the time is recorded and printed instead.
    emcee_log = logging.getLogger("emcee")
    level = emcee_log.level
    emcee_log.setLevel(logging.ERROR)
    try:
        # A chain too short to say gives NaN (emcee divides by a zero autocovariance).
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = np.asarray(sampler.get_autocorr_time(discard=burn, quiet=True))
    finally:
        emcee_log.setLevel(level)
    return _ChainResult(
        kept=np.asarray(kept),
        acceptance=float(np.mean(sampler.acceptance_fraction)),
        tau=float(np.nanmax(tau)) if np.isfinite(tau).any() else math.nan,
    )


@dataclass(frozen=True)
class Convergence:
    """ArviZ's diagnostics per parameter over the chains' kept draws."""

    r_hat: NDArray[np.float64]  # rank-normalised split R-hat over the chains
    ess_bulk: NDArray[np.float64]  # effective sample sizes, every walker read as a chain
    ess_tail: NDArray[np.float64]


def convergence(kept: list[NDArray[np.float64]]) -> Convergence:
    """Rank-normalised split R-hat and bulk and tail effective sample sizes (ArviZ) of chains of
    kept draws, each (steps, walkers, parameters).

    R-hat compares the chains, each its ensemble's draws in step order, and the halves of each:
    chains that settle in different parts of the posterior, or drift, raise it. The effective
    sample sizes read every walker as a chain, as ArviZ reads an emcee sampler, so that walkers
    slow to move count for few draws.
    """
    # ArviZ's stats pull in scipy.stats and signal (a second or more), kept off `--help`.
    from arviz_stats.base.array import array_stats

    stats: Any = array_stats  # arviz-stats ships no annotations
    n = min(len(k) for k in kept)
    ndim = kept[0].shape[2]
    if n < 4:  # split R-hat halves each chain; too few draws to say anything
        nan = np.full(ndim, np.nan)
        return Convergence(nan, nan, nan)
    chains = np.stack([k[-n:].reshape(-1, ndim) for k in kept])  # (chains, draws, parameters)
    walkers = np.concatenate([np.swapaxes(k[-n:], 0, 1) for k in kept])
    return Convergence(
        np.asarray(stats.rhat(chains, chain_axis=0, draw_axis=1), dtype=np.float64),
        np.asarray(stats.ess(walkers, chain_axis=0, draw_axis=1), dtype=np.float64),
        # The tails at the ends of the 90% intervals the fit reports.
        np.asarray(
            stats.ess(walkers, chain_axis=0, draw_axis=1, method="tail", prob=(0.05, 0.95)),
            dtype=np.float64,
        ),
    )


def calibrate(
    inputs: FlowInputs,
    observed: Observed,
    years: tuple[int, ...],
    *,
    seed: int = 0,
    chains: int = 4,
    walkers: int = 32,
    steps: int = 400,
    generations: int = 150,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
) -> Posterior:
    """Posterior of the flow parameters given the counts of ``years``.

    One mode search (``find_mode``: differential evolution, then L-BFGS-B, then the curvature
    at the top) runs first; each chain's walkers are drawn from its Laplace approximation, and
    the chains (one task each) differ by their starts and their own MCMC draws. The first half of
    each chain is burn-in; R-hat and the effective sample sizes are ArviZ's, over the rest (see
    ``convergence``). Tasks run on ``scheduler``: None for a local Dask cluster of processes (one
    per chain, up to the cores), ``"tcp://HOST:PORT"`` for a running Dask scheduler, ``"sync"``
    to run them here one after the other. ``progress`` sees the search's generations, then the
    chains' steps as the tasks report them.
    """
    if walkers < 2 * len(inputs.config.priors):
        raise ValueError(
            f"walkers must be at least {2 * len(inputs.config.priors)} (2 per parameter)"
        )
    if chains < 1 or steps < 2:
        raise ValueError("chains must be >= 1 and steps >= 2")
    if generations < 1:
        raise ValueError("generations must be >= 1")
    say = progress or (lambda _p: None)
    # The likelihood reads nothing after December of the last fitted year (counts and stock
    # estimates up to it), so every run of the search and the chains stops there.
    inputs = inputs.through(max(years))
    mode_seed, *chain_seeds = np.random.SeedSequence(seed).generate_state(chains + 1).tolist()
    burn = steps // 2
    thin = max(1, (steps - burn) // _KEEP_STEPS)
    done: dict[int, int] = {}

    def on_tick(key: int, n: int) -> None:
        if key == _MODE_KEY:
            say(FitProgress("mode search", n, generations))
            return
        done[key] = n
        say(FitProgress("sampling", sum(done.values()), chains * steps))

    with TaskRunner(scheduler, workers=chains, on_tick=on_tick) as runner:
        say(FitProgress("mode search", 0, generations))
        [mode] = runner.map(
            find_mode,
            [(inputs, observed, years)],
            kwargs={
                "seed": int(mode_seed),
                "generations": generations,
                "tick": runner.tick(_MODE_KEY),
            },
        )
        starts = _starts(
            mode,
            chains,
            walkers,
            _bounds(inputs),
            np.random.default_rng(mode_seed),
            lambda z: log_posterior(z, inputs, observed, years),
        )
        say(FitProgress("sampling", 0, chains * steps))
        args = [
            (inputs, observed, years, start, steps, burn, thin, int(s), runner.tick(c))
            for c, (start, s) in enumerate(zip(starts, chain_seeds, strict=True))
        ]
        results: list[_ChainResult] = runner.map(_chain, args)
    kept = [r.kept for r in results]
    diag = convergence(kept)
    draws = np.concatenate([k.reshape(-1, k.shape[2]) for k in kept])
    if len(draws) > _KEEP_DRAWS:
        # Evenly over the chains, their kept steps and walkers, in order.
        draws = draws[np.linspace(0, len(draws) - 1, _KEEP_DRAWS).round().astype(np.int64)]
    x = np.column_stack([p.to_x(draws[:, j]) for j, p in enumerate(inputs.config.priors)])
    names = inputs.config.names

    def per_parameter(values: NDArray[np.float64], digits: int | None) -> dict[str, float | None]:
        return {
            n: None if not np.isfinite(v) else round(float(v), digits)
            for n, v in zip(names, values, strict=True)
        }

    meta = {
        "seed": seed,
        "chains": chains,
        "walkers": walkers,
        "steps": steps,
        "burn_in": burn,
        "thin": thin,
        "generations": generations,
        "acceptance": [round(r.acceptance, 3) for r in results],
        "autocorrelation_steps": [round(r.tau, 1) for r in results],
        "mode_log_posterior": round(mode.log_posterior, 3),
        "mode_search": {"generations": mode.generations, "polish_steps": mode.polish_steps},
        "r_hat_max": _largest(diag.r_hat, 3),
        "ess_bulk_min": _smallest(diag.ess_bulk),
        "ess_tail_min": _smallest(diag.ess_tail),
        "r_hat": per_parameter(diag.r_hat, 3),
        "ess_bulk": per_parameter(diag.ess_bulk, None),
        "parameters_file": inputs.config.file,
    }
    return Posterior(names, x, years, meta)


def _largest(values: NDArray[np.float64], digits: int) -> float | None:
    return None if np.isnan(values).all() else round(float(np.nanmax(values)), digits)


def _smallest(values: NDArray[np.float64]) -> int | None:
    return None if np.isnan(values).all() else round(float(np.nanmin(values)))


def predictive(
    inputs: FlowInputs,
    posterior: Posterior,
    *,
    draws: int = 300,
    seed: int = 0,
) -> tuple[FlowRun, NDArray[np.float64]]:
    """Model runs of up to ``draws`` posterior samples (with the reports' detail), and their
    parameter rows."""
    rng = np.random.default_rng(seed)
    n = len(posterior.samples)
    pick = rng.choice(n, size=min(draws, n), replace=False)
    x = posterior.samples[pick]
    return run_flows(inputs, x, detail=True), x


def noisy_totals(
    mu: NDArray[np.float64], cv: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Negative-binomial draws around ``mu`` (K, Y) with spread ``cv`` (K,): predicted counts."""
    r = 1 / cv[:, None] ** 2
    p = r / (r + np.maximum(mu, 1e-9))
    return rng.negative_binomial(np.broadcast_to(r, mu.shape), p).astype(np.float64)
