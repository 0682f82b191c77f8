"""The planner and the simulator over draws of the flow model's posterior: parameter uncertainty.

``--parameters POSTERIOR`` alone plans and simulates on one calibrated atlas, whose China hiding
risk is the posterior's 90% range read as a range estimate (``calibrated_atlas``); the
simulator's intervals then cover sampling error alone. Here the same plan is run on K atlases,
each with one posterior sample's point value (``draw_atlas``), and the two kinds of uncertainty
are put side by side.

The plan is made once, on the calibrated atlas, and its itineraries (the same legs, and the
waits the planner chose) are then evaluated or simulated on every draw's atlas: re-planning per
draw could pick other legs, and the spread would then mix two routes. So pass the Plan made on
``calibrated_atlas(atlas, posterior)`` together with the uncalibrated ``atlas``.

**The simulator** (``simulate_over_posterior``) runs N journeys per draw, each draw from its own
child seed of the run's seed, and combines the draws by the law of total variance. For a share
(reaching safety, reaching the destination), with ``x_k`` of ``n_k`` journeys at draw k:

- ``sampling_variance`` is the mean over the draws of each draw's binomial variance, in its
  Jeffreys form ``p(1 - p) / (n + 2)`` with ``p = (x + 1/2) / (n + 1)`` (so that a draw where no
  journey succeeds still has one): the sampling error of one draw's N journeys, which is what a
  plain run of N journeys reports;
- ``parameter_variance`` is the variance across draws of their estimates less that sampling
  variance (which the spread of K estimates also holds), floored at 0: the spread the
  parameters themselves make;
- the 95% interval (``ci95``) is a Beta law with the draws' mean and the two variances
  together, and ``sampling_ci95`` the same law with the sampling variance alone; the combined
  interval is never narrower (it is widened to hold the sampling one);
- ``dominant`` is ``"parameters"`` when the parameter variance exceeds the sampling variance
  and the draws' estimates spread more than sampling alone would make them spread but once in
  a thousand times (Cochran's Q, ``spread_p_value`` below ``SPREAD_ALPHA``); otherwise
  ``"sampling"``. A few draws spread widely by chance alone (the estimates of 3 identical
  draws vary twice as much as sampling makes them one time in seven), so the spread must be
  clear, not just larger. "parameters" means more journeys will not narrow the interval and a
  tighter posterior would; "sampling", that more journeys narrow it (and would show the
  parameters' part, if there is one).

**The planner** (``plan_over_posterior``) gives expected values, with no sampling error, so its
spread across draws is the parameters' alone: for each itinerary, the central 95% of the
draws' figures (with few draws, about their range).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from nkescape import __version__
from nkescape.atlas import Atlas
from nkescape.flows.calibrate import Posterior
from nkescape.flows.calibrated import SCALE, draw_atlas, posterior_rows
from nkescape.routing import Itinerary, Plan
from nkescape.routing.build import Built, build_network
from nkescape.routing.outcome import Outcome, expected_outcomes
from nkescape.routing.search import WAIT

if TYPE_CHECKING:
    from nkescape.routing.query import Query
    from nkescape.simulate import SeedLike, Summary

__all__ = [
    "LEVEL",
    "PLAN_FIGURES",
    "POSTERIOR_PLAN_FORMAT",
    "SPREAD_ALPHA",
    "Dominant",
    "FigureSpread",
    "ItinerarySpread",
    "PosteriorPlan",
    "PosteriorSimulation",
    "ShareSpread",
    "itinerary_outcome",
    "plan_over_posterior",
    "share_spread",
    "simulate_over_posterior",
]

Dominant = Literal["sampling", "parameters"]

# The intervals' level, and the quantiles that bound them.
LEVEL = 0.95
_QUANTILES = ((1 - LEVEL) / 2, (1 + LEVEL) / 2)

# How rarely the draws may spread as much by sampling alone before the parameters are said to
# dominate: once in a thousand, so that draws the parameters do not move are almost never
# reported as moved by them (the claim tells the user to stop adding journeys).
SPREAD_ALPHA = 0.001

# The layout of ``PosteriorPlan.to_json``: raised when a key is renamed, removed or changes meaning.
POSTERIOR_PLAN_FORMAT = 1

# The planner's figures that the hiding risk moves, as the Itinerary names them; the planned
# days and full price (``days``, ``cost_usd``) are the legs' own and the same on every draw.
PLAN_FIGURES = ("p_reach_safety", "p_reach_destination", "expected_days", "expected_cost_usd")


def _check_draws(posterior: Posterior, draws: int) -> None:
    if isinstance(draws, int | np.integer) and not isinstance(draws, bool) and draws < 2:
        raise ValueError(
            f"draws={draws}: a spread across the posterior needs at least 2 draws (and at most "
            f"its {len(posterior.samples)} samples)"
        )


def _scales(posterior: Posterior, rows: Sequence[int]) -> tuple[float, ...]:
    column = posterior.column(SCALE)
    return tuple(float(column[r]) for r in rows)


def _beta_interval(mean: float, variance: float) -> tuple[float, float]:
    """The central ``LEVEL`` interval of the Beta law with this mean and variance.

    A variance a Beta law cannot have (``mean * (1 - mean)`` or more) gives (0, 1).
    """
    from scipy.stats import beta

    spread = mean * (1.0 - mean)
    if variance >= spread:
        return (0.0, 1.0)
    concentration = spread / variance - 1.0
    lo, hi = beta.ppf(_QUANTILES, mean * concentration, (1.0 - mean) * concentration)
    return (float(lo), float(hi))


@dataclass(frozen=True)
class ShareSpread:
    """A share (of journeys reaching safety, or the destination) over posterior draws.

    ``value`` is the share of all the draws' journeys; ``per_draw`` each draw's share;
    ``spread_p_value`` the chance that draws the parameters do not move would spread as much
    by sampling alone (Cochran's Q). See the module's docstring for the variances, the
    intervals and ``dominant``.
    """

    value: float
    ci95: tuple[float, float]
    sampling_ci95: tuple[float, float]
    sampling_variance: float
    parameter_variance: float
    spread_p_value: float
    per_draw: tuple[float, ...]

    @property
    def dominant(self) -> Dominant:
        """Which uncertainty is the larger: ``"parameters"`` or ``"sampling"``."""
        clear = self.spread_p_value < SPREAD_ALPHA
        larger = self.parameter_variance > self.sampling_variance
        return "parameters" if clear and larger else "sampling"

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci95": list(self.ci95),
            "sampling_ci95": list(self.sampling_ci95),
            "sampling_variance": self.sampling_variance,
            "parameter_variance": self.parameter_variance,
            "spread_p_value": self.spread_p_value,
            "dominant": self.dominant,
            "per_draw": list(self.per_draw),
        }


def share_spread(successes: Sequence[int], runs: Sequence[int]) -> ShareSpread:
    """Combine ``successes[k]`` of ``runs[k]`` journeys at each posterior draw k (at least 2).

    Examples
    --------
    Draws that agree within sampling error leave the interval to sampling:

    >>> same = share_spread([500, 510, 495, 505], [1000] * 4)
    >>> same.dominant, same.parameter_variance
    ('sampling', 0.0)
    >>> different = share_spread([200, 500, 800, 350], [1000] * 4)
    >>> different.dominant
    'parameters'
    >>> (lo, hi), (s_lo, s_hi) = different.ci95, different.sampling_ci95
    >>> lo < s_lo < s_hi < hi
    True
    """
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(runs, dtype=np.float64)
    if x.ndim != 1 or x.shape != n.shape or len(x) < 2:
        raise ValueError(
            "give the successes and runs of each draw, at least 2 draws, as two lists of the "
            f"same length (got {len(x)} and {len(n)})"
        )
    if (n <= 0).any() or (x < 0).any() or (x > n).any():
        raise ValueError("each draw needs runs > 0 and 0 <= successes <= runs")
    from scipy.stats import chi2

    shares = x / n
    jeffreys = (x + 0.5) / (n + 1.0)  # each draw's Jeffreys posterior mean
    within = jeffreys * (1.0 - jeffreys) / (n + 2.0)  # and its variance
    sampling = float(np.mean(within))
    parameters = max(0.0, float(np.var(jeffreys, ddof=1)) - sampling)
    weights = 1.0 / within
    pooled = float(np.sum(weights * jeffreys) / np.sum(weights))
    q = float(np.sum(weights * (jeffreys - pooled) ** 2))
    centre = float(np.mean(jeffreys))
    alone = _beta_interval(centre, sampling)
    lo, hi = _beta_interval(centre, sampling + parameters)
    return ShareSpread(
        value=float(x.sum() / n.sum()),
        ci95=(min(lo, alone[0]), max(hi, alone[1])),
        sampling_ci95=alone,
        sampling_variance=sampling,
        parameter_variance=parameters,
        spread_p_value=float(chi2.sf(q, len(x) - 1)),
        per_draw=tuple(float(s) for s in shares),
    )


def _draws_interval(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = np.quantile(np.asarray(values, dtype=np.float64), _QUANTILES)
    return (float(lo), float(hi))


# What each histogram is called in ``Summary.to_json`` and ``Summary.quantiles``.
_DISTRIBUTIONS = (
    ("days_to_safety", "safety"),
    ("days_to_destination", "destination"),
    ("cost_usd", "cost"),
)


@dataclass(frozen=True)
class PosteriorSimulation:
    """Journeys along one itinerary at each of K posterior draws, and the draws combined.

    ``summaries[k]`` ran on the atlas of posterior sample ``rows[k]`` (``draw_atlas``), whose
    China hiding scale is ``scales[k]``, from child ``k`` of the run's seed: to repeat it, pass
    ``numpy.random.SeedSequence(summary.seed, spawn_key=summary.spawn_key)``. ``pooled`` holds
    all the draws' journeys together (the mixture over the posterior), for the quantiles of days
    and cost and the plots.
    """

    rows: tuple[int, ...]
    scales: tuple[float, ...]
    samples: int  # the posterior's number of samples, of which ``rows`` were drawn
    summaries: tuple[Summary, ...]
    pooled: Summary
    p_reach_safety: ShareSpread
    p_reach_destination: ShareSpread

    @property
    def draws(self) -> int:
        return len(self.rows)

    @property
    def runs_per_draw(self) -> int:
        return self.summaries[0].runs

    def median_interval(self, what: str) -> tuple[float, float] | None:
        """The central 95% of the draws' medians of ``safety`` or ``destination`` days, or
        ``cost`` (None when some draw has no journey that got there)."""
        medians = [s.quantiles(what)["p50"] for s in self.summaries]
        known = [m for m in medians if m is not None]
        return _draws_interval(known) if len(known) == len(medians) else None

    def to_json(self) -> dict[str, Any]:
        """The pooled run in the layout of ``Summary.to_json`` (its ``runs``, funnel and
        quantiles are all the draws' journeys together), with the shares' ``ci95`` the combined
        intervals, their split, the draws' medians, and a ``posterior`` section."""
        data = self.pooled.to_json()
        data["p_reach_safety"] = self.p_reach_safety.to_json()
        data["p_reach_destination"] = self.p_reach_destination.to_json()
        for key, what in _DISTRIBUTIONS:
            interval = self.median_interval(what)
            data[key]["p50_across_draws"] = list(interval) if interval is not None else None
        data["posterior"] = {
            "parameter": SCALE,
            "draws": self.draws,
            "samples": self.samples,
            "runs_per_draw": self.runs_per_draw,
            "rows": list(self.rows),
            "scales": list(self.scales),
            "spawn_keys": [list(s.spawn_key) for s in self.summaries],
            "level": LEVEL,
            "method": (
                "each draw's journeys on an atlas with that posterior sample's hiding risk; "
                "shares combined by the law of total variance (sampling: the mean of the "
                "draws' Jeffreys binomial variances; parameters: the variance across draws "
                "less it), the interval a Beta law with that mean and variance; parameters "
                f"dominate when their variance is the larger and spread_p_value < {SPREAD_ALPHA}"
            ),
        }
        return data


def _pooled(summaries: Sequence[Summary]) -> Summary:
    from nkescape.simulate import Summary

    first = summaries[0]
    pooled = Summary(
        legs=first.legs,
        seed=first.seed,
        spawn_key=first.spawn_key[:-1],  # the run's own seed, of which each draw is a child
        kernel=first.kernel,
        device=first.device,
        chunk=first.chunk,
        query=first.query,
        itinerary=first.itinerary,
        p_wounded_if_safe=first.p_wounded_if_safe,
    )
    for s in summaries:
        pooled.add_aggregates(
            {
                "runs": s.runs,
                "outcomes": s.outcomes,
                "funnel": s.funnel,
                "safe": s.safe,
                "days_safety": s.days_safety,
                "days_destination": s.days_destination,
                "cost": s.cost,
            }
        )
    return pooled


def simulate_over_posterior(
    atlas: Atlas,
    posterior: Posterior,
    route: Plan | Itinerary | Sequence[str],
    itinerary: int | None = None,
    *,
    draws: int,
    runs: int,
    seed: SeedLike,
    query: Query | None = None,
    **simulate_kwargs: Any,
) -> PosteriorSimulation:
    """Simulate ``runs`` journeys at each of ``draws`` posterior samples, and combine them.

    Parameters
    ----------
    atlas
        The atlas *before* calibration (it must cite ``nkescape-flow-calibration``); each draw
        writes its own hiding risk into a copy of it.
    posterior
        The flow model's posterior (``load_posterior``).
    route, itinerary, query
        As for :func:`nkescape.simulate.simulate`: best a Plan made on
        ``calibrated_atlas(atlas, posterior)``. Its itinerary (the legs, and the waits the
        planner chose) is planned once and the same legs are simulated on every draw's atlas.
    draws
        How many posterior samples (2 up to the number the posterior has), chosen by
        ``posterior_rows(posterior, draws, seed)``.
    runs
        Journeys per draw.
    seed
        As for ``simulate`` (see ``seed_sequence``): it chooses the samples, and draw k's
        journeys run from its child k, so the same seed gives the same result.
    **simulate_kwargs
        Passed to ``simulate`` for every draw (``backend``, ``device``, ``chunk``, ``workers``,
        ``progress``...).

    Raises
    ------
    ValueError
        For fewer than 2 draws or more than the posterior's samples, an atlas without the
        calibration's source, or what ``simulate`` refuses (``SimulationError``).

    Examples
    --------
    See ``tests/test_parameter_uncertainty.py``; the module's docstring explains the figures.
    """
    from nkescape.simulate import chunk_seed, seed_sequence, simulate

    _check_draws(posterior, draws)
    root = seed_sequence(seed)
    rows = posterior_rows(posterior, draws, root)
    summaries = tuple(
        simulate(
            draw_atlas(atlas, posterior, row),
            route,
            itinerary,
            runs=runs,
            seed=chunk_seed(root, k),
            query=query,
            **simulate_kwargs,
        )
        for k, row in enumerate(rows)
    )
    counts = [s.runs for s in summaries]
    return PosteriorSimulation(
        rows=rows,
        scales=_scales(posterior, rows),
        samples=len(posterior.samples),
        summaries=summaries,
        pooled=_pooled(summaries),
        p_reach_safety=share_spread([s.safe for s in summaries], counts),
        p_reach_destination=share_spread([int(s.outcomes[0]) for s in summaries], counts),
    )


def _moves(atlas: Atlas, built: Built, itinerary: Itinerary) -> list[tuple[int, int, float]]:
    """The itinerary as the search's moves: (place, leg index or WAIT, start day), one WAIT per
    month waited, as ``Label.moves`` gives them."""
    c = atlas.compiled
    cal = built.network.calendar
    steps = itinerary.steps
    moves: list[tuple[int, int, float]] = []
    for i, step in enumerate(steps):
        node = c.place_index[step.from_place]
        if step.kind != "wait":
            assert step.leg is not None
            moves.append((node, c.leg_index[step.leg], step.start_day))
            continue
        # A wait step is the months waited in a row, up to the next step's start (a month's).
        end = steps[i + 1].start_day if i + 1 < len(steps) else step.start_day + step.days
        t: float | None = step.start_day
        while t is not None and t < end:
            moves.append((node, WAIT, t))
            t = cal.next_start(t)
    return moves


def itinerary_outcome(atlas: Atlas, built: Built, itinerary: Itinerary) -> Outcome:
    """The planner's expected figures of ``itinerary`` (its legs and waits, on its days) on
    ``atlas``, whose network for the plan's question is ``built`` (``build_network``).

    On the atlas the itinerary was planned on, these are its own figures.
    """
    (outcome,) = expected_outcomes(atlas, built, _moves(atlas, built, itinerary))
    return outcome


def _figure(outcome: Outcome, name: str) -> float | None:
    return {
        "p_reach_safety": outcome.p_reach_safety,
        "p_reach_destination": outcome.p_reach_destination,
        "expected_days": outcome.days,
        "expected_cost_usd": outcome.cost_usd,
    }[name]


@dataclass(frozen=True)
class FigureSpread:
    """One planner figure of one itinerary: on the calibrated atlas, and at each draw."""

    planned: float | None
    per_draw: tuple[float | None, ...]

    @property
    def interval(self) -> tuple[float, float] | None:
        """The central 95% of the draws' figures (None when a draw has none: no arrivals)."""
        if any(v is None for v in self.per_draw):
            return None
        return _draws_interval([v for v in self.per_draw if v is not None])

    @property
    def median(self) -> float | None:
        if any(v is None for v in self.per_draw):
            return None
        return float(np.median([v for v in self.per_draw if v is not None]))

    def to_json(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "planned": self.planned,
            "median": self.median,
            "interval": list(interval) if interval is not None else None,
            "per_draw": list(self.per_draw),
        }


@dataclass(frozen=True)
class ItinerarySpread:
    """The planner's figures (``PLAN_FIGURES``) of the plan's itinerary ``rank`` over draws."""

    rank: int
    figures: dict[str, FigureSpread]

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, **{k: v.to_json() for k, v in self.figures.items()}}


@dataclass(frozen=True)
class PosteriorPlan:
    """A plan's itineraries evaluated on K posterior draws' atlases (``plan_over_posterior``).

    The figures are expected values, so there is no sampling error: the spread is the
    parameters' alone.
    """

    rows: tuple[int, ...]
    scales: tuple[float, ...]
    samples: int
    seed: int | tuple[int, ...]
    itineraries: tuple[ItinerarySpread, ...]

    @property
    def draws(self) -> int:
        return len(self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": POSTERIOR_PLAN_FORMAT,
            "nkescape_version": __version__,
            "parameter": SCALE,
            "draws": self.draws,
            "samples": self.samples,
            "seed": list(self.seed) if isinstance(self.seed, tuple) else self.seed,
            "rows": list(self.rows),
            "scales": list(self.scales),
            "level": LEVEL,
            "dominant": "parameters",
            "note": (
                "The planner's figures are expected values with no sampling error: the spread "
                "across draws is the parameters' alone (interval: the central 95% of the draws)."
            ),
            "itineraries": [it.to_json() for it in self.itineraries],
        }


def plan_over_posterior(
    atlas: Atlas,
    posterior: Posterior,
    result: Plan,
    *,
    draws: int,
    seed: SeedLike,
    top: int | None = None,
) -> PosteriorPlan:
    """The planner's figures of ``result``'s top itineraries at each of ``draws`` samples.

    Parameters
    ----------
    atlas
        The atlas before calibration (each draw writes its hiding risk into a copy).
    posterior
        The flow model's posterior.
    result
        The plan, made on ``calibrated_atlas(atlas, posterior)``: its itineraries keep their
        legs and waits, and are evaluated on every draw's atlas (``itinerary_outcome``).
    draws
        How many posterior samples (2 up to the number it has).
    seed
        Chooses the samples: the same seed chooses the same ones as ``simulate_over_posterior``.
    top
        The first ``top`` itineraries only (default: all).
    """
    from nkescape.simulate import seed_sequence

    _check_draws(posterior, draws)
    root = seed_sequence(seed)
    rows = posterior_rows(posterior, draws, root)
    chosen = result.itineraries[:top] if top is not None else result.itineraries
    per_draw: list[list[Outcome]] = []
    for row in rows:
        drawn = draw_atlas(atlas, posterior, row)
        built = build_network(drawn, result.query)
        per_draw.append([itinerary_outcome(drawn, built, it) for it in chosen])
    planned: dict[str, list[float | None]] = {
        "p_reach_safety": [it.p_reach_safety for it in chosen],
        "p_reach_destination": [it.p_reach_destination for it in chosen],
        "expected_days": [it.expected_days for it in chosen],
        "expected_cost_usd": [it.expected_cost_usd for it in chosen],
    }
    spreads = tuple(
        ItinerarySpread(
            rank=j + 1,
            figures={
                name: FigureSpread(
                    planned=planned[name][j],
                    per_draw=tuple(_figure(outcomes[j], name) for outcomes in per_draw),
                )
                for name in PLAN_FIGURES
            },
        )
        for j in range(len(chosen))
    )
    entropy = root.entropy
    seed_record: int | tuple[int, ...] = (
        entropy
        if isinstance(entropy, int)
        else tuple(int(v) for v in np.atleast_1d(np.asarray(entropy)))
    )
    return PosteriorPlan(
        rows=rows,
        scales=_scales(posterior, rows),
        samples=len(posterior.samples),
        seed=seed_record,
        itineraries=spreads,
    )
