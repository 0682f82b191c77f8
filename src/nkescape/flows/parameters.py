"""The flow model's sourced settings and priors, read from ``data/parameters.yaml``.

Priors are sampled in a transformed space (logarithms for scale parameters) so that the sampler
walks on an unbounded, roughly symmetric scale; ``Prior`` converts both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from nkescape.atlas import Atlas, AtlasError, Estimate, Problem
from nkescape.atlas._yaml import line_of
from nkescape.atlas.estimate import Z90, lognormal_mu_sigma
from nkescape.flows.datafile import Strict, read_spec

__all__ = ["PARAMETERS_FILE", "FlowConfig", "Prior", "StockEstimate", "load_config"]

PARAMETERS_FILE = Path(__file__).parent / "data" / "parameters.yaml"


class _Setting(Strict):
    value: Any
    source: tuple[str, ...] = Field(min_length=1)
    note: str


class _PriorSpec(Strict):
    shape: Literal["uniform", "loguniform", "lognormal"]
    low: float | None = None
    high: float | None = None
    median: float | None = None
    p90: float | None = None
    from_event: str | None = None
    effect: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> _PriorSpec:
        if self.from_event is not None:
            if self.effect is None:
                raise ValueError("from_event needs effect (e.g. outflow_factor)")
            return self
        if self.shape == "lognormal":
            if self.median is None or self.p90 is None or not 0 < self.median < self.p90:
                raise ValueError("lognormal needs 0 < median < p90")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{self.shape} needs low < high")
        if self.shape == "loguniform" and (self.low or 0) <= 0:
            raise ValueError("loguniform needs low > 0")
        return self


class _ParamSpec(Strict):
    id: str
    name: str
    unit: str
    prior: _PriorSpec
    source: tuple[str, ...] = Field(min_length=1)
    note: str


class _StockSpec(Strict):
    year: int
    measure: Literal["people", "women_share"] = "people"
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    source: tuple[str, ...] = Field(min_length=1)
    note: str

    @model_validator(mode="after")
    def _ordered(self) -> _StockSpec:
        if not self.low <= self.high:
            raise ValueError("low must not be above high")
        if self.measure == "women_share" and self.high >= 1:
            raise ValueError("a women_share range must lie below 1")
        return self


class _File(Strict):
    settings: dict[str, _Setting]
    stock_estimates: tuple[_StockSpec, ...] = ()
    parameters: tuple[_ParamSpec, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Prior:
    """One calibrated parameter: its prior, sampled as ``z`` (log x for scale parameters)."""

    id: str
    name: str
    unit: str
    shape: str
    a: float  # uniform/loguniform: low bound in z; lognormal: mu of log x
    b: float  # uniform/loguniform: high bound in z; lognormal: sigma of log x
    source: tuple[str, ...]
    note: str
    event: str | None = None  # the atlas event whose factor this parameter is

    @property
    def log_scale(self) -> bool:
        return self.shape != "uniform"

    def to_x(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.exp(z) if self.log_scale else z

    def to_z(self, x: NDArray[np.float64] | float) -> NDArray[np.float64]:
        arr = np.asarray(x, dtype=np.float64)
        return np.log(arr) if self.log_scale else arr

    def log_density(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log prior density of ``z`` (up to a constant); -inf outside the support."""
        if self.shape == "lognormal":
            return -0.5 * ((z - self.a) / self.b) ** 2
        inside = (z >= self.a) & (z <= self.b)
        return np.where(inside, 0.0, -np.inf)

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        if self.shape == "lognormal":
            return rng.normal(self.a, self.b, n)
        return rng.uniform(self.a, self.b, n)

    def median(self) -> float:
        """The prior's median in natural units."""
        mid = self.a if self.shape == "lognormal" else (self.a + self.b) / 2
        return float(self.to_x(np.array(mid)))

    def describe(self) -> str:
        if self.shape == "lognormal":
            p90 = math.exp(self.a + Z90 * self.b)
            return f"lognormal, median {math.exp(self.a):.3g}, p90 {p90:.3g}"
        lo, hi = (math.exp(self.a), math.exp(self.b)) if self.log_scale else (self.a, self.b)
        return f"{self.shape} {lo:.3g} to {hi:.3g}"


@dataclass(frozen=True)
class StockEstimate:
    """A published range for North Koreans in China at the end of ``year``: their number, or
    the share of women among them."""

    year: int
    measure: str  # "people" or "women_share"
    low: float
    high: float
    source: tuple[str, ...]


