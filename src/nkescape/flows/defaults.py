"""The flow model's fixed choices and vocabularies, importable without NumPy.

The CLI shows them in ``--help`` and checks its options against them before the slow work (the
transit tables, the fit), so they live here, once, and the model and the analysis import them.
"""

from __future__ import annotations

import math

__all__ = [
    "LAST_YEAR",
    "NEVER_FIT",
    "QUICK_CHAINS",
    "QUICK_STEPS",
    "SCENARIO_KEYS",
    "SCORE_YEARS",
    "SHARE_FROM",
    "check_scenario",
]

# The scoring windows: totals over 2002-2019, women's share from 2006 (the years the
# ministry's split is stable and above 70%), and the years the COVID collapse must come from
# events, never fitted.
SCORE_YEARS = (2002, 2019)
SHARE_FROM = 2006
NEVER_FIT = (2020, 2022)
# The quick setting of `flows fit`: one mode search, then four chains of 600 steps from widened
# draws of its normal approximation, the first half burn-in; seeds 1-4 then meet the targets with
# R-hat below 1.1 (docs/design.md 16). The log posterior settles within 100 steps.
QUICK_CHAINS = 4
QUICK_STEPS = 600
# The last year a projection may reach. The model needs transit tables for every month it runs
# (planner and simulator on the atlas, seconds per decade), and the atlas describes the present:
# a projection to the end of the century is already far past what it can say.
LAST_YEAR = 2100

# What a scenario can change, as factors (1 = as history went): key -> what it scales.
SCENARIO_KEYS = {
    "china.repatriation": "China sending back the North Koreans it catches (0 = it stops)",
    "border.control": "the odds of being stopped at the river crossing",
    "broker.fees": "broker prices",
    "ngo.funding": "NGO and church funded departures from China",
    "nk.outflow": "people setting out from North Korea",
}


def check_scenario(values: dict[str, float]) -> None:
    """ValueError in one line for a scenario the model cannot run."""
    unknown = sorted(set(values) - set(SCENARIO_KEYS))
    if unknown:
        raise ValueError(f"unknown scenario key {unknown[0]!r} (valid: {', '.join(SCENARIO_KEYS)})")
    for k, v in values.items():
        if not math.isfinite(v):
            raise ValueError(f"scenario {k}: give a finite factor (got {v})")
        if v < 0:
            raise ValueError(f"scenario {k}: factors cannot be negative (got {v:g})")
    if values.get("broker.fees", 1.0) == 0:
        raise ValueError("scenario broker.fees must be above 0 (free brokers: use e.g. 0.01)")
    if values.get("china.repatriation", 1.0) > 1:
        # The factor scales a share sent back; above 1 it would send back more than caught.
        raise ValueError("scenario china.repatriation must be between 0 and 1 (a share kept)")
