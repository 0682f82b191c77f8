"""An atlas with the flow model's posterior written back into it, for the planner and simulator.

Two calibrated parameters are atlas figures in disguise: ``hiding_catch_scale`` scales China's
daily risk of being found in hiding, and ``event_severity`` places the events' price factors in
their published ranges. Their posterior 90% intervals replace those estimates (as ranges, cited
to the calibration and the original sources), so ``plan`` and ``simulate`` run on figures the
arrival counts support. Everything else in the atlas is unchanged.
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
    """``atlas`` with China's hiding risk and the events' price factors from ``posterior``."""
    if CALIBRATION_SOURCE not in atlas.sources:
        raise ValueError(f"the atlas has no source {CALIBRATION_SOURCE!r} to cite the calibration")
    q = [(1 - _LEVEL) / 2, (1 + _LEVEL) / 2]
    scale_lo, scale_hi = np.quantile(posterior.column("hiding_catch_scale"), q)
    sev_lo, sev_hi = np.quantile(posterior.column("event_severity"), q)

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

    events = dict(atlas.events)
    for eid, event in atlas.events.items():
        effects = []
        changed = False
        for effect in event.effects:
            factor = effect.cost_factor
            if factor is None or factor.shape == "point":
                effects.append(effect)
                continue
            lo, hi = factor.bounds
            note = (
                f"Calibrated: the published range {lo:.3g}-{hi:.3g} at the flow model's "
                f"event_severity, 90% interval {sev_lo:.2f}-{sev_hi:.2f}."
            )
            new = _range(lo + sev_lo * (hi - lo), lo + sev_hi * (hi - lo), factor.source, note)
            effects.append(effect.model_copy(update={"cost_factor": new}))
            changed = True
        if changed:
            events[eid] = event.model_copy(update={"effects": tuple(effects)})

    return dataclasses.replace(
        atlas,
        policies=policies,
        events=events,
        layers=(*atlas.layers, f"flow posterior ({len(posterior.samples)} draws)"),
    )
