"""The flow model's fixed choices and vocabularies, importable without NumPy.

The CLI shows them in ``--help`` and checks its options against them before the slow work (the
transit tables, the fit), so they live here, once, and the model and the analysis import them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "FIT_FILE",
    "FLOWS_OUT",
    "LAST_OBSERVED",
    "LAST_YEAR",
    "NEVER_FIT",
    "POSTERIOR_FILE",
    "QUICK_CHAINS",
    "QUICK_STEPS",
    "QUICK_WALKERS",
    "R_HAT_OK",
    "SCENARIO_KEYS",
    "SCORE_YEARS",
    "SHARE_FROM",
    "TRANSIT_RUNS",
    "check_scenario",
    "convergence_warning",
    "parse_scenario_sets",
    "scenario_window",
]

# The scoring windows: totals over 2002-2019, women's share from 2006 (the years the
# ministry's split is stable and above 70%), and the years the COVID collapse must come from
# events, never fitted.
SCORE_YEARS = (2002, 2019)
SHARE_FROM = 2006
NEVER_FIT = (2020, 2022)
# The quick setting of `flows fit`: one mode search, then four chains of 600 steps, each an
# ensemble of 256 walkers from widened draws of its normal approximation, the first half burn-in;
# seeds 1-4 then meet the targets with R-hat below 1.1 (docs/design.md 16). The log posterior
# settles within 100 steps. The walkers are what makes the chains agree: a single walker crosses
# the posterior slowly (autocorrelation about 30 steps), so with 32 a chain's ensemble had not
# forgotten its start in 300 kept steps (R-hat 1.29 for seed 1 on one machine, 1.04 on another;
# 1.18 at 1,200 steps), while the model is vectorised over walkers, so 256 cost about 1.5 times 32.
QUICK_CHAINS = 4
QUICK_STEPS = 600
QUICK_WALKERS = 256
# R-hat at or above this: the chains disagree, and a fit says its intervals are not yet the
# posterior's (Vehtari et al. 2021 advise 1.01 for a final analysis; 1.1 is the quick setting's
# target). The command line and the dashboard both judge a fit by it.
R_HAT_OK = 1.1
# Journeys simulated for each month's transit figures (the share of journeys from China that
# arrive, are sent back or stay, and their lag). Their Monte Carlo error goes into every model run
# and so into the fit: with 4,000 the fit of one seed scored MAPE 15.2% on its own tables and 14.6%
# on another seed's (the posterior unchanged); ten times as many cut that error by about 3 and cost
# about 3 s once per command (design note 16). They are shared among the month's routes (about
# four from 1994 to 2019), whose mixture averages their errors.
TRANSIT_RUNS = 40_000
# The last year a projection may reach. The model needs transit tables for every month it runs
# (planner and simulator on the atlas, seconds per decade), and the atlas describes the present:
# a projection to the end of the century is already far past what it can say.
LAST_YEAR = 2100
# The model runs to the last observed year at least, so that fits are scored on every count.
LAST_OBSERVED = 2025
# Where `flows fit` writes by default, and the files a fit leaves there: the posterior (the marker
# of a folder holding a fit; scenarios and calibrated plans read it) and the fit's report.
FLOWS_OUT = Path("out/flows")
POSTERIOR_FILE = "posterior.json"
FIT_FILE = "fit.json"

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


def parse_scenario_sets(sets: Iterable[str]) -> dict[str, float]:
    """``KEY=FACTOR`` texts (``--set``) as a checked scenario; ValueError in one line."""
    values: dict[str, float] = {}
    for text in sets:
        match = re.fullmatch(r"\s*([a-z.]+)\s*=\s*([-+0-9.eE]+)\s*", text)
        if match is None:
            raise ValueError(
                f"cannot read --set {text!r} (write KEY=FACTOR, e.g. china.repatriation=0)"
            )
        try:
            values[match.group(1)] = float(match.group(2))
        except ValueError:
            raise ValueError(
                f"cannot read --set {text!r}: {match.group(2)!r} is not a number"
            ) from None
    check_scenario(values)
    return values


def scenario_window(start: str, years: int, start_year: int) -> tuple[dt.date, int]:
    """The first month of a projection (``YYYY-MM``) and the calendar year its last month is in.

    ValueError in one line naming the months the model covers, from January ``start_year`` (the
    flow model's first year) to December ``LAST_YEAR``.
    """
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", start)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"cannot read --from {start!r} (write YYYY-MM, e.g. 2026-01)")
    year = int(match.group(1))
    if not start_year <= year <= LAST_YEAR:
        raise ValueError(
            f"--from {start} is outside the model's range ({start_year}-01 to {LAST_YEAR}-12)"
        )
    when = dt.date(year, int(match.group(2)), 1)
    first = when.year * 12 + when.month - 1
    end_year = (first + 12 * years - 1) // 12
    if end_year > LAST_YEAR:
        raise ValueError(
            f"--from {start} + {years} years ends in {end_year}, outside the model's range "
            f"({start_year}-01 to {LAST_YEAR}-12)"
        )
    return when, end_year


def convergence_warning(meta: dict[str, object]) -> str | None:
    """What a fit's posterior ``meta`` says of its chains, as a warning, or None when they agree
    (largest R-hat below ``R_HAT_OK``). ``flows fit`` prints it; the dashboard shows it."""
    r_hat = meta.get("r_hat_max")
    steps = meta.get("steps")
    more = f" (e.g. {2 * steps})" if isinstance(steps, int) else ""
    if not isinstance(r_hat, int | float) or not math.isfinite(r_hat):
        return (
            "too few draws kept to tell whether the chains agree (no R-hat); run with more --steps"
        )
    if r_hat >= R_HAT_OK:
        return (
            f"the chains disagree (largest R-hat {r_hat} >= {R_HAT_OK}): the intervals are not "
            f"yet the posterior's; run again with more --steps{more}"
        )
    return None
