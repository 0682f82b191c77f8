"""The label-setting search compiled with numba, for large networks.

It follows ``search.pareto_search`` step for step (same order of settling, same dominance tests),
so both return the same itineraries; tests check it. Labels live in flat arrays; the labels
settled at a place form a linked list through ``nxt``. Importing this module needs numba (the
``fast`` extra); ``search`` falls back to plain Python without it.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit
from numpy.typing import NDArray

WAIT = -1


@njit(cache=True)
def _index(month_starts: NDArray[np.float64], t: float) -> int:
    return int(np.searchsorted(month_starts, t, side="right")) - 1


@njit(cache=True)
def run(
    indptr: NDArray[np.int64],
    out_legs: NDArray[np.int64],
    leg_to: NDArray[np.int64],
    days: NDArray[np.float64],
    cost: NDArray[np.float64],
    risk: NDArray[np.float64],
    is_open: NDArray[np.bool_],
    safe: NDArray[np.bool_],
    seasonal: NDArray[np.bool_],
    wait_risk: NDArray[np.float64],
    wait_cost: NDArray[np.float64],
    month_starts: NDArray[np.float64],
    start_month0: int,
    source: int,
    target: int,
    h_t: NDArray[np.float64],
    h_c: NDArray[np.float64],
    h_r: NDArray[np.float64],
    max_days: float,
    budget: float,
    slack: float,
    max_waits: int,
    capacity: int,
) -> tuple[
    int,
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.bool_],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
]:
    """Return (number of labels at the target or -1 if ``capacity`` ran out, label arrays...)."""
    n_nodes = len(safe)
    node_a = np.empty(capacity, np.int64)
    t_a = np.empty(capacity, np.float64)
    c_a = np.empty(capacity, np.float64)
    r_a = np.empty(capacity, np.float64)
    rs_a = np.empty(capacity, np.float64)
    s_a = np.empty(capacity, np.bool_)
    parent = np.empty(capacity, np.int64)
    move = np.empty(capacity, np.int64)
    waits = np.empty(capacity, np.int64)
    nxt = np.full(capacity, -1, np.int64)
    head = np.full(n_nodes, -1, np.int64)
    found = np.empty(capacity, np.int64)
    n_found = 0
    n = 0

    node_a[0] = source
    t_a[0] = 0.0
    c_a[0] = 0.0
    r_a[0] = 0.0
    rs_a[0] = 0.0
    s_a[0] = safe[source]
    parent[0] = -1
    move[0] = 0
    waits[0] = 0
    n = 1
    counter = 0
    heap = [(h_t[source], h_r[source], 0.0, 0, 0)]

    while len(heap) > 0:
        item = heapq.heappop(heap)
        lab = item[4]
        if _beaten(
            lab,
            node_a,
            t_a,
            c_a,
            r_a,
            rs_a,
            s_a,
            parent,
            move,
            nxt,
            head,
            found,
            n_found,
            seasonal,
            wait_risk,
            wait_cost,
            month_starts,
            h_t,
            h_c,
            h_r,
            slack,
            max_waits,
        ):
            continue
        v = node_a[lab]
        nxt[lab] = head[v]
        head[v] = lab
        if v == target:
            found[n_found] = lab
            n_found += 1
            continue
        k = _index(month_starts, t_a[lab])
        m = (start_month0 + k) % 12
        for i in range(indptr[v], indptr[v + 1]):
            j = out_legs[i]
            if not is_open[m, j]:
                continue
            w = leg_to[j]
            if np.isinf(h_t[w]):
                continue
            if n >= capacity:
                return -1, node_a, t_a, c_a, r_a, rs_a, s_a, parent, move, found
            node_a[n] = w
            t_a[n] = t_a[lab] + days[m, j]
            c_a[n] = c_a[lab] + cost[m, j]
            r_a[n] = r_a[lab] + risk[m, j]
            rs_a[n] = rs_a[lab] if s_a[lab] else rs_a[lab] + risk[m, j]
            s_a[n] = s_a[lab] or safe[w]
            parent[n] = lab
            move[n] = j
            waits[n] = 0
            if _admit(
                n,
                node_a,
                t_a,
                c_a,
                r_a,
                rs_a,
                s_a,
                parent,
                move,
                nxt,
                head,
                found,
                n_found,
                seasonal,
                wait_risk,
                wait_cost,
                month_starts,
                h_t,
                h_c,
                h_r,
                slack,
                max_waits,
                max_days,
                budget,
            ):
                counter += 1
                heapq.heappush(
                    heap, (t_a[n] + h_t[w], r_a[n] + h_r[w], c_a[n] + h_c[w], counter, n)
                )
                n += 1
        if seasonal[v] and waits[lab] < max_waits and k + 1 < len(month_starts):
            if n >= capacity:
                return -1, node_a, t_a, c_a, r_a, rs_a, s_a, parent, move, found
            d = month_starts[k + 1] - t_a[lab]
            node_a[n] = v
            t_a[n] = month_starts[k + 1]
            c_a[n] = c_a[lab] + d * wait_cost[v]
            r_a[n] = r_a[lab] + d * wait_risk[v]
            rs_a[n] = rs_a[lab] + (0.0 if s_a[lab] else d * wait_risk[v])
            s_a[n] = s_a[lab]
            parent[n] = lab
            move[n] = WAIT
            waits[n] = waits[lab] + 1
            if _admit(
                n,
                node_a,
                t_a,
                c_a,
                r_a,
                rs_a,
                s_a,
                parent,
                move,
                nxt,
                head,
                found,
                n_found,
                seasonal,
                wait_risk,
                wait_cost,
                month_starts,
                h_t,
                h_c,
                h_r,
                slack,
                max_waits,
                max_days,
                budget,
            ):
                counter += 1
                heapq.heappush(
                    heap, (t_a[n] + h_t[v], r_a[n] + h_r[v], c_a[n] + h_c[v], counter, n)
                )
                n += 1
    return n_found, node_a, t_a, c_a, r_a, rs_a, s_a, parent, move, found


@njit(cache=True)
def _admit(
    n,
    node_a,
    t_a,
    c_a,
    r_a,
    rs_a,
    s_a,
    parent,
    move,
    nxt,
    head,
    found,
    n_found,
    seasonal,
    wait_risk,
    wait_cost,
    month_starts,
    h_t,
    h_c,
    h_r,
    slack,
    max_waits,
    max_days,
    budget,
):
    w = node_a[n]
    if t_a[n] + h_t[w] > max_days or c_a[n] + h_c[w] > budget:
        return False
    return not _beaten(
        n,
        node_a,
        t_a,
        c_a,
        r_a,
        rs_a,
        s_a,
        parent,
        move,
        nxt,
        head,
        found,
        n_found,
        seasonal,
        wait_risk,
        wait_cost,
        month_starts,
        h_t,
        h_c,
        h_r,
        slack,
        max_waits,
    )


@njit(cache=True)
def _beaten(
    lab,
    node_a,
    t_a,
    c_a,
    r_a,
    rs_a,
    s_a,
    parent,
    move,
    nxt,
    head,
    found,
    n_found,
    seasonal,
    wait_risk,
    wait_cost,
    month_starts,
    h_t,
    h_c,
    h_r,
    slack,
    max_waits,
):
    v = node_a[lab]
    k_lab = _index(month_starts, t_a[lab])
    o = head[v]
    while o != -1:
        if (
            t_a[o] <= t_a[lab] * slack
            and c_a[o] <= c_a[lab] * slack
            and r_a[o] <= r_a[lab] * slack
            and rs_a[o] <= rs_a[lab] * slack
            and (s_a[o] or not s_a[lab])
        ):
            k_o = _index(month_starts, t_a[o])
            if k_o == k_lab or not seasonal[v]:
                return True
            if k_lab - k_o <= max_waits and not _waited_from(lab, o, parent, move):
                d = month_starts[k_lab] - t_a[o]
                extra = 0.0 if s_a[o] else d * wait_risk[v]
                if (
                    c_a[o] + d * wait_cost[v] <= c_a[lab] * slack
                    and r_a[o] + d * wait_risk[v] <= r_a[lab] * slack
                    and rs_a[o] + extra <= rs_a[lab] * slack
                ):
                    return True
        o = nxt[o]
    ht = h_t[v]
    hc = h_c[v]
    hr = h_r[v]
    for i in range(n_found):
        f = found[i]
        if (
            s_a[f]
            and t_a[f] <= (t_a[lab] + ht) * slack
            and c_a[f] <= (c_a[lab] + hc) * slack
            and r_a[f] <= (r_a[lab] + hr) * slack
            and rs_a[f] <= rs_a[lab] * slack
        ):
            return True
    return False


@njit(cache=True)
def _waited_from(lab: int, other: int, parent: NDArray[np.int64], move: NDArray[np.int64]) -> bool:
    walk = lab
    while walk != -1 and move[walk] == WAIT:
        walk = parent[walk]
        if walk == other:
            return True
    return False