@dataclass(frozen=True)
class FlowConfig:
    """Settings and priors of the flow model, checked against the atlas."""

    start_year: int
    arrivals_before_start: float
    hide_at: str
    onward_profile: str
    ngo_share: float
    risk_response: float
    event_severity: float
    settle_share: float
    direct_women_share: float
    stock_spread: float
    budget_median_usd: float
    direct_routes: dict[str, float]
    settled_ramp_years: float
    stay_bins: int
    departure_season: tuple[float, ...]  # 12 factors, January first, mean 1
    onward_season: tuple[float, ...]
    priors: tuple[Prior, ...]
    file: str
    stock_estimates: tuple[StockEstimate, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.priors)

    def index(self, name: str) -> int:
        return self.names.index(name)


_SETTINGS = {
    "start_year": int,
    "arrivals_before_start": float,
    "hide_at": str,
    "onward_profile": str,
    "ngo_share": float,
    "risk_response": float,
    "event_severity": float,
    "settle_share": float,
    "direct_women_share": float,
    "stock_spread": float,
    "budget_median_usd": float,
    "direct_routes": dict,
    "settled_ramp_years": float,
    "stay_bins": int,
    "departure_season": dict,
    "onward_season": dict,
}
_SHARES = ("ngo_share", "event_severity", "settle_share", "direct_women_share")
_PARAMETERS = (
    "exit_rate",
    "famine_push",
    "women_share_2008",
    "women_share_trend",
    "hiding_catch_scale",
    "men_catch_ratio",
    "onward_rate",
    "unsettle_rate",
    "pull",
    "price_elasticity",
    "direct_per_year",
    "budget_spread",
    "dispersion",
    "share_dispersion",
)


