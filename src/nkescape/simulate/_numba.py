"""The journey kernel compiled with numba: the model of ``kernel.run_chunk``, one journey at a time.

The NumPy kernel moves every journey one leg forward per step and pays for it in temporaries,
fancy indexing and a separate pass per draw. Here each journey runs its legs to the end in
registers, so a journey-leg costs little more than its random draws (mostly the lognormal
duration and cost), and a journey that stops skips the legs after it. The draws follow the NumPy
kernel's, with economies that leave the distributions as they are: a leg's duration is drawn only
when it is added to the clock (not for a journey stopped on the leg), its cost only when it is
paid, a fatal-wait draw only for a journey that waited; uniforms come from SFC64 stepped inline.
Every function releases the GIL, so threads over chunks use every core, and each chunk brings
its own generator, so a seed gives the same numbers on any number of threads. Importing this
module needs numba (the ``fast`` extra); ``simulate`` falls back to the NumPy kernel without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from nkescape.simulate.kernel import (
    ACTIVE,
    DEAD,
    DESTINATION,
    HIDING,
    OUTCOMES,
    REPATRIATED,
    SAFETY,
    Chunk,
)
from nkescape.simulate.model import JourneyModel
from nkescape.simulate.summary import COST_EDGES, DAY_EDGES

__all__ = ["chunk_aggregates", "run_chunk"]

# Every function is compiled with cache=True (compiled once per installation, then loaded),
# nogil=True (threads over chunks run in parallel) and error_model="numpy" (a division by zero
# gives inf or NaN as in the NumPy kernel, instead of a check and an exception per division).


# SFC64's shifts and rotation (the algorithm's, as in numpy).
_SHIFT_A, _SHIFT_B, _ROTATE = np.uint64(11), np.uint64(3), np.uint64(24)
_TO_UNIT = 1.0 / 2.0**53  # the top 53 bits of a draw as a double in [0, 1), as numpy does


# The small helpers are inlined by numba itself, not left to LLVM: measured about 25% faster
# on the whole kernel.
@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _uniform(s: NDArray[np.uint64]) -> float:
    """The next uniform in [0, 1) of the SFC64 stream whose state is ``s`` (four words).

    SFC64 is stepped here rather than through numpy's generator object, because calling into
    the generator costs several times the step itself; it is the same algorithm as numpy's
    ``SFC64`` and gives the same stream from the same state (tested bit for bit).
    """
    a, b, c, counter = s[0], s[1], s[2], s[3]
    out = a + b + counter
    s[0] = b ^ (b >> _SHIFT_A)
    s[1] = c + (c << _SHIFT_B)
    s[2] = ((c << _ROTATE) | (c >> (np.uint64(64) - _ROTATE))) + out
    s[3] = counter + np.uint64(1)
    return float(out >> _SHIFT_A) * _TO_UNIT


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _draw(code: int, a: float, b: float, s: NDArray[np.uint64], rng: np.random.Generator) -> float:
    """One draw of an estimate (shape codes of ``model.SHAPES``): point, uniform or lognormal."""
    if code == 0:
        return a
    if code == 1:
        return a + (b - a) * _uniform(s)
    return float(np.exp(a + b * rng.standard_normal()))


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _caught(u: float, p: float, factor: float) -> bool:
    """Whether ``u`` falls below ``p`` moved by ``factor`` through its odds, as
    ``atlas.estimate.scale_odds`` does (where that gives NaN, it counts as 0): ``u < p f / (1 -
    p + p f)`` with the division multiplied out, which saves a division per journey and leg."""
    if p >= 1.0:
        return True
    return u * (1.0 - p + p * factor) < p * factor


@njit(cache=True, nogil=True, error_model="numpy")
def _journeys(
    s: NDArray[np.uint64],
    rng: np.random.Generator,
    codes: NDArray[np.int64],
    dur: NDArray[np.float64],
    cost: NDArray[np.float64],
    p_int: NDArray[np.float64],
    dur_factor: NDArray[np.float64],
    cost_factor: NDArray[np.float64],
    odds_factor: NDArray[np.float64],
    next_open: NDArray[np.int64],
    month_starts: NDArray[np.float64],
    month_of_day: NDArray[np.int64],
    calendar_of_day: NDArray[np.int64],
    not_before: NDArray[np.float64],
    wait_hazard: NDArray[np.float64],
    wait_cost: NDArray[np.float64],
    betrayal: NDArray[np.float64],
    p_killed: NDArray[np.float64],
    p_back: NDArray[np.float64],
    p_embassy: NDArray[np.float64],
    detention: NDArray[np.float64],
    to_safe: NDArray[np.bool_],
    start_safe: bool,
    status: NDArray[np.int8],
    end_leg: NDArray[np.int16],
    t_safe: NDArray[np.float64],
    days: NDArray[np.float64],
    spent: NDArray[np.float64],
) -> None:
    n_legs = codes.shape[0]
    last = month_starts.shape[0] - 1
    horizon = month_of_day.shape[0] - 1
    for i in range(status.shape[0]):
        t = 0.0
        c_sum = 0.0
        st = ACTIVE
        ended = -1
        ts = 0.0 if start_safe else np.nan
        for k in range(n_legs):
            # When the leg can start: after a planned wait, and in a month when it is open.
            ta = max(t, not_before[k])
            day = int(min(ta, horizon))
            month = calendar_of_day[day]
            off = next_open[k, month]
            never = off < 0
            if off > 0:
                ta = month_starts[min(month_of_day[day] + off, last)]
                month = calendar_of_day[int(min(ta, horizon))]
            waited = ta - t
            c_sum += waited * wait_cost[k]
            # Stranded by a leg that never opens: no capture, on the leg or while hiding.
            found = False
            if wait_hazard[k] > 0 and waited > 0 and not never:
                found = _uniform(s) < -np.expm1(-wait_hazard[k] * waited)

            killed = sent_back = embassy = released = betrayed = False
            if never:
                st = HIDING
            elif found:
                # Caught while hiding, not on the leg: the hiding risk is of a capture that
                # ends in a return or a death, as in ``kernel.hiding_capture``.
                st = REPATRIATED
                if p_killed[k] > 0 and _uniform(s) * p_back[k] < p_killed[k]:
                    st = DEAD
            else:
                p = _draw(codes[k, 2], p_int[k, 1], p_int[k, 2], s, rng)
                caught = _caught(_uniform(s), p, odds_factor[k, month])
                robbed, turned, sold = betrayal[k, 0], betrayal[k, 1], betrayal[k, 2]
                if robbed + turned + sold > 0:
                    u = _uniform(s)
                    betrayed = u < robbed or (robbed + turned <= u < robbed + turned + sold)
                    caught = caught or (robbed <= u < robbed + turned)
                if caught:
                    v = _uniform(s)
                    killed = v < p_killed[k]
                    sent_back = not killed and v < p_back[k]
                    embassy = not killed and not sent_back and v < p_back[k] + p_embassy[k]
                    released = not killed and not sent_back and not embassy

                # The same precedence as the NumPy kernel, where later assignments win.
                if killed:
                    st = DEAD
                elif sent_back:
                    st = REPATRIATED
                elif embassy:
                    st = DESTINATION
                elif betrayed:
                    st = HIDING
            stopped = st != ACTIVE
            if not (found or never):
                c_sum += _draw(codes[k, 1], cost[k, 1], cost[k, 2], s, rng) * cost_factor[k, month]
            t = ta
            if not stopped or embassy:
                t += _draw(codes[k, 0], dur[k, 1], dur[k, 2], s, rng) * dur_factor[k, month]
            if released or embassy:
                t += detention[k]
            if ((not stopped and to_safe[k]) or embassy) and np.isnan(ts):
                ts = t
            if stopped:
                ended = k
                break
        if st == ACTIVE:
            st = DESTINATION
        elif st != DESTINATION and not np.isnan(ts):
            # Ended short of the destination but after reaching a safe country.
            st = SAFETY
        status[i] = st
        end_leg[i] = ended
        t_safe[i] = ts
        days[i] = t
        spent[i] = c_sum


def run_chunk(model: JourneyModel, n: int, rng: np.random.Generator) -> Chunk:
    """Simulate ``n`` journeys (the same model and outputs as ``kernel.run_chunk``)."""
    codes = np.stack([model.dur[:, 0], model.cost[:, 0], model.p_int[:, 0]], axis=1)
    out = Chunk(
        status=np.empty(n, np.int8),
        end_leg=np.empty(n, np.int16),
        days_to_safety=np.empty(n),
        days=np.empty(n),
        cost=np.empty(n),
    )
    # Uniforms from an SFC64 stream stepped in the kernel, seeded from a child of the chunk's
    # seed; normals (through numba's port of numpy's ziggurat) from the chunk's generator.
    seq = rng.bit_generator.seed_seq
    assert isinstance(seq, np.random.SeedSequence), "the generator must come from a SeedSequence"
    uniforms = np.random.SFC64(seq.spawn(1)[0])
    _journeys(
        uniforms.state["state"]["state"].copy(),
        rng,
        codes.astype(np.int64),
        model.dur,
        model.cost,
        model.p_int,
        model.dur_factor,
        model.cost_factor,
        model.odds_factor,
        model.next_open,
        model.month_starts,
        model.month_of_day,
        # The calendar month (0-11) of each day since departure.
        (model.start.month - 1 + model.month_of_day) % 12,
        model.not_before,
        model.wait_hazard,
        model.wait_cost,
        model.betrayal,
        model.p_killed,
        model.p_back,
        model.p_embassy,
        model.detention,
        model.to_safe,
        model.start_safe,
        out.status,
        out.end_leg,
        out.days_to_safety,
        out.days,
        out.cost,
    )
    return out


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _bin(x: float, edges: NDArray[np.float64], log_lo: float, per_log: float) -> int:
    """``np.histogram``'s bin of ``x`` (-1 outside the edges): a guess from the geometric
    spacing of ``edges[1:]``, then corrected by comparing with the edges themselves, so the
    answer is exact for any sorted edges and only the speed depends on the spacing."""
    n_bins: int = edges.shape[0] - 1
    if not edges[0] <= x <= edges[n_bins]:  # NaN too
        return -1
    if x == edges[n_bins]:
        return n_bins - 1  # the last bin is closed
    j = 0
    if x >= edges[1]:
        j = min(max(1 + int((np.log(x) - log_lo) * per_log), 1), n_bins - 1)
    while x < edges[j]:
        j -= 1
    while x >= edges[j + 1]:
        j += 1
    return j


@njit(cache=True, nogil=True, error_model="numpy")
def _aggregate(
    status: NDArray[np.int8],
    end_leg: NDArray[np.int16],
    t_safe: NDArray[np.float64],
    days: NDArray[np.float64],
    spent: NDArray[np.float64],
    day_edges: NDArray[np.float64],
    day_guess: tuple[float, float],
    cost_edges: NDArray[np.float64],
    cost_guess: tuple[float, float],
    outcomes: NDArray[np.int64],
    funnel: NDArray[np.int64],
    days_safety: NDArray[np.int64],
    days_destination: NDArray[np.int64],
    cost: NDArray[np.int64],
) -> int:
    safe = 0
    for i in range(status.shape[0]):
        outcomes[status[i]] += 1
        if end_leg[i] >= 0:
            funnel[end_leg[i], status[i]] += 1
        if not np.isnan(t_safe[i]):
            safe += 1
            b = _bin(t_safe[i], day_edges, day_guess[0], day_guess[1])
            if b >= 0:
                days_safety[b] += 1
        if status[i] == DESTINATION:
            b = _bin(days[i], day_edges, day_guess[0], day_guess[1])
            if b >= 0:
                days_destination[b] += 1
        b = _bin(spent[i], cost_edges, cost_guess[0], cost_guess[1])
        if b >= 0:
            cost[b] += 1
    return safe


def _guess(edges: NDArray[np.float64]) -> tuple[float, float]:
    lo, hi = float(edges[1]), float(edges[-1])
    return float(np.log(lo)), (len(edges) - 2) / float(np.log(hi / lo))


_DAY_GUESS, _COST_GUESS = _guess(DAY_EDGES), _guess(COST_EDGES)


def chunk_aggregates(chunk: Chunk, n_legs: int) -> dict[str, Any]:
    """The counts of ``summary.chunk_aggregates``, in one compiled pass without the GIL."""
    out: dict[str, Any] = {
        "runs": len(chunk.status),
        "outcomes": np.zeros(len(OUTCOMES), np.int64),
        "funnel": np.zeros((n_legs, len(OUTCOMES)), np.int64),
        "days_safety": np.zeros(len(DAY_EDGES) - 1, np.int64),
        "days_destination": np.zeros(len(DAY_EDGES) - 1, np.int64),
        "cost": np.zeros(len(COST_EDGES) - 1, np.int64),
    }
    out["safe"] = int(
        _aggregate(
            chunk.status,
            chunk.end_leg,
            chunk.days_to_safety,
            chunk.days,
            chunk.cost,
            DAY_EDGES,
            _DAY_GUESS,
            COST_EDGES,
            _COST_GUESS,
            out["outcomes"],
            out["funnel"],
            out["days_safety"],
            out["days_destination"],
            out["cost"],
        )
    )
    return out
