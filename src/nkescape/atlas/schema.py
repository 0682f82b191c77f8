"""The atlas's data model: the kinds of entry a data file may hold and what each field means.

`docs/schema.md` documents the same fields for people who write data files; keep the two together.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, Strict, model_validator

from nkescape.atlas._iso3166 import ISO_3166_ALPHA2
from nkescape.atlas.estimate import (
    LIMITS,
    Days,
    DurationFactor,
    Estimate,
    Factor,
    Frozen,
    Km,
    Number,
    People,
    Probability,
    Slug,
    SourceRefs,
    Usd,
    _as_tuple,
)

__all__ = [
    "GROUP_CODES",
    "KINDS",
    "MODES",
    "SHOW_ORDER",
    "SINGULAR",
    "Actor",
    "Case",
    "Channel",
    "CountryPolicy",
    "Entry",
    "Event",
    "EventEffect",
    "GroupEffect",
    "Hiding",
    "Leg",
    "Place",
    "PolicyOutcomes",
    "Profile",
    "Reliability",
    "SeasonalEffect",
    "SeedItem",
    "Source",
    "Years",
]


def _country(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        hint = " (use upper case)" if code.upper() in ISO_3166_ALPHA2 else ""
        raise ValueError(
            f"unknown country {code!r}: expected an ISO 3166-1 alpha-2 code such as KP, CN, TH"
            f"{hint}"
        )
    return code


Country = Annotated[str, AfterValidator(_country)]
# Whole numbers are strict: YAML reads `yes` as a boolean, which lax parsing would take for 1.
Month = Annotated[int, Strict(), Field(ge=1, le=12)]
# The years an atlas can speak of; the planner refuses departures outside them.
FIRST_YEAR, LAST_YEAR = 1900, 2100
Year = Annotated[int, Strict(), Field(ge=FIRST_YEAR, le=LAST_YEAR)]
Flag = Annotated[bool, Strict()]


def _not_a_number(value: object) -> object:
    # Lax parsing would read a number as seconds since 1970.
    if isinstance(value, bool | int | float):
        raise ValueError(f"got {value!r}, expected a date such as 2011-12-17")
    return value


Date = Annotated[dt.date, BeforeValidator(_not_a_number)]
Ids = Annotated[tuple[Slug, ...], BeforeValidator(_as_tuple)]
Months = Annotated[tuple[Month, ...], BeforeValidator(_as_tuple), Field(min_length=1)]

Mode = Literal[
    "wade",
    "ice-walk",
    "swim",
    "foot",
    "mountain-trek",
    "bus",
    "car",
    "taxi",
    "motorbike",
    "train",
    "boat",
    "longboat",
    "flight",
    "hidden-in-vehicle",
]
MODES: tuple[str, ...] = get_args(Mode)
Operator = Literal["self", "broker", "guide", "ngo", "driver", "boatman", "state"]
SourceKind = Literal[
    "seed-article",
    "official-statistic",
    "ngo-report",
    "press",
    "reference",
    "government",
    "assumption",
]
PlaceKind = Literal[
    "origin-town",
    "border-crossing",
    "transit-city",
    "safe-house-area",
    "port",
    "sea-area",
    "airport",
    "embassy",
    "detention-centre",
    "destination",
    # Where the state posts people abroad (a work site, a restaurant, an embassy, a front): its
    # minders hold them there, so the North's rules apply (Atlas.jurisdiction).
    "post",
]
Outcome = Literal["reached-destination", "reached-safety", "repatriated", "in-hiding", "dead"]


class Source(Frozen):
    """A public document the atlas cites, or a named modelling assumption (kind ``assumption``)."""

    id: Slug
    title: str
    publisher: str
    year: Year | None = None
    url: str | None = None
    kind: SourceKind
    note: str | None = None


class Years(Frozen):
    """The years (inclusive) in which something was in use; ``until`` empty means still in use."""

    start: Year = Field(alias="from")
    until: Year | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Years:
        if self.until is not None and self.until < self.start:
            raise ValueError(f"until {self.until} is before from {self.start} (swap them)")
        return self

    def covers(self, year: int) -> bool:
        return self.start <= year and (self.until is None or year <= self.until)


class Period(Frozen):
    """The days (inclusive) a policy held. ``from`` and ``until`` are dates, or years standing
    for 1 January and 31 December; ``until`` empty means still in force."""

    start: Year | Date = Field(alias="from")
    until: Year | Date | None = None

    @property
    def first_day(self) -> dt.date:
        start = self.start
        return start if isinstance(start, dt.date) else dt.date(start, 1, 1)

    @property
    def last_day(self) -> dt.date | None:
        until = self.until
        if until is None or isinstance(until, dt.date):
            return until
        return dt.date(until, 12, 31)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        last = self.last_day
        if last is not None and last < self.first_day:
            raise ValueError(f"until {self.until} is before from {self.start} (swap them)")
        return self

    def covers(self, day: dt.date) -> bool:
        last = self.last_day
        return self.first_day <= day and (last is None or day <= last)


class Place(Frozen):
    """A named point of the network at the level of public reporting (towns, areas, rivers)."""

    id: Slug
    name: str
    country: Country
    kind: PlaceKind
    lat: Number = Field(ge=-90, le=90)
    lon: Number = Field(ge=-180, le=180)
    region: str | None = None
    note: str | None = None
    source: SourceRefs


class _Effects(Frozen):
    """Multipliers on a leg's duration, interception probability and cost."""

    duration_factor: DurationFactor | None = None
    p_intercept_factor: Factor | None = None
    cost_factor: Factor | None = None


