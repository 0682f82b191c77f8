"""An atlas with the flow model's posterior written back into it, for the planner and simulator.

One calibrated parameter is an atlas figure in disguise: ``hiding_catch_scale`` scales China's
daily risk of being found in hiding. Its posterior 90% interval replaces that estimate (as a
range, cited to the calibration and the original sources), so ``plan`` and ``simulate`` run on
a figure the arrival counts support. Everything else in the atlas is unchanged; the events'
factors keep their published ranges, since the model takes them at a setting, not from the
counts.

For parameter uncertainty (``nkescape.flows.uncertainty``) the same figure is written one
posterior draw at a time (``draw_atlas``, ``calibrated_atlases``): each atlas then holds that
draw's point value. Both forms write the scale through ``_write_scale``, the one place that
knows which estimate the parameter scales.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas, Estimate
from nkescape.flows.calibrate import Posterior

__all__ = [
    "CALIBRATION_SOURCE",
    "SCALE",
    "calibrated_atlas",
    "calibrated_atlases",
    "draw_atlas",
    "posterior_rows",
]

CALIBRATION_SOURCE = "nkescape-flow-calibration"
# The calibrated parameter that is an atlas figure: a factor on China's daily hiding risk.
SCALE = "hiding_catch_scale"
_LEVEL = 0.9


def _range(low: float, high: float, sources: tuple[str, ...], note: str) -> Estimate:
    refs = tuple(dict.fromkeys((CALIBRATION_SOURCE, *sources)))
    if np.isclose(low, high):
        return Estimate(value=low, source=refs, note=note)
    return Estimate(low=low, high=high, source=refs, note=note)


def _scale_column(posterior: Posterior) -> NDArray[np.float64]:
    if SCALE not in posterior.names:
        raise ValueError(
            f"the posterior has no parameter {SCALE!r} (it has {', '.join(posterior.names)}); "
            "fit the flow model again with the `flows fit` command"
        )
    return posterior.column(SCALE)


def _write_scale(atlas: Atlas, low: float, high: float, what: str, layer: str) -> Atlas:
    """``atlas`` with China's daily hiding risk set to its mean times ``low``-``high``.

    ``what`` says where the scale comes from (a 90% interval, one draw), in the estimate's note;
    ``layer`` names the change among the atlas's layers. ``low == high`` gives a point value.
    """
    if CALIBRATION_SOURCE not in atlas.sources:
        raise ValueError(f"the atlas has no source {CALIBRATION_SOURCE!r} to cite the calibration")
    policies = dict(atlas.policies)
    for pid, policy in atlas.policies.items():
        if policy.country != "CN" or policy.hiding is None:
            continue
        risk = policy.hiding.p_caught_per_day
        mean = risk.mean
        note = (
            f"Calibrated: the atlas's mean daily risk ({mean:.2g}) times the flow model's "
            f"{SCALE}, {what}."
        )
        hiding = policy.hiding.model_copy(
            update={
                "p_caught_per_day": _range(
                    min(mean * low, 1.0), min(mean * high, 1.0), risk.source, note
                )
            }
        )
        policies[pid] = policy.model_copy(update={"hiding": hiding})
    return dataclasses.replace(atlas, policies=policies, layers=(*atlas.layers, layer))


def calibrated_atlas(atlas: Atlas, posterior: Posterior) -> Atlas:
    """``atlas`` with China's hiding risk from ``posterior``: its 90% interval, as a range."""
    q = [(1 - _LEVEL) / 2, (1 + _LEVEL) / 2]
    scale_lo, scale_hi = (float(x) for x in np.quantile(_scale_column(posterior), q))
    return _write_scale(
        atlas,
        scale_lo,
        scale_hi,
        f"90% interval {scale_lo:.2g}-{scale_hi:.2g}",
        f"flow posterior ({len(posterior.samples)} draws)",
    )


def posterior_rows(
    posterior: Posterior, draws: int, seed: int | np.random.SeedSequence
) -> tuple[int, ...]:
    """Which ``draws`` samples (rows) of ``posterior`` to use, chosen reproducibly by ``seed``.

    The rows are the first ``draws`` of a random permutation of all of them, without
    repetition: the same seed gives the same rows, and asking for more draws keeps the first
    ones. ``draws`` may be at most the number of samples (all of them, in a random order).

    Raises
    ------
    ValueError
        For ``draws`` below 1 or above the number of samples, naming the limit.
    """
    n = len(posterior.samples)
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or not 1 <= draws <= n:
        raise ValueError(
            f"draws={draws!r}: the posterior has {n} samples, so ask for 1-{n} draws (or fit "
            "it again with more samples)"
        )
    order = np.random.default_rng(seed).permutation(n)
    return tuple(int(r) for r in order[: int(draws)])


def draw_atlas(atlas: Atlas, posterior: Posterior, row: int) -> Atlas:
    """``atlas`` with China's hiding risk at one posterior sample's scale (a point value).

    ``row`` is the sample's index in ``posterior.samples`` (see ``posterior_rows``).
    """
    column = _scale_column(posterior)
    if isinstance(row, bool) or not isinstance(row, int | np.integer) or not 0 <= row < len(column):
        raise ValueError(f"row {row!r}: the posterior has samples 0-{len(column) - 1}")
    scale = float(column[row])
    return _write_scale(
        atlas,
        scale,
        scale,
        f"posterior sample {row} of {len(column)}: {scale:.3g}",
        f"flow posterior (sample {row} of {len(column)})",
    )


def calibrated_atlases(
    atlas: Atlas, posterior: Posterior, *, draws: int, seed: int | np.random.SeedSequence
) -> tuple[Atlas, ...]:
    """``draws`` atlases, each with China's hiding risk at one posterior sample's point value.

    The samples are ``posterior_rows(posterior, draws, seed)``, in that order.

    Examples
    --------
    >>> from nkescape.atlas import bundled_atlas
    >>> from nkescape.flows.parameters import load_config
    >>> atlas = bundled_atlas()
    >>> names = load_config(atlas).names
    >>> samples = np.ones((4, len(names)))
    >>> samples[:, names.index(SCALE)] = [0.5, 1.0, 1.5, 2.0]
    >>> posterior = Posterior(names, samples, (2000,))
    >>> posterior_rows(posterior, 2, seed=2)
    (3, 2)
    >>> [a.layers[-1] for a in calibrated_atlases(atlas, posterior, draws=2, seed=2)]
    ['flow posterior (sample 3 of 4)', 'flow posterior (sample 2 of 4)']
    >>> first = calibrated_atlases(atlas, posterior, draws=2, seed=2)[0]
    >>> round(first.policies["china-2023"].hiding.p_caught_per_day.value, 6)  # 0.00165 x 2
    0.0033
    """
    return tuple(draw_atlas(atlas, posterior, r) for r in posterior_rows(posterior, draws, seed))
