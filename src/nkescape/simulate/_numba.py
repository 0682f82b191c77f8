"""The numba kernel: the rules of ``step`` compiled, one journey at a time, draws made inline.

The NumPy kernel moves every journey one leg forward per step and pays for it in temporaries,
fancy indexing and a pass per draw. Here each journey runs its legs to the end in registers and
is counted at once, so a journey-leg costs little more than its draws, and a journey that stops
skips the legs after it. The rules are ``step.journey_rules`` built for scalars and inlined; the
draws come from an SFC64 stream stepped inline (uniforms) and a ziggurat on the same stream
(normals), because calling into numpy's generator object costs several times a draw.
Every function releases the GIL, so threads over chunks use every core, and each chunk brings
its own generator, so a seed gives the same numbers on any number of threads. Importing this
module needs numba (the ``fast`` extra).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from nkescape.simulate.kernel import Chunk
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
from nkescape.simulate.summary import COST_EDGES, DAY_EDGES

__all__ = ["run_chunk", "run_draws", "run_seeded"]

# Every function is compiled with nogil=True (threads over chunks run in parallel) and
# error_model="numpy" (a division by zero gives inf or NaN as in the NumPy kernel, instead of a
# check and an exception per division); those of this module with cache=True (compiled once per
# installation, then loaded). The small ones are inlined by numba itself, not left to LLVM:
# measured about 25% faster on the whole kernel.


@njit(inline="always", nogil=True, error_model="numpy")
def _where(c: bool, a: Any, b: Any) -> Any:
    return a if c else b


@njit(inline="always", nogil=True, error_model="numpy")
def _exp(x: float) -> float:
    return math.exp(x)


@njit(inline="always", nogil=True, error_model="numpy")
def _expm1(x: float) -> float:
    return math.expm1(x)


@njit(inline="always", nogil=True, error_model="numpy")
def _isnan(x: float) -> bool:
    return math.isnan(x)


@njit(inline="always", nogil=True, error_model="numpy")
def _maximum(a: float, b: float) -> float:
    return max(a, b)


@njit(inline="always", nogil=True, error_model="numpy")
def _index(t: float, top: int) -> int:
    return int(min(t, top))


@njit(inline="always", nogil=True, error_model="numpy")
def _clip(i: int, lo: int, hi: int) -> int:
    return min(max(i, lo), hi)


@njit(inline="always", nogil=True, error_model="numpy")
def _not(c: bool) -> bool:
    return not c


@njit(inline="always", nogil=True, error_model="numpy")
def _at(table: NDArray[Any], k: int, i: int) -> Any:
    return table[k, i]


SCALAR = Ops(
    where=_where,
    exp=_exp,
    expm1=_expm1,
    isnan=_isnan,
    maximum=_maximum,
    index=_index,
    clip=_clip,
    not_=_not,
    at=_at,
    jit=njit(inline="always", nogil=True, error_model="numpy"),
)
RULES = journey_rules(SCALAR)
_leg, _finish = RULES.leg, RULES.finish


# SFC64's shifts and rotation (the algorithm's, as in numpy).
_SHIFT_A, _SHIFT_B, _ROTATE = np.uint64(11), np.uint64(3), np.uint64(24)
_TO_UNIT = 1.0 / 2.0**53  # the top 53 bits of a draw as a double in [0, 1), as numpy does


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _next(s: NDArray[np.uint64]) -> np.uint64:
    """The next 64 bits of the SFC64 stream whose state is ``s`` (four words).

    SFC64 is stepped here rather than through numpy's generator object, because calling into
    the generator costs several times the step itself; it is the same algorithm as numpy's
    ``SFC64`` and gives the same stream from the same state (tested bit for bit).
    """
    a, b, c, counter = s[0], s[1], s[2], s[3]
    out: np.uint64 = a + b + counter
    s[0] = b ^ (b >> _SHIFT_A)
    s[1] = c + (c << _SHIFT_B)
    s[2] = ((c << _ROTATE) | (c >> (np.uint64(64) - _ROTATE))) + out
    s[3] = counter + np.uint64(1)
    return out


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _uniform(s: NDArray[np.uint64]) -> float:
    """The next uniform in [0, 1) of the stream."""
    return float(_next(s) >> _SHIFT_A) * _TO_UNIT


# Where the ziggurat's tail begins: the r that closes 256 strips of equal area (numpy's).
_ZIG_R = 3.6541528853610088


def _ziggurat(layers: int = 256, r: float = _ZIG_R) -> tuple[NDArray[Any], ...]:
    """Marsaglia and Tsang's ziggurat for the standard normal (J. Stat. Softw. 5(8), 2000),
    with ``layers`` strips of equal area over a base strip and tail beyond ``r``. Returns
    (k, w, f): the share of each strip that lies wholly under the curve (as a 52-bit integer),
    the width per unit of a 52-bit integer, and the density at each strip's edge."""
    scale = 2.0**52
    f_r = math.exp(-0.5 * r * r)
    v = r * f_r + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))  # each strip's area
    k = np.zeros(layers, np.uint64)
    w = np.zeros(layers)
    f = np.zeros(layers)
    q = v / f_r
    k[0] = np.uint64(r / q * scale)
    w[0], w[-1] = q / scale, r / scale
    f[0], f[-1] = 1.0, f_r
    x, x_above = r, r
    for i in range(layers - 2, 0, -1):
        x = math.sqrt(-2.0 * math.log(v / x + math.exp(-0.5 * x * x)))
        k[i + 1] = np.uint64(x / x_above * scale)
        x_above = x
        f[i] = math.exp(-0.5 * x * x)
        w[i] = x / scale
    return k, w, f


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat()
# Signed: a 52-bit magnitude converts to a double in one instruction, an unsigned one in several.
_ZIG_K64 = _ZIG_K.astype(np.int64)
_LOW8, _LOW52 = np.uint64(0xFF), np.int64((1 << 52) - 1)


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _normal(s: NDArray[np.uint64]) -> float:
    """A standard normal from the stream: the ziggurat (``_ziggurat``), whose first test
    accepts about 99% of draws with one 64-bit word, a multiply and a compare. Of the word,
    8 bits pick the strip, 1 the sign and 52 the magnitude. The sign is a multiplication, not
    a branch: a coin toss is a branch mispredicted half the time (measured: 9.0 ns a draw with
    the branch, 5.4 without)."""
    while True:
        bits = _next(s)
        i = np.intp(bits & _LOW8)
        rest = np.int64(bits >> np.uint64(8))
        sign = 1.0 - 2.0 * float(rest & 1)
        mag = (rest >> 1) & _LOW52
        x: float = float(mag) * _ZIG_W[i]
        if mag < _ZIG_K64[i]:
            return sign * x
        if i == 0:
            # The tail beyond r (Marsaglia's method): exponentials until one falls under it.
            while True:
                xx = -math.log1p(-_uniform(s)) / _ZIG_R
                yy = -math.log1p(-_uniform(s))
                if yy + yy > xx * xx:
                    return sign * (_ZIG_R + xx)
        elif _ZIG_F[i] + _uniform(s) * (_ZIG_F[i - 1] - _ZIG_F[i]) < math.exp(-0.5 * x * x):
            return sign * x


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _estimate_draw(code: float, s: NDArray[np.uint64]) -> float:
    """What an estimate of shape ``code`` is drawn from (``step``'s module notes)."""
    if code == POINT:
        return 0.0
    if code == LOGNORMAL:
        return _normal(s)
    return _uniform(s)


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _bin(x: float, edges: NDArray[np.float64], log_lo: float, per_log: float) -> int:
    """``summary.bin_index`` of ``x``: a guess from the geometric spacing of ``edges[1:]``,
    then corrected by comparing with the edges themselves, so the answer is exact for any
    sorted edges and only the speed depends on the spacing."""
    top: int = edges.shape[0] - 2
    if not x >= edges[1]:  # NaN too: never counted, since it marks a journey never safe
        return 0
    if x >= edges[top + 1]:
        return top
    j: int = min(max(1 + int((math.log(x) - log_lo) * per_log), 1), top)
    while x < edges[j]:
        j -= 1
    while x >= edges[j + 1]:
        j += 1
    return j


