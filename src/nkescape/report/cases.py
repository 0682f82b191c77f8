"""The documented cases through the model: each case walked on its dates, and the chance of its end.

A case (``cases.yaml``) names a path of places, a year and sometimes months. :func:`walk_case`
finds, hop by hop and in order through the case's days, a leg the planner's network has open on
that day for the case's profile: in use that year and month, allowed to the profile, and not shut
by an event in force on the day (``routing.events_in_force``, through ``build_network``, the same
network the planner searches). :func:`case_rows` simulates journeys along the legs found and reads
off the share that ends as the case did; :func:`cases_markdown` writes ``docs/cases.md``.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from nkescape.atlas import Atlas, bundled_atlas
from nkescape.atlas.schema import Case
from nkescape.routing.build import Built, build_network, events_in_force
from nkescape.routing.planner import Itinerary, plan
from nkescape.routing.query import MAX_GROUP, Funding, Group, PlanError, Query
from nkescape.simulate import OUTCOMES, simulate, wilson

__all__ = [
    "RUNS",
    "SEED",
    "CaseError",
    "CaseRow",
    "Walk",
    "case_days",
    "case_group",
    "case_rows",
    "cases_markdown",
    "planned_itinerary",
    "rows_markdown",
    "walk_case",
]

# Journeys simulated per case: the 95% interval of a share is then at most about +-0.7 points
# (Wilson, p = 0.5), finer than the one decimal the table prints; and all cases take a few
# seconds, so the test that compares docs/cases.md with this generator stays quick.
RUNS = 20_000
# One seed for the whole table, so that it is the same on every machine (with the NumPy kernel).
SEED = 17
# The NumPy kernel is the reference; numba draws differently, and the table must not depend on
# which one happens to be installed.
BACKEND = "numpy"
# Where docs/cases.md lives in a checkout, for the command and the drift test.
DOC = Path(__file__).resolve().parents[3] / "docs" / "cases.md"


class CaseError(ValueError):
    """A case whose path cannot be walked on its dates, naming each hop that fails."""


@dataclass(frozen=True)
class Walk:
    """The legs a case took, hop by hop, and the day each hop was open."""

    case: str
    legs: tuple[str, ...]
    days: tuple[dt.date, ...]

    @property
    def start(self) -> dt.date:
        return self.days[0]


def case_days(case: Case) -> tuple[dt.date, ...]:
    """Every day of the case's months in its year, in calendar order; the whole year if none.

    Months that wrap the new year (``[12, 1, 2]``) are all read in the case's year: the atlas
    gives a case one year.

    Examples
    --------
    >>> case = Case.model_validate(
    ...     {"id": "c", "name": "c", "year": 2023, "months": [2], "people": 1, "profile": "p",
    ...      "channel": "ch", "path": ["a", "b"], "outcome": "reached-safety", "source": "s"}
    ... )
    >>> days = case_days(case)
    >>> len(days), days[0].isoformat(), days[-1].isoformat()
    (28, '2023-02-01', '2023-02-28')
    """
    months = sorted(set(case.months)) or list(range(1, 13))
    return tuple(
        dt.date(case.year, m, d)
        for m in months
        for d in range(1, calendar.monthrange(case.year, m)[1] + 1)
    )


def case_group(case: Case) -> Group:
    """Who the table plans as travelling together: the case's ``group`` when it gives one, else
    its people as adults in one party.

    Without a ``group``, a case of more people than the planner takes in one party
    (``MAX_GROUP``) is planned as one person: so many never travel together.
    """
    if case.group:
        return Group.parse(case.group)
    return Group(women=case.people if case.people <= MAX_GROUP else 1)


def _funding(case: Case) -> Funding:
    # An NGO rescue is paid by the NGO; everyone else pays their own way.
    return "ngo" if case.channel == "ngo-rescue" else "self"


def _query(case: Case, day: dt.date, group: Group | None = None) -> Query:
    return Query(
        origin=case.path[0],
        destination=case.path[-1],
        date=day,
        group=group or case_group(case),
        budget=None,
        profile=case.profile,
        funding=_funding(case),
    )


class _Networks:
    """The planner's network for a case on each day, built once per set of events in force."""

    def __init__(self, atlas: Atlas, case: Case) -> None:
        self.atlas, self.case = atlas, case
        self.built: dict[tuple[object, ...], Built] = {}

    def on(self, day: dt.date) -> Built:
        key = tuple((e.id, power) for e, power in events_in_force(self.atlas, day))
        if key not in self.built:
            self.built[key] = build_network(self.atlas, _query(self.case, day))
        return self.built[key]


def _hop_legs(atlas: Atlas, a: str, b: str) -> list[int]:
    c = atlas.compiled
    i, k = c.place_index[a], c.place_index[b]
    return [int(j) for j in c.legs_out(i) if c.leg_to[j] == k]


