"""The JAX kernel: the rules of ``step`` on device arrays, for a CPU or a GPU.

One compiled function serves both devices; random numbers come from JAX's counter-based
generator (a key per chunk, folded with the leg index), so a seed gives the same draws on a CPU
and a GPU and results agree up to floating-point rounding. Journeys are not compacted as in the
NumPy kernel (shapes must stay fixed under ``jit``): every leg applies the rules to all
journeys and keeps the result for those still under way. Aggregates (outcome counts, funnel,
histograms) are computed on the device, so only a few kilobytes come back per chunk. Needs the
``gpu`` extra (jax).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nkescape.simulate.model import JourneyModel
from nkescape.simulate.step import (
    ACTIVE,
    DESTINATION,
    DRAWS,
    LOGNORMAL,
    OUTCOMES,
    POINT,
    Ops,
    Tables,
    journey_rules,
)
from nkescape.simulate.summary import COST_EDGES, DAY_EDGES, bin_index

__all__ = ["devices", "jax_chunk_aggregates", "leg_shapes", "model_arrays", "run_draws"]


def _index(t: Any, top: int) -> Any:
    return jnp.clip(t, 0, top).astype(jnp.int32)


def _same(f: Any) -> Any:
    return f


def _at(table: Any, k: int, i: Any) -> Any:
    # The leg is known when compiling: its row is a slice, and the month a 1-D gather, which
    # XLA runs far faster than a gather on (leg, month) pairs.
    return table[k][i]


JAX = Ops(
    where=jnp.where,
    exp=jnp.exp,
    expm1=jnp.expm1,
    isnan=jnp.isnan,
    maximum=jnp.maximum,
    index=_index,
    clip=jnp.clip,
    not_=jnp.logical_not,
    at=_at,
    jit=_same,  # the whole chunk is compiled at once
)
RULES = journey_rules(JAX)


def devices(kind: str) -> list[Any]:
    """JAX devices of ``kind`` ("cpu" or "gpu"); empty if there are none."""
    try:
        return list(jax.devices(kind))
    except RuntimeError:
        return []


def model_arrays(model: JourneyModel, dtype: Any = jnp.float32) -> dict[str, Any]:
    """The model's tables and the histograms' edges as device arrays (floats as ``dtype``,
    float32 by default, the GPU's fast type; integers as int32)."""

    def device(a: Any) -> Any:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            return jnp.asarray(a, dtype)
        if a.dtype.kind in "iu":
            return jnp.asarray(a.astype(np.int32))
        return jnp.asarray(a)

    return {
        "tables": Tables(*(device(a) for a in model.tables())),
        "day_edges": device(DAY_EDGES),
        "cost_edges": device(COST_EDGES),
    }


def leg_shapes(model: JourneyModel) -> tuple[tuple[int, int, int, bool, bool], ...]:
    """Per leg, what the kernel must draw: the shapes of duration, cost and interception
    estimates, whether waiting there can be fatal, and whether anyone on it can be betrayed.
    Known when compiling, so each leg draws only the random arrays it needs."""
    return tuple(
        (
            int(model.dur[k, 0]),
            int(model.cost[k, 0]),
            int(model.p_int[k, 0]),
            bool(model.wait_hazard[k] > 0),
            bool(model.betrayal[k].sum() > 0),
        )
        for k in range(model.n_legs)
    )


def _estimate_draw(code: int, key: Any, n: int, dtype: Any) -> Any:
    """What an estimate of shape ``code`` is drawn from (``step``'s module notes)."""
    if code == POINT:
        return jnp.zeros((), dtype)
    if code == LOGNORMAL:
        return jax.random.normal(key, (n,), dtype)
    return jax.random.uniform(key, (n,), dtype)


def _key_draws(
    key: Any, shapes: tuple[tuple[int, int, int, bool, bool], ...], n: int, dtype: Any
) -> Any:
    """Leg ``k``'s draws (``step.DRAWS`` order) from the chunk's key folded with ``k``; those a
    leg cannot use (known when compiling) are constants, not drawn."""

    def draws(k: int) -> tuple[Any, ...]:
        dur_code, cost_code, p_code, can_be_found, can_be_betrayed = shapes[k]
        keys = jax.random.split(jax.random.fold_in(key, k), len(DRAWS))
        unused = jnp.zeros((), dtype)

        def uniform(i: int) -> Any:
            return jax.random.uniform(keys[i], (n,), dtype)

        return (
            uniform(0) if can_be_found else unused,
            _estimate_draw(dur_code, keys[1], n, dtype),
            _estimate_draw(cost_code, keys[2], n, dtype),
            _estimate_draw(p_code, keys[3], n, dtype),
            uniform(4),
            uniform(5) if can_be_betrayed else unused,
            uniform(6),
        )

    return draws


def _journeys(m: Tables, n: int, n_legs: int, start_safe: bool, draws: Any) -> tuple[Any, ...]:
    """``n`` journeys through ``n_legs`` legs, leg ``k`` taking ``draws(k)``: per journey
    (status, end_leg, t_safe, days, spent)."""
    dtype = m.month_starts.dtype
    t = jnp.zeros(n, dtype)
    spent = jnp.zeros(n, dtype)
    status = jnp.full(n, ACTIVE, jnp.int32)
    end_leg = jnp.full(n, -1, jnp.int32)
    t_safe = jnp.zeros(n, dtype) if start_safe else jnp.full(n, jnp.nan, dtype)
    # The legs are unrolled at compile time, each drawing only what it can use.
    for k in range(n_legs):
        active = status == ACTIVE
        new, t_k, spent_k, safe_k = RULES.leg(m, k, t, spent, t_safe, *draws(k))
        t = jnp.where(active, t_k, t)
        spent = jnp.where(active, spent_k, spent)
        t_safe = jnp.where(active, safe_k, t_safe)
        end_leg = jnp.where(active & (new != ACTIVE), k, end_leg)
        status = jnp.where(active, new, status)
    return RULES.finish(status, t_safe), end_leg, t_safe, t, spent


def run_draws(model: JourneyModel, n: int, draws: Any, dtype: Any = jnp.float64) -> tuple[Any, ...]:
    """Journeys from explicit draws (``draws(k)``: leg ``k``'s, in ``step.DRAWS`` order), as
    NumPy arrays (status, end_leg, t_safe, days, spent); for comparing kernels draw for draw
    (float64 needs ``jax.enable_x64``)."""
    m = model_arrays(model, dtype)["tables"]
    out = _journeys(
        m,
        n,
        model.n_legs,
        model.start_safe,
        lambda k: tuple(jnp.asarray(d, dtype) for d in draws(k)),
    )
    return tuple(np.asarray(a) for a in out)


def _known_shapes(m: Tables, shapes: tuple[tuple[int, int, int, bool, bool], ...]) -> Tables:
    """``m`` with its estimates' shape codes as constants (they are known when compiling), so
    that XLA drops the draws of the shapes a leg does not have (a range's exp)."""

    def known(table: Any, column: int) -> Any:
        codes = jnp.asarray(np.array([[s[column]] for s in shapes]), table.dtype)
        return jnp.concatenate([codes, table[:, 1:]], axis=1)

    return m._replace(dur=known(m.dur, 0), cost=known(m.cost, 1), p_int=known(m.p_int, 2))


def _hist(values: Any, mask: Any, edges: Any) -> Any:
    bins = bin_index(values, edges, jnp.searchsorted)
    return jnp.zeros(len(edges) - 1, jnp.int32).at[bins].add(mask.astype(jnp.int32))


@partial(jax.jit, static_argnames=("n", "shapes", "start_safe"))
def jax_chunk_aggregates(
    arrays: dict[str, Any],
    key: Any,
    n: int,
    n_valid: Any,
    shapes: tuple[tuple[int, int, int, bool, bool], ...],
    start_safe: bool,
) -> dict[str, Any]:
    """Simulate ``n`` journeys and count the first ``n_valid`` of them.

    ``n`` is the compiled size; a last, shorter chunk runs at the same size with the extra
    journeys left out of the counts, so it does not trigger a new compilation.
    """
    m = arrays["tables"]
    dtype = m.month_starts.dtype
    n_legs = len(shapes)
    status, end_leg, t_safe, t, spent = _journeys(
        _known_shapes(m, shapes), n, n_legs, start_safe, _key_draws(key, shapes, n, dtype)
    )
    n_outcomes = len(OUTCOMES)
    valid = jnp.arange(n) < n_valid
    ended = (end_leg >= 0) & valid
    funnel = (
        jnp.zeros(n_legs * n_outcomes, jnp.int32)
        .at[jnp.where(ended, end_leg * n_outcomes + status, 0)]
        .add(ended.astype(jnp.int32))
        .reshape(n_legs, n_outcomes)
    )
    safe = ~jnp.isnan(t_safe) & valid
    return {
        "runs": n_valid,
        "outcomes": jnp.zeros(n_outcomes, jnp.int32).at[status].add(valid.astype(jnp.int32)),
        "funnel": funnel,
        "safe": safe.sum(),
        "days_safety": _hist(jnp.where(safe, t_safe, 0.0), safe, arrays["day_edges"]),
        "days_destination": _hist(t, (status == DESTINATION) & valid, arrays["day_edges"]),
        "cost": _hist(spent, valid, arrays["cost_edges"]),
    }
