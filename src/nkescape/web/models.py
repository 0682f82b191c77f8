"""The dashboard API's requests and responses as pydantic models, so that its OpenAPI schema is
precise.

Requests take the command line's options under the same names (``from``, ``to``, ``month``...)
with the same defaults. Responses describe what the library's ``to_json()`` methods give; the
endpoints return those dictionaries as they are, so that the API's JSON is the CLI's, and the
schemathesis test holds the two descriptions together. Extra keys are allowed in responses
(pydantic's default): a reader must not break when the library adds one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nkescape.backends import BACKEND_HELP, BACKENDS, DEVICE_HELP, DEVICES
from nkescape.routing.query import DESTINATION, Funding

__all__ = [
    "AtlasDocument",
    "BackendChoice",
    "Band",
    "DeviceChoice",
    "ErrorBody",
    "FitDocument",
    "GeoJson",
    "JobAccepted",
    "JobState",
    "JobView",
    "MetaResponse",
    "NetworkResponse",
    "PlanRequest",
    "PlanResponse",
    "ScenarioRequest",
    "ScenarioResult",
    "SimulateRequest",
    "SimulateResult",
    "SummaryJson",
]

# The simulator's kernels, as the CLI offers them: the choices are built from the library's tuple.
BackendChoice = StrEnum("BackendChoice", [(b, b) for b in BACKENDS])  # type: ignore[misc]
DeviceChoice = StrEnum("DeviceChoice", [(d, d) for d in DEVICES])  # type: ignore[misc]

JobKind = Literal["simulate", "scenario"]
JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class _Request(BaseModel):
    # An unknown key is refused (as an unknown option is), naming it; numbers must be finite.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every error: one line, in the words of the CLI's message for the same input."""

    detail: str = Field(examples=["unknown origin place 'hyesna' (did you mean 'hyesan'?)"])


# --- requests ---------------------------------------------------------------------------------


class PlanRequest(_Request):
    """The options of ``nkescape plan``, with the same names and defaults."""

    origin: str | None = Field(
        None,
        alias="from",
        description="Start place id, e.g. hyesan (default: the profile's).",
        examples=["hyesan"],
    )
    destination: str = Field(DESTINATION, alias="to", description="Destination place id.")
    month: int | None = Field(
        None, ge=1, le=12, description="Departure month (the 1st of it, this year or next)."
    )
    date: str | None = Field(
        None,
        description="Departure date YYYY-MM-DD (instead of month); default today.",
        examples=["2017-09-01"],
        json_schema_extra={"format": "date"},
    )
    group: str = Field(
        "1w",
        description="Who travels: e.g. 2w,1m,1c (w women, m men, c children, e elderly, "
        "d disabled).",
    )
    budget: float | None = Field(None, description="US$ available up front.")
    profile: str | None = Field(None, description="Who the person is (a profile id).")
    funding: Funding = Field("self", description="How the journey is paid.")
    avoid: list[str] | str = Field(
        default_factory=list,
        description='Places or country codes to avoid: a list, or one text "CN,LA".',
    )
    max_days: float | None = Field(None, description="Longest expected journey, in days.")
    calibrated: bool = Field(
        False,
        description="Plan with China's hiding risk calibrated to the saved flow-model fit "
        "(as `--parameters out/flows/posterior.json`).",
    )


class SimulateRequest(PlanRequest):
    """A plan's options and those of ``nkescape simulate``."""

    itinerary: int = Field(1, ge=1, description="Which of the plan's itineraries (1 = best).")
    runs: int = Field(
        100_000, ge=1, description="Number of journeys (at most max_runs).", examples=[1000]
    )
    seed: int = Field(1, ge=0, description="Random seed (same seed, same numbers).")
    adaptive: bool = Field(False, description="Re-plan at every place instead of one itinerary.")
    backend: BackendChoice = Field(BackendChoice("auto"), description=BACKEND_HELP)
    device: DeviceChoice = Field(DeviceChoice("cpu"), description=DEVICE_HELP)


class ScenarioRequest(_Request):
    """The options of ``nkescape flows scenario``, with the same defaults."""

    # Factors may be infinite here, so that the scenario's own check names them in its words.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=True)

    set: dict[str, float] | list[str] = Field(
        description='What changes, as factors: {"china.repatriation": 0} or ["KEY=FACTOR"]; '
        "keys as in /api/meta's scenario_keys.",
        examples=[{"china.repatriation": 0.0}],
    )
    start: str = Field("2026-01", alias="from", description="First month, YYYY-MM.")
    years: int = Field(5, ge=1, description="Years to project.")
    seed: int = Field(1, ge=0, description="Random seed (same seed, same numbers).")


