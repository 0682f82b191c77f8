"""The label-setting search compiled with numba, for large networks.

It follows ``search.pareto_search`` step for step (same order of settling, same dominance tests),
so both return the same itineraries; tests check it. Labels live in two flat tables, one of floats
(days, cost, risk, risk until safety) and one of integers (place, parent, move, waits in a row,
safe); the labels settled at a place form a linked list through ``nxt``. Importing this module
needs numba (the ``fast`` extra); ``search`` resolves ``auto`` to NumPy without it.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit
from numpy.typing import NDArray

# The move of a label that waited in place: the search's own constant (a global numba freezes).
from nkescape.routing.search import WAIT

# Columns of the float table and of the integer table.
T, COST, RISK, RISK_SAFE = 0, 1, 2, 3
NODE, PARENT, MOVE, WAITS, SAFE = 0, 1, 2, 3, 4
# Rows of the lower-bound table.
H_T, H_C, H_R = 0, 1, 2


@njit(cache=True)
def _index(month_starts: NDArray[np.float64], t: float) -> int:
    return int(np.searchsorted(month_starts, t, side="right")) - 1


@njit(cache=True)
def _waited_from(lab: int, other: int, li: NDArray[np.int64]) -> bool:
    """Whether label ``lab`` is label ``other`` after one or more waits in place."""
    walk = lab
    while walk != -1 and li[walk, MOVE] == WAIT:
        walk = li[walk, PARENT]
        if walk == other:
            return True
    return False


@njit(cache=True)
def _beaten(
    lab,
    lf,
    li,
    nxt,
    head,
    found,
    n_found,
    seasonal,
    wait_risk,
    wait_cost,
    month_starts,
    h,
    slack,
    max_waits,
):
    """Dominated at its place (allowing the other label to wait), or by a finished one."""
    v = li[lab, NODE]
    k_lab = _index(month_starts, lf[lab, T])
    o = head[v]
    while o != -1:
        if (
            lf[o, T] <= lf[lab, T] * slack
            and lf[o, COST] <= lf[lab, COST] * slack
            and lf[o, RISK] <= lf[lab, RISK] * slack
            and lf[o, RISK_SAFE] <= lf[lab, RISK_SAFE] * slack
            and (li[o, SAFE] == 1 or li[lab, SAFE] == 0)
        ):
            k_o = _index(month_starts, lf[o, T])
            if k_o == k_lab or not seasonal[v]:
                return True
            if k_lab - k_o <= max_waits and not _waited_from(lab, o, li):
                d = month_starts[k_lab] - lf[o, T]
                extra = 0.0 if li[o, SAFE] == 1 else d * wait_risk[v]
                if (
                    lf[o, COST] + d * wait_cost[v] <= lf[lab, COST] * slack
                    and lf[o, RISK] + d * wait_risk[v] <= lf[lab, RISK] * slack
                    and lf[o, RISK_SAFE] + extra <= lf[lab, RISK_SAFE] * slack
                ):
                    return True
        o = nxt[o]
    for i in range(n_found):
        f = found[i]
        if (
            li[f, SAFE] == 1
            and lf[f, T] <= (lf[lab, T] + h[H_T, v]) * slack
            and lf[f, COST] <= (lf[lab, COST] + h[H_C, v]) * slack
            and lf[f, RISK] <= (lf[lab, RISK] + h[H_R, v]) * slack
            and lf[f, RISK_SAFE] <= lf[lab, RISK_SAFE] * slack
        ):
            return True
    return False


@njit(cache=True)
def _offer(
    n,
    heap,
    counter,
    lf,
    li,
    nxt,
    head,
    found,
    n_found,
    seasonal,
    wait_risk,
    wait_cost,
    month_starts,
    h,
    slack,
    max_waits,
    max_days,
    budget,
):
    """Queue label ``n`` unless a limit or dominance rules it out; return the new counter."""
    w = li[n, NODE]
    if lf[n, T] + h[H_T, w] > max_days or lf[n, COST] + h[H_C, w] > budget:
        return counter
    if _beaten(
        n,
        lf,
        li,
        nxt,
        head,
        found,
        n_found,
        seasonal,
        wait_risk,
        wait_cost,
        month_starts,
        h,
        slack,
        max_waits,
    ):
        return counter
    counter += 1
    key_t = lf[n, T] + h[H_T, w]
    key_r = lf[n, RISK] + h[H_R, w]
    key_c = lf[n, COST] + h[H_C, w]
    heapq.heappush(heap, (key_t, key_r, key_c, counter, n))
    return counter


@njit(cache=True)
def run(
    indptr,
    out_legs,
    leg_to,
    days,
    cost,
    risk,
    is_open,
    safe,
    seasonal,
    wait_risk,
    wait_cost,
    month_starts,
    start_month0,
    source,
    target,
    h,
    max_days,
    budget,
    slack,
    max_waits,
    capacity,
):
    """Search; return (labels at the target or -1 if ``capacity`` ran out, lf, li, found)."""
    lf = np.zeros((capacity, 4), np.float64)
    li = np.zeros((capacity, 5), np.int64)
    nxt = np.full(capacity, -1, np.int64)
    head = np.full(len(safe), -1, np.int64)
    found = np.empty(capacity, np.int64)
    n_found = 0
    li[0, NODE] = source
    li[0, PARENT] = -1
    li[0, SAFE] = 1 if safe[source] else 0
    n = 1
    counter = 0
    heap = [(h[H_T, source], h[H_R, source], 0.0, 0, 0)]
    while len(heap) > 0:
        lab = heapq.heappop(heap)[4]
        if _beaten(
            lab,
            lf,
            li,
            nxt,
            head,
            found,
            n_found,
            seasonal,
            wait_risk,
            wait_cost,
            month_starts,
            h,
            slack,
            max_waits,
        ):
            continue
        v = li[lab, NODE]
        nxt[lab] = head[v]
        head[v] = lab
        if v == target:
            found[n_found] = lab
            n_found += 1
            continue
        k = _index(month_starts, lf[lab, T])
        m = (start_month0 + k) % 12
        was_safe = li[lab, SAFE] == 1
        for i in range(indptr[v], indptr[v + 1]):
            j = out_legs[i]
            w = leg_to[j]
            if not is_open[m, j] or np.isinf(h[H_T, w]):
                continue
            if n >= capacity:
                return -1, lf, li, found
            lf[n, T] = lf[lab, T] + days[m, j]
            lf[n, COST] = lf[lab, COST] + cost[m, j]
            lf[n, RISK] = lf[lab, RISK] + risk[m, j]
            lf[n, RISK_SAFE] = lf[lab, RISK_SAFE] + (0.0 if was_safe else risk[m, j])
            li[n, NODE] = w
            li[n, PARENT] = lab
            li[n, MOVE] = j
            li[n, WAITS] = 0
            li[n, SAFE] = 1 if was_safe or safe[w] else 0
            before = counter
            counter = _offer(
                n,
                heap,
                counter,
                lf,
                li,
                nxt,
                head,
                found,
                n_found,
                seasonal,
                wait_risk,
                wait_cost,
                month_starts,
                h,
                slack,
                max_waits,
                max_days,
                budget,
            )
            n += counter - before
        if seasonal[v] and li[lab, WAITS] < max_waits and k + 1 < len(month_starts):
            if n >= capacity:
                return -1, lf, li, found
            d = month_starts[k + 1] - lf[lab, T]
            lf[n, T] = month_starts[k + 1]
            lf[n, COST] = lf[lab, COST] + d * wait_cost[v]
            lf[n, RISK] = lf[lab, RISK] + d * wait_risk[v]
            lf[n, RISK_SAFE] = lf[lab, RISK_SAFE] + (0.0 if was_safe else d * wait_risk[v])
            li[n, NODE] = v
            li[n, PARENT] = lab
            li[n, MOVE] = WAIT
            li[n, WAITS] = li[lab, WAITS] + 1
            li[n, SAFE] = li[lab, SAFE]
            before = counter
            counter = _offer(
                n,
                heap,
                counter,
                lf,
                li,
                nxt,
                head,
                found,
                n_found,
                seasonal,
                wait_risk,
                wait_cost,
                month_starts,
                h,
                slack,
                max_waits,
                max_days,
                budget,
            )
            n += counter - before
    return n_found, lf, li, found
