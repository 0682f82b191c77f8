"""Multi-objective label-setting search (Martins' algorithm with A*-style bounds) on a Network.

A label is a partial itinerary at a place: days since departure, cost, risk to the destination
(``-log`` survival), risk until the first safe country, and whether it has reached one. Labels are
settled in lexicographic order of (days, risk, cost) plus lower bounds to the target; a label is
dropped when another at the same place dominates it, or when an itinerary already at the target
beats anything it could still become. Lower bounds come from three single-criterion reverse
Dijkstra runs (scipy), so they are exact per criterion and admissible together.

Itineraries are walks: a place may be passed twice, once before and once after reaching safety
(going on from a safe country back through a place already seen); within one phase a repeat is a
loop that only costs, and dominance removes it.

Time matters: a leg's figures are those of the calendar month in which the group reaches it, and
waiting in hiding until the next month is a move of its own, offered at places where some leg out
changes with the month (ice, high water), up to eleven months in a row. There, an earlier label
beats a later-month one only if it would still be ahead after waiting until that month; at places
whose legs never change, plain dominance applies. On networks without seasons the search is exact
(a property test compares it with enumeration); with seasons it can miss an itinerary that
reaches a later place in an earlier part of a month, see docs/design.md.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from nkescape.backends import INSTALL, BackendError, resolve
from nkescape.routing.network import MAX_WAITS, Network

__all__ = ["WAIT", "Label", "LowerBounds", "lower_bounds", "pareto_filter", "pareto_search"]

# The move of a label that waited in place until the next month.
WAIT = -1


@dataclass(frozen=True, slots=True)
class Label:
    """A partial itinerary ending at ``node``; ``parent`` and ``move`` rebuild it."""

    node: int
    t: float
    cost: float
    risk: float
    risk_safe: float
    safe: bool
    parent: Label | None
    move: int
    hit: bool = True  # whether it used a required leg (always, when none is required)

    def moves(self) -> list[tuple[int, int, float]]:
        """``(node the move starts from, leg index or WAIT, day it starts)`` from the start."""
        out: list[tuple[int, int, float]] = []
        label: Label | None = self
        while label is not None and label.parent is not None:
            out.append((label.parent.node, label.move, label.parent.t))
            label = label.parent
        out.reverse()
        return out


@dataclass(frozen=True, eq=False)
class LowerBounds:
    """Per node, the least days, cost and risk still needed to reach the target."""

    days: NDArray[np.float64]
    cost: NDArray[np.float64]
    risk: NDArray[np.float64]


def lower_bounds(net: Network, target: int) -> LowerBounds:
    """Exact single-criterion distances to ``target`` over legs open in any month."""
    usable = net.open.any(axis=0)
    leg_from = net.leg_from()[usable]
    leg_to = net.leg_to[usable]
    # Several legs may join the same two places: keep the least weight of each pair, since a
    # sparse matrix would add them up. The grouping is the same for all three criteria.
    order = np.lexsort((leg_to, leg_from))
    a, b = leg_from[order], leg_to[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    starts = np.flatnonzero(first)
    closed = ~net.open[:, usable][:, order]

    def to_target(table: NDArray[np.float64]) -> NDArray[np.float64]:
        if len(starts) == 0:
            out = np.full(net.n_nodes, np.inf)
            out[target] = 0.0
            return out
        weight = table[:, usable][:, order]
        weight = np.where(closed, np.inf, weight).min(axis=0)
        w_min = np.minimum.reduceat(weight, starts)
        # csgraph drops explicit zeros as "no edge"; a tiny floor keeps zero-weight legs.
        floor = np.finfo(np.float64).tiny
        graph = sp.csr_matrix(
            (np.maximum(w_min, floor), (b[starts], a[starts])), shape=(net.n_nodes, net.n_nodes)
        )
        dist: NDArray[np.float64] = dijkstra(graph, directed=True, indices=target)
        return dist

    return LowerBounds(to_target(net.days), to_target(net.cost), to_target(net.risk))


def _waits_in_a_row(label: Label) -> int:
    n = 0
    walk: Label | None = label
    while walk is not None and walk.move == WAIT:
        n += 1
        walk = walk.parent
    return n


def _waited_from(label: Label, other: Label) -> bool:
    """Whether ``label`` is ``other`` after one or more waits in place."""
    walk: Label | None = label
    while walk is not None and walk.move == WAIT:
        walk = walk.parent
        if walk is other:
            return True
    return False


def _dominates(a: Label, b: Label, slack: float = 1.0) -> bool:
    return (
        a.t <= b.t * slack
        and a.cost <= b.cost * slack
        and a.risk <= b.risk * slack
        and a.risk_safe <= b.risk_safe * slack
        and (a.safe or not b.safe)
        and (a.hit or not b.hit)
    )


def pareto_search(
    net: Network,
    source: int,
    target: int,
    *,
    max_days: float = math.inf,
    budget: float = math.inf,
    bounds: LowerBounds | None = None,
    epsilon: float = 0.0,
    backend: str = "auto",
    required: NDArray[np.bool_] | None = None,
) -> list[Label]:
    """Pareto-optimal itineraries from ``source`` to ``target`` (labels at the target).

    ``budget`` caps the expected cost, ``max_days`` the expected duration. With ``epsilon`` > 0 a
    label is also dropped when another is within a factor ``1 + epsilon`` of it in every
    criterion: the result is then an epsilon-Pareto set, far smaller on large graphs, in which
    every exact Pareto itinerary has one within that factor. ``epsilon=0`` is exact.

    ``backend`` is ``"numpy"`` (this module's plain-Python search), ``"numba"`` (the compiled
    kernel; the ``fast`` extra) or ``"auto"``: numba for networks of at least
    ``NUMBA_FROM_NODES`` places when it is installed (see ``nkescape.backends.resolve``; an
    explicit choice that cannot run is a ``BackendError``). Both give the same itineraries.

    ``required`` (a mask over legs) keeps only itineraries that use at least one of those legs,
    e.g. the entry legs of one channel; a label that has used one is better than one that has
    not, all else equal. The numba kernel knows nothing of required legs: it searches a network
    of two copies of every place, before and after a required leg, which gives the same
    itineraries (see ``_with_required``).
    """
    engine = resolve(backend, what="planner", small=net.n_nodes < NUMBA_FROM_NODES)
    slack = 1.0 + epsilon
    # The calendar reaches HORIZON_MONTHS ahead; a longer itinerary has no dates, so it is refused.
    max_days = min(max_days, net.calendar.month_starts[-1])
    lb = bounds if bounds is not None else lower_bounds(net, target)
    if engine.backend == "numba":
        return _search_numba(net, source, target, lb, max_days, budget, slack, required)
    h_t, h_c, h_r = lb.days.tolist(), lb.cost.tolist(), lb.risk.tolist()
    if math.isinf(h_t[source]):
        return []
    cal = net.calendar
    indptr, out_legs, leg_to = net.indptr.tolist(), net.out_legs.tolist(), net.leg_to.tolist()
    safe = net.safe.tolist()
    seasonal = (net.seasonal_nodes() & net.wait_ok).tolist()
    wait_risk, wait_cost = net.wait_risk_per_day.tolist(), net.wait_cost_per_day.tolist()
    rows: dict[int, tuple[list[float], list[float], list[float], list[bool]]] = {}

    def row(month: int) -> tuple[list[float], list[float], list[float], list[bool]]:
        # Tables are converted to lists one month at a time: a query meets few months.
        r = rows.get(month)
        if r is None:
            m = month - 1
            r = (
                net.days[m].tolist(),
                net.cost[m].tolist(),
                net.risk[m].tolist(),
                net.open[m].tolist(),
            )
            rows[month] = r
        return r

    settled: dict[int, list[Label]] = {}
    found: list[Label] = []
    counter = 0
    need = required.tolist() if required is not None else None
    start = Label(source, 0.0, 0.0, 0.0, 0.0, bool(safe[source]), None, 0, need is None)
    heap: list[tuple[float, float, float, int, Label]] = [(h_t[source], h_r[source], 0.0, 0, start)]

    def beaten(label: Label) -> bool:
        """Dominated at its node (allowing the other label to wait), or by a finished one."""
        node = label.node
        k_label = cal.index(label.t)
        for other in settled.get(node, ()):
            if not _dominates(other, label, slack):
                continue
            k_other = cal.index(other.t)
            if k_other == k_label or not seasonal[node]:
                # Same month, or a place whose legs never change: the same futures are open.
                return True
            # The other label could wait here until this one's month; it beats this one if it
            # would still be ahead after paying for the wait. This one may itself be that wait.
            if k_label - k_other > MAX_WAITS or _waited_from(label, other):
                continue
            d = cal.month_starts[k_label] - other.t
            if (
                other.cost + d * wait_cost[node] <= label.cost * slack
                and other.risk + d * wait_risk[node] <= label.risk * slack
                and other.risk_safe + (0.0 if other.safe else d * wait_risk[node])
                <= label.risk_safe * slack
            ):
                return True
        # A finished itinerary beats every completion of this label only if it reached safety:
        # a label not yet safe may still reach it.
        ht, hc, hr = h_t[node], h_c[node], h_r[node]
        for done in found:
            if (
                done.safe
                and done.t <= (label.t + ht) * slack
                and done.cost <= (label.cost + hc) * slack
                and done.risk <= (label.risk + hr) * slack
                and done.risk_safe <= label.risk_safe * slack
            ):
                return True
        return False

    def push(label: Label) -> None:
        nonlocal counter
        node = label.node
        if label.t + h_t[node] > max_days or label.cost + h_c[node] > budget:
            return
        if beaten(label):
            return
        counter += 1
        key = (label.t + h_t[node], label.risk + h_r[node], label.cost + h_c[node])
        heapq.heappush(heap, (*key, counter, label))

    while heap:
        label = heapq.heappop(heap)[-1]
        if beaten(label):
            continue
        node = label.node
        settled.setdefault(node, []).append(label)
        if node == target:
            if label.hit:
                found.append(label)
            continue
        month = cal.month(label.t)
        days, cost, risk, is_open = row(month)
        for i in range(indptr[node], indptr[node + 1]):
            j = out_legs[i]
            if not is_open[j]:
                continue
            w = leg_to[j]
            if math.isinf(h_t[w]):
                continue
            now_safe = label.safe or safe[w]
            push(
                Label(
                    w,
                    label.t + days[j],
                    label.cost + cost[j],
                    label.risk + risk[j],
                    label.risk_safe if label.safe else label.risk_safe + risk[j],
                    now_safe,
                    label,
                    j,
                    label.hit or (need is not None and need[j]),
                )
            )
        if seasonal[node] and _waits_in_a_row(label) < MAX_WAITS:
            t_next = cal.next_start(label.t)
            if t_next is not None:
                d = t_next - label.t
                push(
                    Label(
                        node,
                        t_next,
                        label.cost + d * wait_cost[node],
                        label.risk + d * wait_risk[node],
                        label.risk_safe + (0.0 if label.safe else d * wait_risk[node]),
                        label.safe,
                        label,
                        WAIT,
                        label.hit,
                    )
                )
    return pareto_filter(found)


# Below this many places the plain-Python search answers in milliseconds and compiling the numba
# kernel (seconds, once per machine) would cost more than it saves.
NUMBA_FROM_NODES = 2000


@dataclass(frozen=True, eq=False)
class _KernelNet:
    """The arrays the numba kernel searches, and how its places and legs map back to ``net``'s.

    Without required legs they are ``net``'s own. With them, every place ``v`` has two copies:
    ``v`` before a required leg has been used and ``v + n`` after. A leg ``j`` out of ``u``
    joins ``u`` to ``v`` (``v + n`` if ``j`` is required) and ``u + n`` to ``v + n`` as leg
    ``j + m``; the target is ``target + n``. The kernel's plain dominance then does what the
    Python search's ``hit`` does (a label that has used a required leg is never beaten by one
    that has not); the Python search also lets a label that has used one beat one that has not
    at the same place, which only removes labels sooner. At the target's first copy, as there,
    a label goes no further.
    """

    indptr: NDArray[np.int64]
    out_legs: NDArray[np.int64]
    leg_to: NDArray[np.int64]
    days: NDArray[np.float64]
    cost: NDArray[np.float64]
    risk: NDArray[np.float64]
    open: NDArray[np.bool_]
    safe: NDArray[np.bool_]
    waits: NDArray[np.bool_]  # places where a label may wait for the next month
    wait_risk: NDArray[np.float64]
    wait_cost: NDArray[np.float64]
    bounds: NDArray[np.float64]  # (3, places): lower bounds of days, cost and risk
    target: int
    n_places: int  # of ``net``: a kernel place ``k`` is ``net``'s place ``k % n_places``
    n_legs: int  # likewise for legs


def _kernel_net(
    net: Network, target: int, lb: LowerBounds, required: NDArray[np.bool_] | None
) -> _KernelNet:
    waits = net.seasonal_nodes() & net.wait_ok
    bounds = np.stack([lb.days, lb.cost, lb.risk])
    n, m = net.n_nodes, net.n_legs
    if required is None:
        return _KernelNet(
            net.indptr,
            net.out_legs,
            net.leg_to,
            net.days,
            net.cost,
            net.risk,
            net.open,
            net.safe,
            waits,
            net.wait_risk_per_day,
            net.wait_cost_per_day,
            bounds,
            target,
            n,
            m,
        )
    need = np.asarray(required, dtype=np.bool_)
    if need.shape != (m,):
        raise ValueError(f"required must be a mask over the {m} legs (got shape {need.shape})")
    before_open = net.open & (net.leg_from() != target)[None, :]
    before_waits = waits.copy()
    before_waits[target] = False
    return _KernelNet(
        np.concatenate([net.indptr, net.indptr[1:] + net.indptr[-1]]),
        np.concatenate([net.out_legs, net.out_legs + m]),
        np.concatenate([net.leg_to + n * need, net.leg_to + n]),
        np.concatenate([net.days, net.days], axis=1),
        np.concatenate([net.cost, net.cost], axis=1),
        np.concatenate([net.risk, net.risk], axis=1),
        np.concatenate([before_open, net.open], axis=1),
        np.concatenate([net.safe, net.safe]),
        np.concatenate([before_waits, waits]),
        np.concatenate([net.wait_risk_per_day, net.wait_risk_per_day]),
        np.concatenate([net.wait_cost_per_day, net.wait_cost_per_day]),
        np.concatenate([bounds, bounds], axis=1),
        target + n,
        n,
        m,
    )


def _search_numba(
    net: Network,
    source: int,
    target: int,
    lb: LowerBounds,
    max_days: float,
    budget: float,
    slack: float,
    required: NDArray[np.bool_] | None,
) -> list[Label]:
    try:
        from nkescape.routing import _kernel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BackendError(
            f"the numba kernel cannot be imported ({exc}): {INSTALL['numba']}"
        ) from exc
    if math.isinf(lb.days[source]):
        return []
    k = _kernel_net(net, target, lb, required)
    capacity = 1 << 16
    while True:
        n_found, lf, li, found = _kernel.run(
            k.indptr,
            k.out_legs,
            k.leg_to,
            k.days,
            k.cost,
            k.risk,
            k.open,
            k.safe,
            k.waits,
            k.wait_risk,
            k.wait_cost,
            np.asarray(net.calendar.month_starts),
            net.calendar.start.month - 1,
            source,
            k.target,
            k.bounds,
            max_days,
            budget,
            slack,
            MAX_WAITS,
            capacity,
        )
        if n_found >= 0:
            break
        capacity *= 4
    made: dict[int, Label] = {}

    def label(i: int) -> Label:
        chain = []
        while i != -1 and i not in made:
            chain.append(i)
            i = int(li[i, _kernel.PARENT])
        prev = made.get(i) if i != -1 else None
        for row in reversed(chain):
            t, cost, risk, risk_safe = (float(x) for x in lf[row])
            node, _, move, _, safe = (int(x) for x in li[row])
            hit = required is None or node >= k.n_places
            prev = Label(
                node % k.n_places,
                t,
                cost,
                risk,
                risk_safe,
                bool(safe),
                prev,
                move if move == WAIT else move % k.n_legs,
                hit,
            )
            made[row] = prev
        assert prev is not None
        return prev

    return pareto_filter([label(int(found[i])) for i in range(n_found)])


def _vector(a: Label) -> tuple[float, float, float, float, bool]:
    return (a.t, a.cost, a.risk, a.risk_safe, a.safe)


def pareto_filter(labels: list[Label]) -> list[Label]:
    """Labels no other strictly dominates; of labels with equal criteria, the first."""
    out: list[Label] = []
    seen: set[tuple[float, float, float, float, bool]] = set()
    for a in labels:
        v = _vector(a)
        if v in seen:
            continue
        if any(_dominates(b, a) and _vector(b) != v for b in labels):
            continue
        seen.add(v)
        out.append(a)
    return out