# --- shared pieces of responses -----------------------------------------------------------------


class Band(BaseModel):
    """A figure with its range: the low and high ends and the middle (a mean or a median)."""

    low: float
    mid: float
    high: float


class QueryJson(BaseModel):
    """A planning question under the names every JSON output of nkescape gives it."""

    origin: str
    destination: str
    date: str
    group: str
    group_size: int
    funding: Funding
    profile: str | None
    budget_usd: float | None
    avoid: list[str]
    max_days: float | None
    channel: str | None
    history: bool


class Geometry(BaseModel):
    type: Literal["Point", "LineString"]
    coordinates: list[float] | list[list[float]]


class Feature(BaseModel):
    type: Literal["Feature"]
    id: str | None = None
    geometry: Geometry
    properties: dict[str, Any]


class GeoJson(BaseModel):
    """A GeoJSON FeatureCollection: places as Points, legs as LineStrings."""

    type: Literal["FeatureCollection"]
    features: list[Feature]


# --- plan -------------------------------------------------------------------------------------


class StepJson(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["leg", "wait"]
    leg: str | None
    name: str
    mode: str
    operator: str
    from_: str = Field(alias="from")
    to: str
    start_day: float
    date: str
    month: int
    days: float
    cost_usd: float
    cost_upfront_usd: float
    cost_later_usd: float
    p_intercept: float
    p_intercept_range: list[float]
    p_sent_back_if_caught: float
    if_caught: str
    notes: list[str]
    sources: list[str]


class ItineraryJson(BaseModel):
    p_reach_safety: float
    p_reach_safety_range: list[float]
    p_reach_destination: float
    days: float
    days_range: list[float]
    cost_usd: float
    cost_upfront_usd: float
    cost_later_usd: float
    cost_sponsor_usd: float
    expected_days: float | None
    expected_days_to_safety: float | None
    expected_cost_usd: float
    safety_at: str | None
    channels: list[str]
    distance_km: float
    places: list[str]
    legs: list[StepJson]


class PlanResponse(QueryJson):
    """What ``nkescape plan --json`` prints, and the itineraries as GeoJSON for the map."""

    format: int
    ranking: str
    events_in_force: list[str]
    departure_notes: list[str]
    warnings: list[str]
    itineraries: list[ItineraryJson]
    geojson: GeoJson


# --- simulate ---------------------------------------------------------------------------------


class Share(BaseModel):
    value: float
    ci95: list[float]


class Quantiles(BaseModel):
    p10: float | None
    p50: float | None
    p90: float | None
    mean: float | None


class SummaryJson(BaseModel):
    """What ``nkescape simulate --json`` prints (``Summary.to_json()``)."""

    format: int
    nkescape_version: str
    numpy_version: str
    kernel: str
    device: str
    chunk: int
    seed: int | list[int]
    spawn_key: list[int]
    query: QueryJson | None
    itinerary: int | None
    runs: int
    legs: list[str]
    p_reach_safety: Share
    p_reach_destination: Share
    outcomes: dict[str, float]
    days_to_safety: Quantiles
    days_to_destination: Quantiles
    cost_usd: Quantiles
    # Each leg's row: "leg", "entered", and the count of each outcome that ended there.
    funnel: list[dict[str, str | int]]


class FunnelBar(BaseModel):
    """One leg of the attrition funnel, in journey order (what ``plot_funnel`` draws)."""

    leg: str
    label: str = Field(description="The leg's name.")
    count: int = Field(description="Journeys that entered the leg.")
    share: float = Field(description="count / runs.")
    ended: dict[str, int] = Field(description="Journeys that ended on the leg, by outcome.")


class Histogram(BaseModel):
    """Counts between consecutive edges (len(edges) = len(counts) + 1), log-spaced bins."""

    edges: list[float]
    counts: list[int]


class DaysHistogram(Histogram):
    """Days to safety (``counts``) and to the destination (``destination_counts``), same bins;
    their running sums over ``runs`` are the days-to-safety curves ``plot_days`` draws."""

    destination_counts: list[int]
    runs: int


class SimulateResult(BaseModel):
    summary: SummaryJson
    funnel: list[FunnelBar]
    days: DaysHistogram
    cost: Histogram


# --- flows ------------------------------------------------------------------------------------


class Arms(BaseModel):
    low: list[float]
    median: list[float]
    high: list[float]


class ScenarioArms(BaseModel):
    baseline: Arms
    scenario: Arms


class ScenarioResult(BaseModel):
    """What ``nkescape flows scenario --json`` prints (``ScenarioReport.to_json()``)."""

    model_config = ConfigDict(populate_by_name=True)

    scenario: dict[str, float]
    from_: str = Field(alias="from")
    years: list[int]
    interval: float
    arrivals: ScenarioArms
    repatriated: ScenarioArms
    hiding: ScenarioArms


class FitYear(BaseModel):
    year: int
    observed: int | None
    median: float
    low: float
    high: float
    women_observed: float | None
    women_model: float
    fitted: bool


class FitDocument(BaseModel):
    """The saved fit, ``flows_dir/fit.json`` as ``flows fit`` writes it (with the posterior's
    ``meta``: seed, chains, steps, R-hat...)."""

    mape_percent: float | None
    share_inside_90: float | None
    largest_women_share_gap_points: float | None
    score_years: list[int]
    fit_years: list[int]
    parameters: dict[str, dict[str, float]]
    years: list[FitYear]
    stock_in_china: list[dict[str, Any]]
    stock_in_china_by_year: list[dict[str, Any]]
    meta: dict[str, Any]
    convergence_warning: str | None = Field(
        None, description="What the chains' R-hat says when they disagree, as `flows fit` warns."
    )


# --- jobs -------------------------------------------------------------------------------------


class JobProgress(BaseModel):
    done: int
    total: int
    stage: str | None = Field(None, description="What the job is doing now.")


class JobAccepted(BaseModel):
    id: str
    state: JobState


class JobView(BaseModel):
    id: str
    kind: JobKind
    state: JobState
    progress: JobProgress
    error: str | None
    result: SimulateResult | ScenarioResult | None
    created: str
    started: str | None
    finished: str | None


# --- atlas, network, meta ---------------------------------------------------------------------


class AtlasDocument(BaseModel):
    """What ``nkescape atlas show --json`` prints: a list per kind (docs/schema.md)."""

    format: int
    places: list[dict[str, Any]]
    legs: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    profiles: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    actors: list[dict[str, Any]]
    events: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    sources: list[dict[str, Any]]


class Years(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int | None = Field(alias="from")
    until: int | None


class NetworkLeg(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    from_: str = Field(alias="from")
    to: str
    mode: str
    operator: str
    months: list[int] = Field(description="The months the leg is used in.")
    years: Years = Field(description="The years it was in use (null: no bound).")
    in_use: bool = Field(description="Usable on the date: in its years and months, not shut.")
    why_not: str | None = Field(description="Why it is not in use, when it is not.")
    p_intercept: Band = Field(
        description="Chance one person is caught on it that month (mid: the planner's mean; "
        "low/high: the estimate's bounds), after season and events."
    )
    p_sent_back_if_caught: float
    days: Band = Field(description="Days, mid the planner's; low/high its 10th-90th percentiles.")
    cost_usd: Band = Field(description="US$ for one person paying a broker; 10th-90th pct.")
    season: str | None = Field(description="The month's season note(s), if any.")
    events: list[str] = Field(description="Events in force that change it, with what they do.")
    sources: list[str]


class NetworkPlace(BaseModel):
    id: str
    name: str
    country: str
    kind: str
    lat: float
    lon: float
    region: str | None
    note: str | None
    safe: bool = Field(description="In a country that does not send people back, that year.")
    policy: str | None = Field(description="The country's policy in force that year (atlas id).")
    p_sent_back_if_caught: float
    sources: list[str]


class NetworkEvent(BaseModel):
    id: str
    name: str
    date: str
    until: str | None
    description: str
    effects: list[str] = Field(description="What each of its effects does, in words.")
    sources: list[str]


class NetworkResponse(BaseModel):
    """The legs as they are on one date, computed by the planner's own network builder."""

    date: str
    month: int
    year: int
    basis: QueryJson = Field(description="Who the figures are for: one woman paying a broker.")
    legs: list[NetworkLeg]
    places: list[NetworkPlace]
    events: list[NetworkEvent]
    departure_notes: list[str]


class MetaResponse(BaseModel):
    name: str
    version: str
    data_date: str = Field(
        description="The newest date in the atlas: its events' dates and its sources' years "
        "(a year counts as its 1 January)."
    )
    atlas: dict[str, int]
    atlas_warnings: list[str]
    overlay: bool
    flows: bool = Field(description="A saved fit (posterior.json and fit.json) is there.")
    max_runs: int
    max_jobs: int
    months: list[str]
    funding: list[Funding]
    backends: list[str]
    devices: list[str]
    scenario_keys: dict[str, str]
    scenario_months: dict[str, str] = Field(
        description='The months a scenario may start in: {"from": "YYYY-MM", "to": "YYYY-MM"}.'
    )
