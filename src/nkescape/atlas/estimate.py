"""Uncertain quantities with their sources: the one numeric type of the atlas.

Every number in the atlas that is not an identifier, a date or a count of people in a documented
case is an :class:`Estimate`: a point, a range or a median with a 90th percentile, and the ids of
the sources it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

# Slugs: lowercase letters and digits in dash-separated words, e.g. "tumen-ice-walk".
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]

# The z-score of the 90th percentile of a standard normal, a property of the normal law, not a
# tuned constant: the double nearest to it (scipy.special.ndtri(0.9); statistics.NormalDist's
# inv_cdf is one unit in the last place above; a test checks it).
Z90 = 1.2815515655446004
# The band shown with a figure: its estimate's 10th and 90th percentiles (a plan's days range, the
# map's ranges), narrow enough to read and wide enough to hold most of what the simulator draws.
BAND = (0.1, 0.9)


def _as_tuple(value: Any) -> Any:
    """Let data files write a single id where a list of ids is expected."""
    if isinstance(value, str):
        return (value,)
    return value


# A number as data files must write it: an int or a float, never a boolean (YAML reads yes, no,
# on and off as booleans) nor a string of digits.
Number = Annotated[float, Strict()]

SourceRefs = Annotated[tuple[Slug, ...], BeforeValidator(_as_tuple), Field(min_length=1)]

EstimateShape = Literal["point", "range", "lognormal"]


class Frozen(BaseModel):
    """Base of every atlas model: immutable, strict about unknown fields, no NaN or infinity."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )


class Estimate(Frozen):
    """An uncertain quantity and where it comes from.

    Exactly one shape is given: ``value`` (a point), ``low`` and ``high`` (a range, read as a
    uniform distribution, because the sources give bounds and nothing about the shape between), or
    ``median`` and ``p90`` (a right-skewed quantity such as a duration or a price, read as a
    lognormal law through those two quantiles).
    """

    value: Number | None = None
    low: Number | None = None
    high: Number | None = None
    median: Number | None = None
    p90: Number | None = None
    source: SourceRefs
    note: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Estimate:
        given = {
            name
            for name in ("value", "low", "high", "median", "p90")
            if getattr(self, name) is not None
        }
        if given == {"value"}:
            return self
        if given == {"low", "high"}:
            assert self.low is not None and self.high is not None
            if self.low > self.high:
                raise ValueError(f"low {self.low:g} is above high {self.high:g} (swap them)")
            return self
        if given == {"median", "p90"}:
            assert self.median is not None and self.p90 is not None
            if self.median <= 0:
                raise ValueError(
                    f"median {self.median:g} must be positive for a median/p90 estimate "
                    "(use low/high for quantities that can be zero)"
                )
            if self.p90 < self.median:
                raise ValueError(
                    f"p90 {self.p90:g} is below median {self.median:g} (p90 must be >= median)"
                )
            return self
        raise ValueError(
            "give exactly one of: value; low and high; median and p90 "
            f"(got {', '.join(sorted(given)) or 'no number'})"
        )

    @property
    def shape(self) -> EstimateShape:
        if self.value is not None:
            return "point"
        if self.low is not None:
            return "range"
        return "lognormal"

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest values the sources allow (5th-95th percentile for lognormal)."""
        if self.shape == "lognormal":
            return (self.quantile(0.05), self.quantile(0.95))
        return (self.quantile(0.0), self.quantile(1.0))

    @property
    def top(self) -> float:
        """The largest figure computed with: a range's high end, a lognormal's p90 or mean."""
        if self.median is not None and self.p90 is not None:
            return max(self.p90, self.mean)
        return self.quantile(1.0)

    @property
    def mean(self) -> float:
        if self.value is not None:
            return self.value
        if self.low is not None and self.high is not None:
            return (self.low + self.high) / 2
        mu, sigma = self._lognormal()
        return math.exp(mu + sigma * sigma / 2)

    @property
    def central(self) -> float:
        """The value a table shows: the point, the mid-range or the median."""
        if self.median is not None:
            return self.median
        return self.mean

    def _lognormal(self) -> tuple[float, float]:
        assert self.median is not None and self.p90 is not None
        return lognormal_mu_sigma(self.median, self.p90)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (0 <= q <= 1) of the estimate's distribution."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile q must be in [0, 1], got {q}")
        if self.value is not None:
            return self.value
        if self.low is not None and self.high is not None:
            return self.low + q * (self.high - self.low)
        mu, sigma = self._lognormal()
        if q in (0.0, 1.0):
            return 0.0 if q == 0.0 else math.inf
        return math.exp(mu + sigma * NormalDist().inv_cdf(q))

    def band_around(self, figure: float) -> tuple[float, float]:
        """The estimate's 10th and 90th percentiles (``BAND``) moved to ``figure``, a value computed
        from its mean (times a season's, the events' or a price's factor): the band a plan or the
        map shows with that figure. A zero mean moves nothing."""
        factor = figure / self.mean if self.mean > 0 else 1.0
        return self.quantile(BAND[0]) * factor, self.quantile(BAND[1]) * factor

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        """Draw ``size`` values from the estimate's distribution."""
        if self.value is not None:
            return np.full(size, self.value)
        if self.low is not None and self.high is not None:
            return rng.uniform(self.low, self.high, size)
        mu, sigma = self._lognormal()
        return rng.lognormal(mu, sigma, size)

    def scaled(self, k: float) -> Estimate:
        """The same estimate multiplied by ``k`` (k >= 0), e.g. a detour factor times a distance."""
        fields = ("value", "low", "high", "median", "p90")
        if k == 0:
            return self.model_copy(update={f: None for f in fields} | {"value": 0.0})
        return self.model_copy(
            update={f: getattr(self, f) * k for f in fields if getattr(self, f) is not None}
        )

    def format(self, unit: str = "") -> str:
        """A short human rendering: ``2000``, ``1-3``, ``10 (p90 14)``."""
        if self.value is not None:
            return f"{self.value:g}{unit}"
        if self.low is not None:
            return f"{self.low:g}-{self.high:g}{unit}"
        return f"{self.median:g}{unit} (p90 {self.p90:g})"


def lognormal_mu_sigma(median: float, p90: float) -> tuple[float, float]:
    """``(mu, sigma)`` of the lognormal law (of its log) with this median and 90th percentile.

    The one conversion of a ``median``/``p90`` estimate: the atlas's figures, the simulator's
    draws and the flow model's priors all read it so.

    Examples
    --------
    >>> mu, sigma = lognormal_mu_sigma(10.0, 20.0)
    >>> round(math.exp(mu), 9), round(math.exp(mu + Z90 * sigma), 9)
    (10.0, 20.0)
    """
    return math.log(median), math.log(p90 / median) / Z90


def odds(p: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """The odds ``p / (1 - p)`` of a probability; infinite at 1.

    Examples
    --------
    >>> odds(np.array([0.0, 0.2, 0.5, 1.0])).tolist()
    [0.0, 0.25, 1.0, inf]
    """
    q = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: NDArray[np.float64] = np.where(q < 1.0, q / (1.0 - q), np.inf)
    return out


def scale_odds(
    p: NDArray[np.float64] | float, factor: NDArray[np.float64] | float
) -> NDArray[np.float64]:
    """Apply a multiplier to a probability through its odds: ``p f / (1 - p + p f)``.

    A ``p_intercept_factor`` of 2 doubles the odds of being caught, which for small
    probabilities is doubling the probability; unlike a plain product it never passes 1, so
    several factors can apply together.
    """
    q = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(q >= 1.0, 1.0, q * factor / (1.0 - q + q * factor))
    return np.nan_to_num(out, nan=0.0)


@dataclass(frozen=True)
class Limit:
    """The range one kind of quantity may take in the atlas, and why it ends where it does."""

    noun: str
    unit: str
    low: float
    high: float
    why: str
    # What to say to a figure below ``low``.
    below: str

    def amount(self, value: float) -> str:
        text = f"{value:,.0f}" if value == int(value) and abs(value) < 1e15 else f"{value:g}"
        return f"US${text}" if self.unit == "US$" else f"{text} {self.unit}".rstrip()


# Every number of the atlas is bounded, so that no figure the checker accepts can overflow what
# is computed from it (sums over a journey, factors applied in turn, costs for a group, dates).
# The tops are generous, far above every figure of the bundled atlas, and finite after the
# planner multiplies them out; docs/schema.md ("Bounds") gives the reasoning and the largest
# bundled figure of each. This table is the one statement of the bounds: the types below read
# it, and a test holds docs/schema.md to it.
_NEGATIVE = "cannot be negative"
_MULTIPLIER = "a multiplier: 1 means no change, 2 doubles"
LIMITS: dict[str, Limit] = {
    "days": Limit("a duration", "days", 0, 3_653, "ten years", f"durations {_NEGATIVE}"),
    "usd": Limit(
        "a cost", "US$", 0, 1_000_000, "a million dollars per person", f"costs {_NEGATIVE}"
    ),
    "km": Limit("a distance", "km", 0, 40_075, "once around the Earth", f"distances {_NEGATIVE}"),
    "people": Limit(
        "a number of people", "", 0, 1_000_000, "a million people", f"numbers {_NEGATIVE}"
    ),
    "probability": Limit(
        "a probability in [0, 1]", "", 0, 1, "write it as a fraction, e.g. 0.05 for 5%", ""
    ),
    "factor": Limit("a multiplier", "", 0, 100, "a hundredfold change", _MULTIPLIER),
    "duration_factor": Limit(
        "a multiplier",
        "",
        0,
        10,
        "a tenfold slower leg; close a slower one with months or closes",
        _MULTIPLIER,
    ),
}


def _exactly(e: Estimate) -> str:
    """The estimate as written, to the last digit (3653.0000000000005 is past 3,653)."""

    def n(x: float | None) -> str:
        return repr(float(x or 0.0)).removesuffix(".0")

    if e.value is not None:
        return n(e.value)
    if e.low is not None:
        return f"{n(e.low)}-{n(e.high)}"
    return f"{n(e.median)} (p90 {n(e.p90)})"


def _bounded(quantity: str) -> AfterValidator:
    """A validator holding an estimate to ``LIMITS[quantity]``."""
    limit = LIMITS[quantity]
    if quantity == "probability":
        outside = "got {}, expected a probability in [0, 1] (" + limit.why + ")"
        too_low = too_high = outside
    else:
        too_low = f"got {{}}, expected {limit.noun} >= {limit.amount(limit.low)} ({limit.below})"
        too_high = (
            f"got {{}}, expected {limit.noun} of at most {limit.amount(limit.high)} "
            f"({limit.why}; see Bounds in docs/schema.md)"
        )

    def check(e: Estimate) -> Estimate:
        shown = _exactly(e)
        if e.median is not None and e.p90 is not None:
            if quantity == "probability":
                raise ValueError(
                    "a probability cannot be given as median/p90 (use value or low/high in [0, 1])"
                )
            # Positive by construction. Its mean, which the planner uses, lies above the median
            # and, for a wide spread, above the p90; compared in logs, as it may overflow.
            mu, sigma = e._lognormal()
            if e.p90 > limit.high:
                raise ValueError(too_high.format(shown))
            if mu + sigma * sigma / 2 > math.log(limit.high):
                raise ValueError(
                    f"got {shown}: its mean, which the planner uses, is above "
                    f"{limit.amount(limit.high)}, the most {limit.noun} may be "
                    f"({limit.why}; narrow the spread between median and p90)"
                )
            return e
        low, high = e.bounds
        if low < limit.low:
            raise ValueError(too_low.format(shown))
        if high > limit.high:
            raise ValueError(too_high.format(shown))
        return e

    return AfterValidator(check)


@dataclass(frozen=True)
class Quantity:
    """Marks an estimate type with the kind of quantity it is (a key of ``LIMITS``)."""

    name: str


Days = Annotated[Estimate, _bounded("days"), Quantity("days")]
Usd = Annotated[Estimate, _bounded("usd"), Quantity("usd")]
Km = Annotated[Estimate, _bounded("km"), Quantity("km")]
People = Annotated[Estimate, _bounded("people"), Quantity("people")]
Probability = Annotated[Estimate, _bounded("probability"), Quantity("probability")]
Factor = Annotated[Estimate, _bounded("factor"), Quantity("factor")]
DurationFactor = Annotated[Estimate, _bounded("duration_factor"), Quantity("duration_factor")]