class SeasonalEffect(_Effects):
    """How a leg changes in some months (ice, high water, torrential rain)."""

    months: Months
    note: str
    source: SourceRefs


class GroupEffect(_Effects):
    """How a leg changes for a group with children, elderly or disabled members, or per person."""

    who: Literal["child", "elderly", "disabled", "per-person"]
    note: str
    source: SourceRefs


class Leg(Frozen):
    """One hop of a journey between two places, by one mode, with its uncertain figures."""

    id: Slug
    name: str
    from_: Slug = Field(alias="from")
    to: Slug
    mode: Mode
    operator: Operator
    duration_days: Days
    cost_usd: Usd
    p_intercept: Probability
    # Of those who get across, the share wounded on the way (a crossing under fire); taken as
    # independent of every other leg.
    p_wounded: Probability | None = None
    distance_km: Km | None = None
    detour_factor: Factor | None = None
    months: Months = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    in_use: Years | None = None
    seasonal: tuple[SeasonalEffect, ...] = ()
    group: tuple[GroupEffect, ...] = ()
    requires: Ids = ()
    note: str | None = None
    source: SourceRefs

    @model_validator(mode="after")
    def _geometry(self) -> Leg:
        if self.from_ == self.to:
            raise ValueError(f"leg goes from {self.from_!r} to itself (check from and to)")
        if self.distance_km is None and self.detour_factor is None:
            raise ValueError(
                "give distance_km, or detour_factor to compute it from the places' coordinates"
            )
        return self


class PolicyOutcomes(Frozen):
    """What happens to a North Korean caught in a country: probabilities that sum to one."""

    repatriated: Probability | None = None
    deported_onward: Probability | None = None
    handed_to_embassy: Probability | None = None
    released: Probability | None = None
    killed: Probability | None = None

    def items(self) -> list[tuple[str, Probability]]:
        return [
            (name, value)
            for name in type(self).model_fields
            if (value := getattr(self, name)) is not None
        ]


class Hiding(Frozen):
    """What a day of waiting in hiding costs in a country: the chance of being found, and money."""

    p_caught_per_day: Probability
    cost_usd_per_day: Usd
    note: str | None = None