def walk_case(atlas: Atlas, case: Case) -> Walk:
    """The legs ``case`` took, each open on a day of the case no earlier than the hop before.

    At each hop the first such day is taken, and on it the case's own leg when it names one
    (``legs``, one per hop), else the open leg with the least risk (what the planner would
    prefer between the same two places).

    Raises
    ------
    CaseError
        Naming every hop with no leg open on any day left to it (the first failing hop is given
        the whole of the case's days, so later hops are checked as well).
    """
    c = atlas.compiled
    nets = _Networks(atlas, case)
    days = case_days(case)
    problems: list[str] = []
    legs: list[str] = []
    when: list[dt.date] = []
    first = 0  # index into days: a hop cannot be taken before the one before it
    # A case may name the leg of each hop (the sources give the mode: a swim, not the walk).
    named = case.legs
    for n_hop, (a, b) in enumerate(zip(case.path, case.path[1:], strict=False)):
        hops = _hop_legs(atlas, a, b)
        if named:
            hops = [j for j in hops if c.leg_ids[j] == named[n_hop]]
            if not hops:
                problems.append(f"{a} -> {b}: the case's leg {named[n_hop]!r} does not join them")
                continue
        if not hops:
            problems.append(f"{a} -> {b}: no leg joins them")
            continue
        found = None
        for n in range(first, len(days)):
            net = nets.on(days[n]).network
            m = days[n].month - 1
            open_here = [j for j in hops if net.open[m, j]]
            if open_here:
                found = n, min(open_here, key=lambda j: float(net.risk[m, j]))
                break
        if found is None:
            span = f"{days[first].isoformat()}..{days[-1].isoformat()}"
            names = ", ".join(c.leg_ids[j] for j in hops)
            problems.append(
                f"{a} -> {b}: none of {names} is open to {case.profile} on {span} (in use, "
                "season, events in force)"
            )
            continue
        first = found[0]
        legs.append(c.leg_ids[found[1]])
        when.append(days[found[0]])
    if problems:
        raise CaseError(f"case {case.id} ({case.year}): " + "; ".join(problems))
    return Walk(case.id, tuple(legs), tuple(when))


def planned_itinerary(atlas: Atlas, case: Case, walk: Walk) -> Itinerary | None:
    """The planner's itinerary along the walk's legs on its first day, if it offers one.

    The planner is asked from the path's start to its end with every other place avoided, so
    that only the path's places remain; of what it returns, the best-ranked itinerary that takes
    exactly the walk's legs (it may wait on the way for better conditions). None when the planner
    offers no such itinerary (another one on the same places dominates it).
    """
    avoid = tuple(p for p in atlas.places if p not in case.path)
    try:
        found = plan(
            atlas,
            case.path[0],
            case.path[-1],
            date=walk.start,
            group=case_group(case),
            profile=case.profile,
            funding=_funding(case),
            avoid=avoid,
        )
    except PlanError:
        return None
    for it in found.itineraries:
        if tuple(s.leg for s in it.legs) == walk.legs:
            return it
    return None


@dataclass(frozen=True)
class CaseRow:
    """One line of the table: a case, its walk, the simulated chance of its outcome and the
    planner's figures for the same legs (``planned`` is None when it offers no such itinerary)."""

    case: Case
    walk: Walk
    group: Group
    p_outcome: float
    ci95: tuple[float, float]
    p_safety: float
    runs: int
    planned: Itinerary | None
    wounded: float | None  # of the journeys that reach safety, the share wounded on the way


def _outcome_count(case: Case, outcomes: NDArray[np.int64]) -> int:
    # A case that ends in hiding stopped where it wanted to hide: reaching the end of its path
    # is its outcome, as reaching Seoul is for the others. Otherwise the simulator's own ending.
    name = "reached-destination" if case.outcome == "in-hiding" else case.outcome
    return int(outcomes[OUTCOMES.index(name)])


def _row(atlas: Atlas, case: Case, runs: int, seed: int) -> CaseRow:
    walk = walk_case(atlas, case)
    group = case_group(case)
    summary = simulate(
        atlas,
        list(walk.legs),
        query=_query(case, walk.start, group),
        runs=runs,
        seed=seed,
        backend=BACKEND,
        workers=1,
    )
    safety = case.outcome == "reached-safety"
    k = summary.safe if safety else _outcome_count(case, summary.outcomes)
    return CaseRow(
        case,
        walk,
        group,
        k / runs,
        wilson(k, runs),
        summary.p_reach_safety,
        runs,
        planned_itinerary(atlas, case, walk),
        summary.p_wounded_if_safe,
    )


def case_rows(atlas: Atlas, *, runs: int = RUNS, seed: int = SEED) -> list[CaseRow]:
    """Every case of ``atlas`` by year, walked and simulated with ``runs`` and ``seed``."""
    cases = sorted(atlas.cases.values(), key=lambda c: (c.year, min(c.months, default=0), c.id))
    return [_row(atlas, case, runs, seed) for case in cases]