def load_config(atlas: Atlas, path: Path | None = None) -> FlowConfig:
    """Read and check the parameters file; raise AtlasError naming file, line and field."""
    path = path or PARAMETERS_FILE
    spec, lines, name = read_spec(path, PARAMETERS_FILE, _File)

    def at(*where: Any) -> int | None:
        return line_of(lines, where)

    found: list[Problem] = []
    settings: dict[str, Any] = {}
    for key, kind in _SETTINGS.items():
        if key not in spec.settings:
            found.append(Problem(name, at("settings"), f"settings.{key}", "missing (add it)"))
            continue
        try:
            settings[key] = kind(spec.settings[key].value)
        except (TypeError, ValueError):
            found.append(
                Problem(
                    name,
                    at("settings", key, "value"),
                    f"settings.{key}.value",
                    f"must be a {kind.__name__}",
                )
            )
    for key in _SHARES:
        if key in settings and not 0 <= settings[key] <= 1:
            found.append(
                Problem(
                    name,
                    at("settings", key, "value"),
                    f"settings.{key}.value",
                    f"must be a share between 0 and 1 (got {settings[key]})",
                )
            )
    for key in ("stock_spread", "budget_median_usd", "stay_bins"):
        if key in settings and not settings[key] > 0:
            found.append(
                Problem(
                    name,
                    at("settings", key, "value"),
                    f"settings.{key}.value",
                    f"must be above 0 (got {settings[key]})",
                )
            )
    if "settled_ramp_years" in settings and not settings["settled_ramp_years"] >= 0:
        found.append(
            Problem(
                name,
                at("settings", "settled_ramp_years", "value"),
                "settings.settled_ramp_years.value",
                f"must be 0 or more (got {settings['settled_ramp_years']})",
            )
        )
    for key in ("departure_season", "onward_season"):
        if key not in settings:
            continue
        season = {str(m): v for m, v in settings[key].items()}
        ok = sorted(season, key=str) == sorted(map(str, range(1, 13))) and all(
            isinstance(v, int | float) and v > 0 for v in season.values()
        )
        if not ok:
            found.append(
                Problem(
                    name,
                    at("settings", key, "value"),
                    f"settings.{key}.value",
                    "must give a factor above 0 for each month 1-12",
                )
            )
            continue
        # Factors are relative: the year's level is the parameters', the season only its shape.
        mean = sum(season.values()) / 12
        settings[key] = tuple(float(season[str(m)]) / mean for m in range(1, 13))
    if "direct_routes" in settings:
        split = settings["direct_routes"]
        values = list(split.values())
        if not values or not all(isinstance(v, int | float) and v >= 0 for v in values):
            why = "must map route ids to shares (e.g. dmz: 0.2)"
        elif not math.isclose(sum(values), 1.0, abs_tol=1e-9):
            why = f"shares must add up to 1 (got {sum(values):g})"
        else:
            why = ""
            settings["direct_routes"] = {str(k): float(v) for k, v in split.items()}
        if why:
            found.append(
                Problem(
                    name,
                    at("settings", "direct_routes", "value"),
                    "settings.direct_routes.value",
                    why,
                )
            )
    for key in spec.settings:
        if key not in _SETTINGS:
            found.append(
                Problem(
                    name,
                    at("settings", key),
                    f"settings.{key}",
                    f"unknown setting (known: {', '.join(_SETTINGS)})",
                )
            )
    ids = [p.id for p in spec.parameters]
    if sorted(ids) != sorted(_PARAMETERS):
        missing = sorted(set(_PARAMETERS) - set(ids))
        extra = sorted(set(ids) - set(_PARAMETERS))
        found.append(
            Problem(
                name,
                at("parameters"),
                "parameters",
                f"the model needs exactly {', '.join(_PARAMETERS)} "
                f"(missing: {', '.join(missing) or 'none'}; unknown: "
                f"{', '.join(extra) or 'none'}; duplicated ones count once)",
            )
        )
    cited: list[tuple[tuple[Any, ...], str, tuple[str, ...]]] = [
        *(
            (("parameters", i, "source"), f"parameters[{p.id}].source", p.source)
            for i, p in enumerate(spec.parameters)
        ),
        *(
            (("stock_estimates", i, "source"), f"stock_estimates[{e.year}].source", e.source)
            for i, e in enumerate(spec.stock_estimates)
        ),
        *(
            (("settings", key, "source"), f"settings.{key}.source", v.source)
            for key, v in spec.settings.items()
        ),
    ]
    for where, field, refs in cited:
        found.extend(
            Problem(
                name, at(*where), field, f"unknown source {ref!r} (add it to the atlas's sources)"
            )
            for ref in refs
            if ref not in atlas.sources
        )
    if settings.get("hide_at") is not None and settings["hide_at"] not in atlas.places:
        found.append(
            Problem(
                name,
                at("settings", "hide_at"),
                "settings.hide_at.value",
                f"unknown place {settings['hide_at']!r}",
            )
        )
    if (
        settings.get("onward_profile") is not None
        and settings["onward_profile"] not in atlas.profiles
    ):
        found.append(
            Problem(
                name,
                at("settings", "onward_profile", "value"),
                "settings.onward_profile.value",
                f"unknown profile {settings['onward_profile']!r}",
            )
        )
    priors: list[Prior] = []
    for i, p in enumerate(spec.parameters):
        try:
            priors.append(_prior(atlas, p))
        except ValueError as exc:
            found.append(
                Problem(name, at("parameters", i, "prior"), f"parameters[{p.id}].prior", str(exc))
            )
    if found:
        raise AtlasError(found)
    order = {k: j for j, k in enumerate(_PARAMETERS)}
    priors.sort(key=lambda pr: order[pr.id])
    stocks = tuple(
        StockEstimate(e.year, e.measure, e.low, e.high, e.source) for e in spec.stock_estimates
    )
    return FlowConfig(priors=tuple(priors), file=name, stock_estimates=stocks, **settings)


def _prior(atlas: Atlas, p: _ParamSpec) -> Prior:
    s = p.prior
    low, high = s.low, s.high
    if s.from_event is not None:
        event = atlas.events.get(s.from_event)
        if event is None:
            raise ValueError(f"unknown event {s.from_event!r}")
        factors: list[Estimate] = [
            f for e in event.effects if (f := getattr(e, s.effect or "", None)) is not None
        ]
        if not factors:
            raise ValueError(f"event {s.from_event!r} has no {s.effect} (give low and high)")
        low, high = factors[0].bounds
        if not low < high:
            raise ValueError(f"event {s.from_event!r}'s {s.effect} is not a range")
    common: dict[str, Any] = {
        "id": p.id,
        "name": p.name,
        "unit": p.unit,
        "shape": s.shape,
        "source": p.source,
        "note": p.note,
        "event": s.from_event,
    }
    if s.shape == "lognormal":
        assert s.median is not None and s.p90 is not None
        mu, sigma = lognormal_mu_sigma(s.median, s.p90)
        return Prior(a=mu, b=sigma, **common)
    assert low is not None and high is not None
    if s.shape == "loguniform":
        if low <= 0:
            raise ValueError("loguniform needs low > 0")
        return Prior(a=math.log(low), b=math.log(high), **common)
    return Prior(a=low, b=high, **common)