class CountryPolicy(Frozen):
    """A country's treatment of North Koreans it catches, in one period."""

    id: Slug
    country: Country
    in_use: Period
    outcomes: PolicyOutcomes
    detention_days: Days
    deported_to: Country | None = None
    hiding: Hiding | None = None
    note: str | None = None
    source: SourceRefs

    @model_validator(mode="after")
    def _consistent(self) -> CountryPolicy:
        items = self.outcomes.items()
        if not items:
            raise ValueError("outcomes is empty (give at least one outcome probability)")
        low = sum(p.bounds[0] for _, p in items)
        high = sum(p.bounds[1] for _, p in items)
        # Ranges may straddle one; what cannot be right is outcomes that can never sum to one.
        if low > 1 + 1e-9 or high < 1 - 1e-9:
            raise ValueError(
                f"outcome probabilities sum to {low:g}-{high:g}, which cannot be 1 "
                "(adjust them so the outcomes cover every caught person)"
            )
        if self.outcomes.deported_onward is not None and self.deported_to is None:
            raise ValueError("deported_onward is given without deported_to (name the country)")
        return self

    @property
    def sends_back(self) -> bool:
        """Whether anyone caught here can end up returned towards North Korea."""
        o = self.outcomes
        return any(
            p is not None and p.bounds[1] > 0 for p in (o.repatriated, o.deported_onward, o.killed)
        )


class SeedItem(Frozen):
    """A numbered item of one of the two seed lists of escape channels."""

    seed: Literal["15-ways", "10-dangerous-ways"]
    item: int = Field(ge=1, le=15, strict=True)

    @model_validator(mode="after")
    def _in_list(self) -> SeedItem:
        size = 15 if self.seed == "15-ways" else 10
        if self.item > size:
            raise ValueError(f"{self.seed} has items 1-{size}, got {self.item}")
        return self


class Channel(Frozen):
    """A way out of North Korea: who can use it and where it enters the graph."""

    id: Slug
    name: str
    description: str
    profiles: Ids = ()
    entry_legs: Ids = Field(min_length=1)
    covers: tuple[SeedItem, ...] = Field(min_length=1)
    in_use: Years | None = None
    source: SourceRefs


class Profile(Frozen):
    """Who a person is, where they start and which channels they may use."""

    id: Slug
    name: str
    description: str
    starts: Ids = Field(min_length=1)
    channels: Ids = ()
    source: SourceRefs


class Reliability(Frozen):
    """Per-journey probabilities that an actor betrays the people it moves."""

    robbed: Probability
    turned_in: Probability
    sold: Probability


class Actor(Frozen):
    """A kind of organiser: brokers, NGOs, church networks, guides, drivers, boatmen."""

    id: Slug
    name: str
    kind: Literal["broker", "ngo", "church-network", "guide", "driver", "boatman"]
    price_factor: Factor
    fee_usd: Usd | None = None
    pay_later: Flag = False
    # Who pays the legs this actor organises: the group itself, or a sponsor (an NGO that pays
    # the brokers it hires). A pay-later group pays them too, after arriving.
    paid_by: Literal["group", "sponsor"] = "group"
    reliability: Reliability
    in_use: Years | None = None
    note: str | None = None
    source: SourceRefs


class EventEffect(Frozen):
    """What an event changes, and on which legs, channels or countries."""

    legs: Ids = ()
    modes: Annotated[tuple[Mode, ...], BeforeValidator(_as_tuple)] = ()
    countries: Annotated[tuple[Country, ...], BeforeValidator(_as_tuple)] = ()
    channels: Ids = ()
    closes: Flag = False
    duration_factor: DurationFactor | None = None
    p_intercept_factor: Factor | None = None
    cost_factor: Factor | None = None
    outflow_factor: Factor | None = None
    repatriation_factor: Factor | None = None
    # People taken out in one operation while the event holds (an airlift): the flow model
    # moves them from hiding in China to arrival, spread over the event's months.
    people_moved: People | None = None
    note: str

    @model_validator(mode="after")
    def _targets(self) -> EventEffect:
        if not (self.legs or self.modes or self.countries or self.channels):
            raise ValueError("effect has no target (give legs, modes, countries or channels)")
        return self