@njit(cache=True, nogil=True, error_model="numpy")
def _journeys(
    s: NDArray[np.uint64],
    n: int,
    m: Tables,
    start_safe: bool,
    brokered: NDArray[np.bool_],
    fixed: NDArray[np.float64],
    keep: bool,
    status: NDArray[np.int8],
    end_leg: NDArray[np.int16],
    t_safe: NDArray[np.float64],
    days: NDArray[np.float64],
    spent: NDArray[np.float64],
    guess: NDArray[np.float64],
    outcomes: NDArray[np.int64],
    funnel: NDArray[np.int64],
    days_safety: NDArray[np.int64],
    days_destination: NDArray[np.int64],
    cost_hist: NDArray[np.int64],
) -> int:
    """Run ``n`` journeys (per-journey results kept when ``keep``) and count them; returns how
    many reached safety. Draws come from the stream ``s``, or from ``fixed[journey, leg]`` (in
    ``step.DRAWS`` order) when it is not empty."""
    n_legs = m.dur.shape[0]
    given = fixed.shape[0] > 0
    safe = 0
    for i in range(n):
        t = 0.0
        c = 0.0
        ts = 0.0 if start_safe else np.nan
        st = ACTIVE
        ended = -1
        for k in range(n_legs):
            if given:
                u_wait, x_dur, x_cost, x_p = (
                    fixed[i, k, 0],
                    fixed[i, k, 1],
                    fixed[i, k, 2],
                    fixed[i, k, 3],
                )
                u_caught, u_betray, u_outcome = fixed[i, k, 4], fixed[i, k, 5], fixed[i, k, 6]
            else:
                u_wait = _uniform(s) if m.wait_hazard[k] > 0 else 0.0
                x_dur = _estimate_draw(m.dur[k, 0], s)
                x_cost = _estimate_draw(m.cost[k, 0], s)
                x_p = _estimate_draw(m.p_int[k, 0], s)
                u_caught = _uniform(s)
                u_betray = _uniform(s) if brokered[k] else 0.0
                u_outcome = _uniform(s)
            st, t, c, ts = _leg(
                m, k, t, c, ts, u_wait, x_dur, x_cost, x_p, u_caught, u_betray, u_outcome
            )
            if st != ACTIVE:
                ended = k
                break
        st = _finish(st, ts)
        outcomes[st] += 1
        if ended >= 0:
            funnel[ended, st] += 1
        if not np.isnan(ts):
            safe += 1
            days_safety[_bin(ts, DAY_EDGES, guess[0], guess[1])] += 1
        if st == DESTINATION:
            days_destination[_bin(t, DAY_EDGES, guess[0], guess[1])] += 1
        cost_hist[_bin(c, COST_EDGES, guess[2], guess[3])] += 1
        if keep:
            status[i] = st
            end_leg[i] = ended
            t_safe[i] = ts
            days[i] = t
            spent[i] = c
    return safe


