"""Random networks for property tests and benchmarks: geometric graphs with correlated figures.

Places are points in a unit square joined to their nearest neighbours, so that, as on the real
map, days and costs grow with distance and the Pareto sets stay the size real queries see.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from nkescape.routing.network import Calendar, Network

__all__ = ["random_network"]


def random_network(
    n_nodes: int,
    rng: int | np.random.Generator | None = None,
    *,
    degree: int = 4,
    seasonal: float = 0.0,
    safe_fraction: float = 0.2,
    wait: bool = True,
    start: dt.date = dt.date(2017, 1, 15),
) -> Network:
    """A random directed network of ``n_nodes`` places, each with ``degree`` outgoing legs.

    ``seasonal`` is the share of legs that are open only in some months and vary by month (about
    0.16 in the bundled atlas). Node 0 is never safe, so a search from it starts outside safety.
    """
    gen = np.random.default_rng(rng)
    xy = gen.random((n_nodes, 2))
    k = min(degree, n_nodes - 1)
    if n_nodes <= 2000:
        d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)
        nbrs = np.argsort(d2, axis=1)[:, :k]
    else:
        from scipy.spatial import cKDTree

        nbrs = cKDTree(xy).query(xy, k=k + 1)[1][:, 1:]
    leg_from = np.repeat(np.arange(n_nodes), k)
    leg_to = nbrs.reshape(-1)
    dist = np.linalg.norm(xy[leg_from] - xy[leg_to], axis=1) * 100 + 0.1
    n_legs = len(leg_to)
    days = np.tile(dist * gen.uniform(0.5, 2.0, n_legs), (12, 1))
    cost = np.tile(dist * gen.uniform(10, 100, n_legs), (12, 1))
    p_fail = gen.uniform(0.0, 0.2, n_legs)
    risk = np.tile(-np.log1p(-p_fail), (12, 1))
    is_open = np.ones((12, n_legs), dtype=bool)
    if seasonal:
        varies = gen.random(n_legs) < seasonal
        for j in np.flatnonzero(varies):
            is_open[:, j] = gen.random(12) < 0.6
            is_open[gen.integers(12), j] = True
            days[:, j] *= gen.uniform(0.7, 1.5, 12)
            risk[:, j] *= gen.uniform(0.5, 2.0, 12)
    order = np.argsort(leg_from, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(leg_from, minlength=n_nodes))])
    safe = gen.random(n_nodes) < safe_fraction
    safe[0] = False
    return Network(
        indptr=indptr.astype(np.int64),
        out_legs=order.astype(np.int64),
        leg_to=leg_to.astype(np.int64),
        days=days,
        cost=cost,
        risk=risk,
        open=is_open,
        safe=safe,
        wait_ok=np.full(n_nodes, wait),
        wait_risk_per_day=gen.uniform(0, 0.002, n_nodes),
        wait_cost_per_day=gen.uniform(0, 20, n_nodes),
        calendar=Calendar(start),
    )
