"""The loaded atlas: entries by kind and id, where each was defined, and queries over them."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from geographiclib.geodesic import Geodesic

from nkescape.atlas._yaml import Lines
from nkescape.atlas.estimate import Estimate, Frozen
from nkescape.atlas.schema import (
    SHOW_ORDER,
    Actor,
    Case,
    Channel,
    CountryPolicy,
    Event,
    Leg,
    Place,
    Profile,
    Source,
)

if TYPE_CHECKING:
    from nkescape.atlas.compiled import CompiledAtlas

__all__ = ["ATLAS_JSON_FORMAT", "Atlas", "Definition", "Override", "geodesic_km"]

# The layout of ``Atlas.to_json`` as the CLI prints it: raised when a key changes meaning.
ATLAS_JSON_FORMAT = 1


@dataclass(frozen=True)
class Definition:
    """One entry as read from a file: the entry, where it is, and the line of each of its fields."""

    kind: str
    entry: Frozen
    file: str
    line: int | None
    lines: Lines
    layer: int

    @property
    def ident(self) -> str:
        return str(getattr(self.entry, "id"))  # noqa: B009 - every kind has an id

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class Override:
    """An entry of a later layer (an overlay) that replaced one of an earlier layer."""

    key: tuple[str, str]
    replaced: Definition
    by: Definition


def geodesic_km(a: Place, b: Place) -> float:
    """Distance in km between two places on the WGS84 ellipsoid."""
    return float(Geodesic.WGS84.Inverse(a.lat, a.lon, b.lat, b.lon)["s12"]) / 1000.0


@dataclass(frozen=True, eq=False)
class Atlas:
    """A validated description of the escape network; build it with ``load_atlas``."""

    sources: Mapping[str, Source]
    places: Mapping[str, Place]
    legs: Mapping[str, Leg]
    policies: Mapping[str, CountryPolicy]
    profiles: Mapping[str, Profile]
    channels: Mapping[str, Channel]
    actors: Mapping[str, Actor]
    events: Mapping[str, Event]
    cases: Mapping[str, Case]
    definitions: Mapping[tuple[str, str], Definition] = field(repr=False)
    overrides: tuple[Override, ...] = ()
    layers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_definitions(
        cls,
        definitions: Mapping[tuple[str, str], Definition],
        *,
        overrides: tuple[Override, ...],
        layers: tuple[str, ...],
        warnings: tuple[str, ...],
    ) -> Atlas:
        by_kind: dict[str, dict[str, Any]] = {k: {} for k in SHOW_ORDER}
        for (kind, ident), d in definitions.items():
            by_kind[kind][ident] = d.entry
        return cls(
            **by_kind,
            definitions=dict(definitions),
            overrides=overrides,
            layers=layers,
            warnings=warnings,
        )

    # --- queries -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of entries of each kind."""
        return {kind: len(getattr(self, kind)) for kind in SHOW_ORDER}

    def origin(self, kind: str, ident: str) -> Definition:
        """Where an entry was defined (file and line), e.g. ``origin("legs", "tumen-wade")``."""
        return self.definitions[(kind, ident)]

    @functools.cached_property
    def _legs_from(self) -> dict[str, tuple[Leg, ...]]:
        out: dict[str, list[Leg]] = {p: [] for p in self.places}
        for leg in self.legs.values():
            out[leg.from_].append(leg)
        return {p: tuple(v) for p, v in out.items()}

    def legs_from(self, place: str) -> tuple[Leg, ...]:
        """Legs leaving ``place``."""
        return self._legs_from.get(place, ())

    def policy_for(self, country: str, day: dt.date) -> CountryPolicy | None:
        """The policy of ``country`` on ``day``, if the atlas has one: policies change on the day
        their period says (the Laos deportation of 10 May 2013), not at the turn of a year."""
        for policy in self.policies.values():
            if policy.country == country and policy.in_use.covers(day):
                return policy
        return None

    def is_safe(self, country: str, day: dt.date) -> bool:
        """Whether ``country`` sends no one back on ``day`` (unknown countries are not safe)."""
        policy = self.policy_for(country, day)
        return policy is not None and not policy.sends_back

    def jurisdiction(self, place: str) -> str:
        """The country whose policy holds for a North Korean at ``place``.

        A post abroad (a work site, a restaurant, an embassy) is the host's ground, but the
        North's minders and security officers hold its people there: someone caught before
        reaching a mission or the host's police is taken home, and nobody at a post is safe
        whatever the host's policy. Everywhere else it is the place's own country.
        """
        p = self.places[place]
        return "KP" if p.kind == "post" else p.country

    @functools.cached_property
    def _channel_profiles(self) -> dict[str, frozenset[str]]:
        rel: dict[str, set[str]] = {c: set(ch.profiles) for c, ch in self.channels.items()}
        for p, profile in self.profiles.items():
            for c in profile.channels:
                rel.setdefault(c, set()).add(p)
        return {c: frozenset(v) for c, v in rel.items()}

    def channels_for(self, profile: str) -> tuple[Channel, ...]:
        """Channels open to ``profile``: the union of both sides of the relation."""
        return tuple(
            ch for c, ch in self.channels.items() if profile in self._channel_profiles.get(c, ())
        )

    def profiles_for(self, channel: str) -> tuple[Profile, ...]:
        """Profiles that may use ``channel``."""
        allowed = self._channel_profiles.get(channel, frozenset())
        return tuple(p for ident, p in self.profiles.items() if ident in allowed)

    @functools.cached_property
    def _entry_channels(self) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for c, ch in self.channels.items():
            for leg in ch.entry_legs:
                out.setdefault(leg, set()).add(c)
        return {k: frozenset(v) for k, v in out.items()}

    def entry_channels(self, leg: str) -> frozenset[str]:
        """Channels that ``leg`` is an entry leg of (empty: anyone may take it)."""
        return self._entry_channels.get(leg, frozenset())

    def leg_allowed(self, leg: str, profile: str | None) -> bool:
        """Whether a person of ``profile`` may take ``leg`` (``None``: no restriction)."""
        if profile is None:
            return True
        gates = self.entry_channels(leg)
        return not gates or any(profile in self._channel_profiles.get(c, ()) for c in gates)

    def leg_distance(self, leg: Leg) -> Estimate:
        """The leg's distance in km: given, or geodesic times the detour factor."""
        if leg.distance_km is not None:
            return leg.distance_km
        assert leg.detour_factor is not None  # guaranteed by Leg's validator
        km = geodesic_km(self.places[leg.from_], self.places[leg.to])
        return leg.detour_factor.scaled(km)

    @functools.cached_property
    def compiled(self) -> CompiledAtlas:
        """Integer ids and arrays for the planner and simulator, built on first use."""
        from nkescape.atlas.compiled import compile_atlas

        return compile_atlas(self)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """One JSON-ready object with a list per kind (its layout: ``ATLAS_JSON_FORMAT``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for kind in SHOW_ORDER:
            entries: Mapping[str, Frozen] = getattr(self, kind)
            out[kind] = [
                e.model_dump(mode="json", by_alias=True, exclude_none=True)
                for e in entries.values()
            ]
        return out