def _guess(edges: NDArray[np.float64]) -> tuple[float, float]:
    lo, hi = float(edges[1]), float(edges[-1])
    return float(np.log(lo)), (len(edges) - 2) / float(np.log(hi / lo))


_GUESS = np.array([*_guess(DAY_EDGES), *_guess(COST_EDGES)])
_NO_DRAWS = np.zeros((0, 0, len(DRAWS)))


def _state(seed: np.random.SeedSequence) -> NDArray[np.uint64]:
    """The inline stream's state: numpy's SFC64 seeded from the chunk's seed."""
    state: NDArray[np.uint64] = np.random.SFC64(seed).state["state"]["state"].copy()
    return state


# Counters are bumped once per journey from every thread at once; padded by a cache line on each
# side so that two chunks' small arrays never share one (measured: with the small arrays side by
# side, two threads ran 1.6 times one thread's rate instead of 2).
_PAD = 64 // np.dtype(np.int64).itemsize


def _counters(n: int) -> NDArray[np.int64]:
    out: NDArray[np.int64] = np.zeros(n + 2 * _PAD, np.int64)[_PAD : _PAD + n]
    return out


def _run(
    model: JourneyModel,
    n: int,
    seed: np.random.SeedSequence | None,
    keep: bool,
    fixed: NDArray[np.float64] = _NO_DRAWS,
) -> tuple[Chunk, dict[str, Any]]:
    size = n if keep else 0
    chunk = Chunk(
        status=np.empty(size, np.int8),
        end_leg=np.empty(size, np.int16),
        days_to_safety=np.empty(size),
        days=np.empty(size),
        cost=np.empty(size),
    )
    out: dict[str, Any] = {
        "runs": n,
        "outcomes": _counters(len(OUTCOMES)),
        "funnel": _counters(model.n_legs * len(OUTCOMES)).reshape(model.n_legs, len(OUTCOMES)),
        "days_safety": _counters(len(DAY_EDGES) - 1),
        "days_destination": _counters(len(DAY_EDGES) - 1),
        "cost": _counters(len(COST_EDGES) - 1),
    }
    out["safe"] = int(
        _journeys(
            np.zeros(4, np.uint64) if seed is None else _state(seed),
            n,
            model.tables(),
            model.start_safe,
            model.betrayal.sum(axis=1) > 0,
            fixed,
            keep,
            chunk.status,
            chunk.end_leg,
            chunk.days_to_safety,
            chunk.days,
            chunk.cost,
            _GUESS,
            out["outcomes"],
            out["funnel"],
            out["days_safety"],
            out["days_destination"],
            out["cost"],
        )
    )
    return chunk, out


def run_seeded(
    model: JourneyModel, n: int, seed: np.random.SeedSequence, keep: bool
) -> tuple[Chunk | None, dict[str, Any]]:
    """``n`` journeys drawn from ``seed``: their results if ``keep`` (else None; nothing
    per journey is written) and their counts (``summary.chunk_aggregates``'s keys)."""
    chunk, out = _run(model, n, seed, keep)
    return (chunk if keep else None), out


def run_chunk(model: JourneyModel, n: int, rng: np.random.Generator) -> Chunk:
    """Simulate ``n`` journeys (the same model and outputs as ``kernel.run_chunk``), drawing from
    a stream seeded by ``rng``'s seed sequence."""
    seq = rng.bit_generator.seed_seq
    assert isinstance(seq, np.random.SeedSequence), "the generator must come from a SeedSequence"
    return _run(model, n, seq, keep=True)[0]


def run_draws(model: JourneyModel, draws: NDArray[np.float64]) -> tuple[Chunk, dict[str, Any]]:
    """Journeys from explicit draws, ``draws[journey, leg]`` in ``step.DRAWS`` order (for
    comparing kernels draw for draw): their results and counts."""
    fixed = np.ascontiguousarray(draws, dtype=np.float64)
    if fixed.ndim != 3 or fixed.shape[1:] != (model.n_legs, len(DRAWS)):
        raise ValueError(
            f"draws must be (journeys, {model.n_legs} legs, {len(DRAWS)}); got {fixed.shape}"
        )
    return _run(model, fixed.shape[0], None, keep=True, fixed=fixed)
