"""The journey kernel in JAX: the same model as ``kernel.run_chunk``, for CPU or GPU.

One compiled function serves both devices; random numbers come from JAX's counter-based
generator (a key per chunk, folded with the leg index), so a seed gives the same draws on a CPU
and a GPU and results agree up to floating-point rounding. Journeys are not compacted as in the
NumPy kernel (shapes must stay fixed under ``jit``): every leg updates the journeys still under
way through masks. Aggregates (outcome counts, funnel, histograms) are computed on the device, so
only a few kilobytes come back per chunk. Needs the ``gpu`` extra (jax).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nkescape.simulate.kernel import ACTIVE, DEAD, DESTINATION, HIDING, REPATRIATED, SAFETY
from nkescape.simulate.model import JourneyModel
from nkescape.simulate.summary import COST_EDGES, DAY_EDGES

__all__ = ["devices", "jax_chunk_aggregates", "model_arrays"]

N_OUTCOMES = 5


def devices(kind: str) -> list[Any]:
    """JAX devices of ``kind`` ("cpu" or "gpu"); empty if there are none."""
    try:
        return list(jax.devices(kind))
    except RuntimeError:
        return []


def model_arrays(model: JourneyModel, dtype: Any = jnp.float32) -> dict[str, Any]:
    """The model as device arrays (float32 by default, the GPU's fast type)."""
    f = partial(jnp.asarray, dtype=dtype)
    return {
        "ms": f(model.month_starts),
        "dur": f(model.dur),
        "cost": f(model.cost),
        "p_int": f(model.p_int),
        "dur_factor": f(model.dur_factor),
        "cost_factor": f(model.cost_factor),
        "odds_factor": f(model.odds_factor),
        "next_open": jnp.asarray(model.next_open.astype(np.int32)),
        "p_back": f(model.p_back),
        "p_embassy": f(model.p_embassy),
        "p_killed": f(model.p_killed),
        "detention": f(model.detention),
        "wait_hazard": f(model.wait_hazard),
        "wait_cost": f(model.wait_cost),
        "betrayal": f(model.betrayal),
        "to_safe": jnp.asarray(model.to_safe),
        "not_before": f(model.not_before),
        "day_edges": f(DAY_EDGES),
        "month_of_day": jnp.asarray(model.month_of_day.astype(np.int32)),
        "cost_edges": f(COST_EDGES),
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


def _draw(code: int, params: Any, key: Any, n: int, dtype: Any) -> Any:
    a, b = params[1], params[2]
    if code == 0:
        return jnp.full(n, a, dtype)
    if code == 1:
        return a + (b - a) * jax.random.uniform(key, (n,), dtype)
    return jnp.exp(a + b * jax.random.normal(key, (n,), dtype))


def _hist(values: Any, mask: Any, edges: Any) -> Any:
    bins = jnp.clip(jnp.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return jnp.zeros(len(edges) - 1, jnp.int32).at[bins].add(mask.astype(jnp.int32))


@partial(jax.jit, static_argnames=("n", "shapes", "start0", "start_safe"))
def jax_chunk_aggregates(
    arrays: dict[str, Any],
    key: Any,
    n: int,
    n_valid: Any,
    shapes: tuple[tuple[int, int, int, bool, bool], ...],
    start0: int,
    start_safe: bool,
) -> dict[str, Any]:
    """Simulate ``n`` journeys and count the first ``n_valid`` of them.

    ``n`` is the compiled size; a last, shorter chunk runs at the same size with the extra
    journeys left out of the counts, so it does not trigger a new compilation.
    """
    dtype = arrays["ms"].dtype
    ms = arrays["ms"]
    last = ms.shape[0] - 1
    t0 = jnp.zeros(n, dtype)
    state = (
        t0,  # t
        jnp.zeros(n, dtype),  # cost
        jnp.full(n, ACTIVE, jnp.int32),  # status
        jnp.full(n, -1, jnp.int32),  # end_leg
        jnp.zeros(n, dtype) if start_safe else jnp.full(n, jnp.nan, dtype),  # t_safe
    )

    lut = arrays["month_of_day"]
    horizon = lut.shape[0] - 1

    def month_of(t: Any) -> tuple[Any, Any]:
        # Months start on whole days: a table lookup on floor(t), as in the NumPy kernel.
        idx = lut[jnp.clip(t, 0, horizon).astype(jnp.int32)]
        return idx, (start0 + idx) % 12

    def leg(k: int, shape: tuple[int, int, int, bool, bool], state: Any) -> Any:
        dur_code, cost_code, p_code, can_be_found, can_be_betrayed = shape
        t, cost, status, end_leg, t_safe = state
        active = status == ACTIVE
        keys = jax.random.split(jax.random.fold_in(key, k), 7)
        ta = jnp.maximum(t, arrays["not_before"][k])
        idx, m = month_of(ta)
        off = arrays["next_open"][k][m]
        never = off < 0
        ta = jnp.where(off > 0, ms[jnp.clip(idx + off, 0, last)], ta)
        waited = ta - t
        if can_be_found:
            u_wait = jax.random.uniform(keys[0], (n,), dtype)
            # Stranded by a leg that never opens: no capture, on the leg or while hiding.
            found = (u_wait < -jnp.expm1(-arrays["wait_hazard"][k] * waited)) & ~never
        else:
            found = jnp.zeros(n, bool)
        going = ~(found | never)  # set out on the leg: only they can be caught or betrayed on it
        _, month = month_of(ta)
        d = _draw(dur_code, arrays["dur"][k], keys[1], n, dtype) * arrays["dur_factor"][k][month]
        c = _draw(cost_code, arrays["cost"][k], keys[2], n, dtype) * arrays["cost_factor"][k][month]
        p = _draw(p_code, arrays["p_int"][k], keys[3], n, dtype)
        f = arrays["odds_factor"][k][month]
        p = jnp.where(p >= 1, 1.0, p * f / (1 - p + p * f))
        caught = (jax.random.uniform(keys[4], (n,), dtype) < p) & going
        if can_be_betrayed:
            u = jax.random.uniform(keys[5], (n,), dtype)
            robbed, turned, sold = arrays["betrayal"][k]
            was_robbed = (u < robbed) & going
            was_turned_in = (u >= robbed) & (u < robbed + turned) & going
            was_sold = (u >= robbed + turned) & (u < robbed + turned + sold) & going
            caught = caught | was_turned_in
        else:
            was_robbed = was_sold = jnp.zeros(n, bool)
        v = jax.random.uniform(keys[6], (n,), dtype)
        p_killed, p_back = arrays["p_killed"][k], arrays["p_back"][k]
        killed = caught & (v < p_killed)
        sent_back = caught & ~killed & (v < p_back)
        embassy = caught & ~killed & ~sent_back & (v < p_back + arrays["p_embassy"][k])
        released = caught & ~killed & ~sent_back & ~embassy
        new = jnp.full(n, ACTIVE, jnp.int32)
        new = jnp.where(was_robbed | was_sold, HIDING, new)
        new = jnp.where(embassy, DESTINATION, new)
        new = jnp.where(sent_back, REPATRIATED, new)
        new = jnp.where(killed, DEAD, new)
        if can_be_found:
            # Caught while hiding, not on the leg, as in ``kernel.hiding_capture``: returned or
            # killed. ``v`` is free for it, since no one found was caught on the leg.
            new = jnp.where(found, jnp.where(v * p_back < p_killed, DEAD, REPATRIATED), new)
        new = jnp.where(never, HIDING, new)
        stopped = new != ACTIVE
        spent = waited * arrays["wait_cost"][k] + jnp.where(found | never, 0.0, c)
        t_new = (
            ta
            + jnp.where(stopped & ~embassy, 0.0, d)
            + jnp.where(released | embassy, arrays["detention"][k], 0.0)
        )
        safe_now = ((new == ACTIVE) & arrays["to_safe"][k]) | embassy
        t = jnp.where(active, t_new, t)
        cost = jnp.where(active, cost + spent, cost)
        status = jnp.where(active, new, status)
        end_leg = jnp.where(active & stopped, k, end_leg)
        t_safe = jnp.where(active & safe_now & jnp.isnan(t_safe), t, t_safe)
        return t, cost, status, end_leg, t_safe

    # The legs are unrolled at compile time, each specialised to its shapes.
    for k, shape in enumerate(shapes):
        state = leg(k, shape, state)
    t, cost, status, end_leg, t_safe = state
    n_legs = len(shapes)
    status = jnp.where(status == ACTIVE, DESTINATION, status)
    status = jnp.where((status != DESTINATION) & ~jnp.isnan(t_safe), SAFETY, status)
    valid = jnp.arange(n) < n_valid
    ended = (end_leg >= 0) & valid
    funnel = (
        jnp.zeros(n_legs * N_OUTCOMES, jnp.int32)
        .at[jnp.where(ended, end_leg * N_OUTCOMES + status, 0)]
        .add(ended.astype(jnp.int32))
        .reshape(n_legs, N_OUTCOMES)
    )
    safe = ~jnp.isnan(t_safe) & valid
    return {
        "runs": n_valid,
        "outcomes": jnp.zeros(N_OUTCOMES, jnp.int32).at[status].add(valid.astype(jnp.int32)),
        "funnel": funnel,
        "safe": safe.sum(),
        "days_safety": _hist(jnp.where(safe, t_safe, 0.0), safe, arrays["day_edges"]),
        "days_destination": _hist(t, (status == DESTINATION) & valid, arrays["day_edges"]),
        "cost": _hist(cost, valid, arrays["cost_edges"]),
    }
