"""The rules of a journey, written once: one leg from explicit draws, for every kernel.

A journey's leg (wait for the leg to open, the risk of being found while hiding, the draws of
duration, cost and interception, interception on odds, broker betrayal, what a capture leads to,
the running totals) is a function of the journey's state, the leg's parameters and a handful of
draws made beforehand. Every kernel calls the same function and differs only in how it loops and
where its draws come from: the NumPy kernel over arrays of journeys, the JAX kernel over device
arrays, the numba kernel one journey at a time, the adaptive kernel over journeys on different
legs. Since the rules take their draws as arguments, feeding every kernel the same draws must
give the same journeys, which the tests demand.

The functions are built by :func:`journey_rules` from an :class:`Ops`: the few elementwise
operations that differ between NumPy arrays, JAX arrays and numba scalars (a select, exp, a day's
index...). Everything else is arithmetic and comparison, which reads the same in all three. The
numba build compiles every rule (``Ops.jit``) and inlines it; a select there is a branch, which
LLVM turns back into a lazy one, so a duration is exponentiated only for journeys that use it.

What a draw is, per leg:

``u_wait``
    uniform: found while waiting for the leg (used only where the leg's start is dangerous);
``x_dur``, ``x_cost``, ``x_p``
    the leg's estimates' draws, by shape: unused for a point, a uniform for a range, a standard
    normal for a lognormal (:data:`nkescape.simulate.model.SHAPES`);
``u_caught``
    uniform: intercepted on the leg;
``u_betray``
    uniform: robbed, turned in or sold by the broker (used only on brokered legs);
``u_outcome``
    uniform: what the capture leads to (killed, sent back, handed to an embassy, released), or,
    for a journey found while hiding, killed or sent back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACTIVE",
    "DEAD",
    "DESTINATION",
    "DRAWS",
    "HIDING",
    "NUMPY",
    "OUTCOMES",
    "REPATRIATED",
    "SAFETY",
    "Ops",
    "Rules",
    "Tables",
    "journey_rules",
]

OUTCOMES = ("reached-destination", "reached-safety", "repatriated", "in-hiding", "dead")
ACTIVE, DESTINATION, SAFETY, REPATRIATED, HIDING, DEAD = -1, 0, 1, 2, 3, 4
# The draws of one leg, in the order ``Rules.leg`` takes them.
DRAWS = ("u_wait", "x_dur", "x_cost", "x_p", "u_caught", "u_betray", "u_outcome")
# Estimate shapes as kernel codes (``model.SHAPES`` maps the atlas's names to them).
POINT, RANGE, LOGNORMAL = 0, 1, 2


class Tables(NamedTuple):
    """A journey model's arrays as the rules read them (leg ``k`` is row ``k``).

    A named tuple of arrays so that numba and JAX take it as it is.
    """

    month_starts: Any  # (months + 1,): day each month since departure starts
    month_of_day: Any  # (days,): months since departure at each whole day
    calendar_of_day: Any  # (days,): calendar month (0-11) of each whole day
    not_before: Any  # (k,): planned wait: leg k starts no earlier than this day
    next_open: Any  # (k, 12): months to wait from each calendar month until leg k opens, -1 never
    dur: Any  # (k, 3): shape code, a, b (``model.SHAPES``)
    cost: Any
    p_int: Any
    dur_factor: Any  # (k, 12): what the question does to the leg's expected value, by month
    cost_factor: Any
    odds_factor: Any
    wait_hazard: Any  # (k,): per day of waiting at the leg's start
    wait_cost: Any  # (k,): US$ per day of waiting at the leg's start
    betrayal: Any  # (k, 3): robbed, turned in, sold
    p_killed: Any  # (k,): caught on leg k -> killed
    p_back: Any  # (k,): caught on leg k -> sent back (the killed included)
    p_embassy: Any  # (k,): caught on leg k -> handed to an embassy
    detention: Any  # (k,): days held when caught and not sent back
    to_safe: Any  # (k,): leg k ends in a safe country


@dataclass(frozen=True)
class Ops:
    """The operations that differ between array libraries (and numba's scalars).

    ``where(c, a, b)``: a where c else b; ``index(t, top)``: the whole day of ``t`` as an index,
    at most ``top``; ``clip(i, lo, hi)``: an index held in [lo, hi]; ``not_(c)``: logical not
    (``~`` is not one on a Python bool); ``at(table, k, i)``: ``table[k, i]``, leg ``k``'s
    entry for month ``i`` (``k`` one leg or one per journey); ``jit``: compiles a rule
    (identity for arrays).
    """

    where: Callable[..., Any]
    exp: Callable[..., Any]
    expm1: Callable[..., Any]
    isnan: Callable[..., Any]
    maximum: Callable[..., Any]
    index: Callable[..., Any]
    clip: Callable[..., Any]
    not_: Callable[..., Any]
    at: Callable[..., Any]
    jit: Callable[[Callable[..., Any]], Callable[..., Any]]


def _index_np(t: NDArray[np.float64], top: int) -> NDArray[np.int64]:
    out: NDArray[np.int64] = np.minimum(t, top).astype(np.int64)
    return out


def _same(f: Callable[..., Any]) -> Callable[..., Any]:
    return f


def _at(table: NDArray[Any], k: Any, i: Any) -> Any:
    return table[k, i]


NUMPY = Ops(
    where=np.where,
    exp=np.exp,
    expm1=np.expm1,
    isnan=np.isnan,
    maximum=np.maximum,
    index=_index_np,
    clip=np.clip,
    not_=np.logical_not,
    at=_at,
    jit=_same,
)


class Rules(NamedTuple):
    """The rules built for one kind of array (see :func:`journey_rules`)."""

    estimate: Callable[..., Any]
    scale_odds: Callable[..., Any]
    found_hiding: Callable[..., Any]
    hiding_outcome: Callable[..., Any]
    leg: Callable[..., Any]
    finish: Callable[..., Any]


def journey_rules(x: Ops) -> Rules:
    """The rules of a journey for the arrays (or scalars) of ``x``."""
    where, exp, expm1, isnan, maximum = x.where, x.exp, x.expm1, x.isnan, x.maximum
    index, clip, not_, at = x.index, x.clip, x.not_, x.at

    def estimate(params: Any, k: Any, draw: Any) -> Any:
        """Leg ``k``'s estimate from its draw: a point, a range's low + (high - low) u, or a
        lognormal's exp(mu + sigma z)."""
        code, a, b = params[k, 0], params[k, 1], params[k, 2]
        # exp only of a lognormal's argument: a range's bounds would overflow it.
        return where(
            code == LOGNORMAL,
            exp(where(code == LOGNORMAL, a + b * draw, 0.0)),
            where(code == RANGE, a + (b - a) * draw, a),
        )

    def scale_odds(p: Any, factor: Any) -> Any:
        """``p`` moved by ``factor`` through its odds (``atlas.estimate.scale_odds``); a certain
        capture stays certain."""
        return where(p >= 1.0, 1.0, p * factor / (1.0 - p + p * factor))

    def found_hiding(u: Any, hazard: Any, waited: Any) -> Any:
        """Found during ``waited`` days of hiding at a daily ``hazard``."""
        return u < -expm1(-hazard * waited)

    def hiding_outcome(u: Any, p_killed: Any, p_back: Any) -> Any:
        """The status of a journey found while hiding: the daily risk of hiding is of a capture
        that ends in a return or a death, so the country's policy decides only between the two
        (the killed's share of the returned and killed). Nobody found is released or handed to
        an embassy."""
        return where(u * p_back < p_killed, DEAD, REPATRIATED)

    estimate = x.jit(estimate)
    scale_odds = x.jit(scale_odds)
    found_hiding = x.jit(found_hiding)
    hiding_outcome = x.jit(hiding_outcome)

    def leg(
        m: Tables,
        k: Any,
        t: Any,
        spent: Any,
        t_safe: Any,
        u_wait: Any,
        x_dur: Any,
        x_cost: Any,
        x_p: Any,
        u_caught: Any,
        u_betray: Any,
        u_outcome: Any,
    ) -> tuple[Any, Any, Any, Any]:
        """Leg ``k`` for journeys at day ``t`` having spent ``spent`` (US$), safe since
        ``t_safe`` (NaN: not yet): ``(status, t, spent, t_safe)`` after it, status ACTIVE for
        those who go on."""
        top = m.month_of_day.shape[0] - 1
        last = m.month_starts.shape[0] - 1
        # When the leg can start: after a planned wait, and in a month when it is open.
        ta = maximum(t, m.not_before[k])
        day = index(ta, top)
        off = at(m.next_open, k, m.calendar_of_day[day])
        never = off < 0
        ta = where(off > 0, m.month_starts[clip(m.month_of_day[day] + off, 0, last)], ta)
        waited = ta - t
        spent = spent + waited * m.wait_cost[k]
        # Stranded by a leg that never opens: no capture, on the leg or while hiding.
        found = found_hiding(u_wait, m.wait_hazard[k], waited) & not_(never)
        going = not_(found | never)
        month = m.calendar_of_day[index(ta, top)]
        d = estimate(m.dur, k, x_dur) * at(m.dur_factor, k, month)
        c = estimate(m.cost, k, x_cost) * at(m.cost_factor, k, month)
        p = scale_odds(estimate(m.p_int, k, x_p), at(m.odds_factor, k, month))
        robbed, turned, sold = m.betrayal[k, 0], m.betrayal[k, 1], m.betrayal[k, 2]
        turned_in = (robbed <= u_betray) & (u_betray < robbed + turned)
        betrayed = going & (
            (u_betray < robbed)
            | ((robbed + turned <= u_betray) & (u_betray < robbed + turned + sold))
        )
        caught = going & ((u_caught < p) | turned_in)
        p_killed, p_back = m.p_killed[k], m.p_back[k]
        killed = caught & (u_outcome < p_killed)
        sent_back = caught & not_(killed) & (u_outcome < p_back)
        embassy = caught & not_(killed | sent_back) & (u_outcome < p_back + m.p_embassy[k])
        released = caught & not_(killed | sent_back | embassy)
        status = where(
            killed,
            DEAD,
            where(
                sent_back, REPATRIATED, where(embassy, DESTINATION, where(betrayed, HIDING, ACTIVE))
            ),
        )
        status = where(
            never, HIDING, where(found, hiding_outcome(u_outcome, p_killed, p_back), status)
        )
        stopped = status != ACTIVE
        spent = spent + where(going, c, 0.0)
        t = (
            ta
            + where(stopped & not_(embassy), 0.0, d)
            + where(released | embassy, m.detention[k], 0.0)
        )
        safe_now = (not_(stopped) & m.to_safe[k]) | embassy
        t_safe = where(safe_now & isnan(t_safe), t, t_safe)
        return status, t, spent, t_safe

    def finish(status: Any, t_safe: Any) -> Any:
        """The final status of a journey whose legs are done: one still under way has
        arrived; one that ended short of the destination after reaching safety counts as safe."""
        status = where(status == ACTIVE, DESTINATION, status)
        return where((status != DESTINATION) & not_(isnan(t_safe)), SAFETY, status)

    return Rules(estimate, scale_odds, found_hiding, hiding_outcome, x.jit(leg), x.jit(finish))