def _months(case: Case) -> str:
    return ",".join(calendar.month_abbr[m] for m in case.months) if case.months else "-"


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def _lines(rows: Sequence[CaseRow]) -> Iterator[str]:
    yield (
        "| case | year | months | people (planned as) | channel | outcome | P(outcome) "
        "| 95% interval | P(safety) | planner: P(end), P(safety) | path |"
    )
    yield "|---|---|---|---|---|---|---|---|---|---|---|"
    for r in rows:
        c = r.case
        planned = r.group.label()
        shown = c.group is not None or r.group.size != c.people
        people = f"{c.people}" + (f" ({planned})" if shown else "")
        path = " → ".join(c.path)
        it = r.planned
        planner = "-"
        if it is not None:
            waits = " (waits)" if any(s.kind == "wait" for s in it.steps) else ""
            planner = f"{_pct(it.p_reach_destination)}, {_pct(it.p_reach_safety)}{waits}"
        safety = _pct(r.p_safety)
        if r.wounded and r.p_safety > 0:
            safety += f" ({_pct(r.wounded)} of them wounded)"
        yield (
            f"| `{c.id}` | {c.year} | {_months(c)} | {people} | {c.channel} | {c.outcome} "
            f"| {_pct(r.p_outcome)} | {_pct(r.ci95[0])} to {_pct(r.ci95[1])} "
            f"| {safety} | {planner} | {path} |"
        )


_HEAD = """\
# Documented cases through the model

Generated by `./scripts/cases-table` (`python -m nkescape.report.cases`) from
`src/nkescape/atlas/data/cases.yaml`; `tests/test_cases.py` fails when this file and the
generator disagree, so edit the cases or the generator, then run the script again.

Each case is a documented escape (or a failed one) written as a path through the atlas; the
notes in `cases.yaml` say which parts of each path the sources give and which are the project's
reading. For every case the table walks its path on its dates: at each hop the first day of the
case's months (the whole year when the sources give none) on which a leg between the two places
is open to the case's profile, in use that year, open that month and not shut by an event in
force that day, and on that day the open leg with the least risk. It then simulates
{runs:,} journeys along those legs with the simulator (seed {seed}, NumPy kernel), leaving on the
first hop's day, for the case's group and profile (an NGO rescue funded by the NGO, the others
paying their own way).

**What the probability means.** *P(outcome)* is the share of simulated journeys on that path
and date that end as the case did: *reached-destination* the end of its path (Seoul for most),
*reached-safety* any country that sends no one back, *repatriated* caught and sent back to the
North, *in-hiding* (a journey that stopped in China to hide) the end of its path. *P(safety)* is
the share that reaches a safe country at all, with the share of those wounded on the way where
a leg crosses under fire (the atlas's `p_wounded`, averaged, not drawn). They are the model's
chances for a group that sets out on that path then, not an estimate of how likely the case
was: a documented case is one that happened and was reported, and many journeys that failed
were never reported.

*Planner* gives, for comparison, the planner's own expected figures (the numbers `nkescape plan`
prints) for an itinerary along the same legs on the same day, found by planning from the path's
start to its end with every other place avoided: the chance of reaching the end of the path and
of reaching safety. They agree with the simulated shares within sampling error, except where
the planner chooses to wait for better conditions on the way ("waits"), which the walk does not;
"-" means the planner offers no itinerary on exactly those legs.

**Its uncertainty.** The 95% interval is the Wilson interval of the Monte Carlo share
({runs:,} runs): sampling error only. The larger uncertainty is the atlas's: every interception
probability, policy and duration is a sourced range (or a named judgement), and the simulator
draws from those ranges, so the share already averages over them, but it does not say how far
the share would move if a range were wrong. `nkescape plan` shows the planner's band for an
itinerary (`p_reach_safety_range`, every leg at the low and then the high end of its range).
*People (planned as)* is the case's count, and in brackets the party the table plans when the
case's `group` says who travelled together (the 2004 airlift's 468 came in small groups and are
planned as one person); without a `group`, its people as adults in one party, or one person for
a case of more than {max_group}.

"""


def cases_markdown(atlas: Atlas | None = None, *, runs: int = RUNS, seed: int = SEED) -> str:
    """The text of ``docs/cases.md`` for ``atlas`` (the bundled atlas by default)."""
    atlas = atlas or bundled_atlas()
    return rows_markdown(case_rows(atlas, runs=runs, seed=seed), seed=seed)


def rows_markdown(rows: Sequence[CaseRow], *, seed: int = SEED) -> str:
    """The text of ``docs/cases.md`` for rows already computed (with ``seed``)."""
    runs = rows[0].runs if rows else RUNS
    head = _HEAD.format(runs=runs, seed=seed, max_group=MAX_GROUP)
    sources = [
        f"- `{r.case.id}`: {r.case.name} ({', '.join(f'`{s}`' for s in r.case.source)})"
        for r in rows
    ]
    tail = "\n## The cases and their sources\n\nSource ids are those of `sources*.yaml`.\n\n"
    return head + "\n".join(_lines(rows)) + "\n" + tail + "\n".join(sources) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write docs/cases.md, or with ``--check`` say whether it is up to date (exit 1 if not)."""
    parser = argparse.ArgumentParser(
        prog="cases-table", description="Regenerate docs/cases.md from the atlas's cases."
    )
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=DOC, help=f"file to write (default {DOC})")
    args = parser.parse_args(argv)
    text = cases_markdown()
    if args.check:
        current = args.out.read_text("utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run ./scripts/cases-table", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, "utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
