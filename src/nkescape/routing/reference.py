"""Brute-force reference for the planner: every itinerary, then the Pareto filter.

Exponential in the size of the graph; it exists to check the label-setting search on small graphs
(tests) and to time it against (benchmarks). It follows the same rules: a leg's figures are those
of the month in which it is started, and waiting until the next month is offered at places where
some leg out changes with the month, up to eleven months in a row. Itineraries pass each place at
most once before and once after first reaching a safe country: a repeat within one phase is a
loop, which only adds days, cost and risk, so no Pareto-optimal itinerary has one.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from nkescape.routing.network import MAX_WAITS, Network
from nkescape.routing.search import WAIT, Label, pareto_filter

__all__ = ["brute_force_pareto"]


def brute_force_pareto(
    net: Network,
    source: int,
    target: int,
    *,
    max_days: float = math.inf,
    budget: float = math.inf,
    required: NDArray[np.bool_] | None = None,
) -> list[Label]:
    """All Pareto-optimal itineraries from ``source`` to ``target``, found by enumeration.

    With ``required`` (a mask over legs) only itineraries using one of those legs count; the
    phase of a place then also says whether such a leg has been used.
    """
    cal = net.calendar
    can_wait = net.seasonal_nodes() & net.wait_ok
    found: list[Label] = []

    def extend(label: Label, on_path: frozenset[tuple[int, bool, bool]], waits: int = 0) -> None:
        if label.t > max_days or label.cost > budget:
            return
        node = label.node
        if node == target:
            if label.hit:
                found.append(label)
            return
        m = cal.month(label.t) - 1
        for j in net.legs_out(node).tolist():
            if not net.open[m, j]:
                continue
            w = int(net.leg_to[j])
            now_safe = label.safe or bool(net.safe[w])
            now_hit = label.hit or (required is not None and bool(required[j]))
            if (w, now_safe, now_hit) in on_path:
                continue
            r = float(net.risk[m, j])
            extend(
                Label(
                    w,
                    label.t + float(net.days[m, j]),
                    label.cost + float(net.cost[m, j]),
                    label.risk + r,
                    label.risk_safe if label.safe else label.risk_safe + r,
                    now_safe,
                    label,
                    j,
                    now_hit,
                ),
                on_path | {(w, now_safe, now_hit)},
            )
        if can_wait[node] and waits < MAX_WAITS:
            t_next = cal.next_start(label.t)
            if t_next is not None:
                d = t_next - label.t
                wr = d * float(net.wait_risk_per_day[node])
                extend(
                    Label(
                        node,
                        t_next,
                        label.cost + d * float(net.wait_cost_per_day[node]),
                        label.risk + wr,
                        label.risk_safe + (0.0 if label.safe else wr),
                        label.safe,
                        label,
                        WAIT,
                        label.hit,
                    ),
                    on_path,
                    waits + 1,
                )

    safe = bool(net.safe[source])
    hit = required is None
    extend(Label(source, 0.0, 0.0, 0.0, 0.0, safe, None, 0, hit), frozenset({(source, safe, hit)}))
    return pareto_filter(found)
