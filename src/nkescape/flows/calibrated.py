"""An atlas with the flow model's posterior written back into it, for the planner and simulator.

One calibrated parameter is an atlas figure in disguise: ``hiding_catch_scale`` scales China's
daily risk of being found in hiding. Its posterior 90% interval replaces that estimate (as a
range, cited to the calibration and the original sources), so ``plan`` and ``simulate`` run on
a figure the arrival counts support. Everything else in the atlas is unchanged; the events'
factors keep their published ranges, since the model takes them at a setting, not from the
counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nkescape.atlas import Atlas, Estimate
from nkescape.flows.calibrate import Posterior

__all__ = ["CALIBRATION_SOURCE", "calibrated_atlas"]

CALIBRATION_SOURCE = "nkescape-flow-calibration"
_LEVEL = 0.9


def _range(low: float, high: float, sources: tuple[str, ...], note: str) -> Estimate:
    refs = tuple(dict.fromkeys((CALIBRATION_SOURCE, *sources)))
    if np.isclose(low, high):
        return Estimate(value=low, source=refs, note=note)
    return Estimate(low=low, high=high, source=refs, note=note)


def calibrated_atlas(atlas: Atlas, posterior: Posterior) -> Atlas:
    """``atlas`` with China's hiding risk from ``posterior``."""
    if CALIBRATION_SOURCE not in atlas.sources:
        raise ValueError(f"the atlas has no source {CALIBRATION_SOURCE!r} to cite the calibration")
    q = [(1 - _LEVEL) / 2, (1 + _LEVEL) / 2]
    scale_lo, scale_hi = np.quantile(posterior.column("hiding_catch_scale"), q)

    policies = dict(atlas.policies)
    for pid, policy in atlas.policies.items():
        if policy.country != "CN" or policy.hiding is None:
            continue
        risk = policy.hiding.p_caught_per_day
        mean = risk.mean
        note = (
            f"Calibrated: the atlas's mean daily risk ({mean:.2g}) times the flow model's "
            f"hiding_catch_scale, 90% interval {scale_lo:.2g}-{scale_hi:.2g}."
        )
        hiding = policy.hiding.model_copy(
            update={
                "p_caught_per_day": _range(
                    min(mean * scale_lo, 1.0), min(mean * scale_hi, 1.0), risk.source, note
                )
            }
        )
        policies[pid] = policy.model_copy(update={"hiding": hiding})

    return dataclasses.replace(
        atlas,
        policies=policies,
        layers=(*atlas.layers, f"flow posterior ({len(posterior.samples)} draws)"),
    )