# The factors of an event that act on legs, which history undoes before an in_baseline event.
UNDONE_FACTORS = ("duration_factor", "p_intercept_factor", "cost_factor")


class Event(Frozen):
    """A dated change to the network (a crackdown, a closure, a reopening)."""

    id: Slug
    name: str
    date: Date
    until: Date | None = None
    description: str
    effects: tuple[EventEffect, ...] = ()
    in_baseline: Flag = False
    source: SourceRefs

    def active(self, day: dt.date) -> bool:
        """Whether the event's effects hold on ``day``."""
        return self.date <= day and (self.until is None or day <= self.until)

    @model_validator(mode="after")
    def _ordered(self) -> Event:
        if self.until is not None and self.until < self.date:
            raise ValueError(f"until {self.until} is before date {self.date} (swap them)")
        return self

    @model_validator(mode="after")
    def _undoable(self) -> Event:
        # History before a lasting baseline event divides the legs' figures by its factors
        # (routing.events_in_force), so each must have an inverse inside its own bound.
        if not self.in_baseline or self.until is not None:
            return self
        for i, effect in enumerate(self.effects):
            for name in UNDONE_FACTORS:
                factor: Estimate | None = getattr(effect, name)
                top = LIMITS["duration_factor" if name == "duration_factor" else "factor"].high
                if factor is not None and factor.mean * top < 1:
                    raise ValueError(
                        f"effects[{i}].{name} {factor.format()} cannot be undone for the years "
                        f"before the event (in_baseline): give at least {1 / top:g}, or an "
                        "until date"
                    )
        return self


# The letters of a travelling party in the planner's notation, "2w,1m,1c" (routing.query.Group
# reads parties with them; a case's `group` is checked against them here).
GROUP_CODES: dict[str, str] = {
    "w": "women",
    "m": "men",
    "c": "children",
    "e": "elderly",
    "d": "disabled",
}
_CODE = f"[{''.join(GROUP_CODES)}{''.join(GROUP_CODES).upper()}]"
GroupText = Annotated[
    str, Field(pattern=rf"^\s*\d{{1,9}}\s*{_CODE}(\s*,\s*\d{{1,9}}\s*{_CODE})*\s*$")
]


class Case(Frozen):
    """A documented escape: who, when, by which channel and path, and how it ended."""

    id: Slug
    name: str
    year: Year
    months: Annotated[tuple[Month, ...], BeforeValidator(_as_tuple)] = ()
    people: int = Field(ge=1, le=int(LIMITS["people"].high), strict=True)
    profile: Slug
    channel: Slug
    path: Ids = Field(min_length=2)
    # The leg of each hop of `path` (one per hop), when the sources say which of several legs
    # joining the same places was taken (the gymnast climbed the fences, the swimmer swam).
    legs: Ids = ()
    # The party that travelled together, when it is not `people` adults in one group (the 2004
    # airlift's 468 came in small groups).
    group: GroupText | None = None
    outcome: Outcome
    duration_days: Days | None = None
    note: str | None = None
    source: SourceRefs


Entry = Source | Place | Leg | CountryPolicy | Channel | Profile | Actor | Event | Case

# The top-level keys of a data file, in dependency order, and the model of their entries.
KINDS: dict[str, type[Frozen]] = {
    "sources": Source,
    "places": Place,
    "legs": Leg,
    "policies": CountryPolicy,
    "profiles": Profile,
    "channels": Channel,
    "actors": Actor,
    "events": Event,
    "cases": Case,
}

# The order in which the kinds are shown (tables, counts, JSON): the network first, sources last.
SHOW_ORDER: tuple[str, ...] = (
    "places",
    "legs",
    "channels",
    "profiles",
    "policies",
    "actors",
    "events",
    "cases",
    "sources",
)

# How each kind names one entry in messages.
SINGULAR: dict[str, str] = {
    "sources": "source",
    "places": "place",
    "legs": "leg",
    "policies": "policy",
    "profiles": "profile",
    "channels": "channel",
    "actors": "actor",
    "events": "event",
    "cases": "case",
}
