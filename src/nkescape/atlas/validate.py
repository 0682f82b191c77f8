"""Checks across entries: references resolve, sources exist, periods do not overlap, cases fit.

Per-entry checks (types, ranges, shapes) live in the schema; these need the whole atlas.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from nkescape.atlas._yaml import Lines, dotted
from nkescape.atlas.errors import Problem
from nkescape.atlas.estimate import LIMITS, Estimate
from nkescape.atlas.model import geodesic_km
from nkescape.atlas.schema import (
    KINDS,
    SINGULAR,
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
    from nkescape.atlas.model import Definition

Path = tuple[str | int, ...]

# (kind, field, kind referred to) for the fields that hold ids of other entries.
_REFERENCES: tuple[tuple[type[BaseModel], str, str], ...] = (
    (Leg, "from", "places"),
    (Leg, "to", "places"),
    (Channel, "profiles", "profiles"),
    (Channel, "entry_legs", "legs"),
    (Profile, "starts", "places"),
    (Profile, "channels", "channels"),
    (Case, "profile", "profiles"),
    (Case, "channel", "channels"),
    (Case, "path", "places"),
    (Case, "legs", "legs"),
)


@dataclass(frozen=True)
class Unparsed:
    """An entry that failed its own checks; its references are still checked, from raw data."""

    kind: str
    raw: Mapping[str, Any]
    file: str
    line: int | None
    lines: Lines


def walk(model: BaseModel, path: Path = ()) -> Iterator[tuple[Path, BaseModel]]:
    """Yield every sub-model of ``model`` with its path, using data-file field names."""
    yield path, model
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from walk(value, (*path, key))
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from walk(item, (*path, key, i))


def _suggest(word: str, options: Iterator[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    def __init__(
        self,
        defs: Mapping[tuple[str, str], Definition],
        salvaged: AbstractSet[tuple[str, str]],
        incomplete: bool,
    ) -> None:
        self.defs = defs
        self.salvaged = salvaged
        self.incomplete = incomplete
        self.ids: dict[str, dict[str, Any]] = {}
        for (kind, ident), d in defs.items():
            self.ids.setdefault(kind, {})[ident] = d.entry
        self.problems: list[Problem] = []
        self.broken: set[tuple[str, Any]] = set()
        self.unparsed: list[Unparsed] = []

    def at(self, d: Definition | Unparsed, path: Path, message: str) -> None:
        line = None
        for end in range(len(path), -1, -1):
            line = d.lines.get(path[:end])
            if line is not None:
                break
        ident = d.ident if not isinstance(d, Unparsed) else str(d.raw.get("id", "?"))
        what = f"{SINGULAR[d.kind]} {ident}"
        self.problems.append(
            Problem(d.file, line or d.line, dotted(path) or "id", f"{message} ({what})")
        )

    def of(self, kind: str) -> dict[str, Any]:
        return self.ids.get(kind, {})

    def known(self, kind: str, ident: str) -> bool:
        """Whether ``ident`` is defined, possibly by an entry that failed its own checks."""
        return ident in self.of(kind) or (kind, ident) in self.broken

    def run(self, unparsed: list[Unparsed]) -> list[Problem]:
        # A broken entry is reported once, for what is wrong with it, not again by every
        # reference to it; so is a file that could not be read, through the ids found in it.
        self.broken = {(u.kind, u.raw["id"]) for u in unparsed if isinstance(u.raw.get("id"), str)}
        self.broken |= self.salvaged
        self.unparsed = unparsed
        for u in unparsed:
            self.raw_references(u)
        for d in self.defs.values():
            self.sources(d)
            self.references(d)
            if isinstance(d.entry, Event):
                self.event(d, d.entry)
            if isinstance(d.entry, Leg):
                self.distance(d, d.entry)
            # Whether a case's legs exist or a country has a policy cannot be told while a file
            # that may hold them is unread.
            if isinstance(d.entry, Case) and not self.incomplete:
                self.case(d, d.entry)
        self.policies()
        if not self.incomplete:
            self.countries_have_policies()
        return self.problems

    def distance(self, d: Definition, leg: Leg) -> None:
        """A distance computed from the places must keep to the bound on distances."""
        places: dict[str, Place] = self.of("places")
        a, b = places.get(leg.from_), places.get(leg.to)
        if leg.distance_km is not None or leg.detour_factor is None or a is None or b is None:
            return
        limit = LIMITS["km"]
        apart = geodesic_km(a, b)
        km = apart * leg.detour_factor.top
        if km > limit.high:
            self.at(
                d,
                ("detour_factor",),
                f"the places are {apart:,.0f} km apart, so detour_factor "
                f"{leg.detour_factor.format()} makes the leg up to {km:,.0f} km, more than "
                f"{limit.high:,.0f} km ({limit.why}; give distance_km or a smaller factor)",
            )

    def sources(self, d: Definition) -> None:
        known: dict[str, Source] = self.of("sources")
        for path, model in walk(d.entry):
            refs = getattr(model, "source", None)
            if not isinstance(refs, tuple):
                continue
            for i, ref in enumerate(refs):
                if not self.known("sources", ref):
                    self.at(
                        d,
                        (*path, "source", i) if len(refs) > 1 else (*path, "source"),
                        f"unknown source {ref!r} (add it to sources or fix the id"
                        f"{_suggest(ref, list(known))})",
                    )
            if (
                isinstance(model, Estimate)
                and model.note is None
                and refs
                and all(r in known and known[r].kind == "assumption" for r in refs)
            ):
                self.at(
                    d,
                    path,
                    "this number rests only on an assumption source and has no note "
                    "(add a note saying what it rests on)",
                )

    def references(self, d: Definition) -> None:
        for model, key, target in _REFERENCES:
            if not isinstance(d.entry, model):
                continue
            name = "from_" if key == "from" else key
            value = getattr(d.entry, name)
            refs = value if isinstance(value, tuple) else (value,)
            for i, ref in enumerate(refs):
                if not self.known(target, ref):
                    where: Path = (key, i) if isinstance(value, tuple) else (key,)
                    self.at(
                        d,
                        where,
                        f"unknown {target[:-1] if target != 'policies' else 'policy'} {ref!r} "
                        f"(define it or fix the id{_suggest(ref, list(self.of(target)))})",
                    )

    def raw_references(self, u: Unparsed) -> None:
        """References of an entry that failed validation, read from its raw fields."""
        model = KINDS[u.kind]
        for ref_model, key, target in _REFERENCES:
            if ref_model is not model:
                continue
            value = u.raw.get(key)
            refs = value if isinstance(value, list) else [value]
            for i, ref in enumerate(refs):
                if isinstance(ref, str) and not self.known(target, ref):
                    where: Path = (key, i) if isinstance(value, list) else (key,)
                    self.at(u, where, f"unknown {target[:-1]} {ref!r} (define it or fix the id)")
        source = u.raw.get("source")
        for ref in source if isinstance(source, list) else [source]:
            if isinstance(ref, str) and not self.known("sources", ref):
                self.at(u, ("source",), f"unknown source {ref!r} (add it to sources or fix the id)")

    def event(self, d: Definition, event: Event) -> None:
        for i, effect in enumerate(event.effects):
            for key, target in (("legs", "legs"), ("channels", "channels")):
                for j, ref in enumerate(getattr(effect, key)):
                    if not self.known(target, ref):
                        self.at(
                            d,
                            ("effects", i, key, j),
                            f"unknown {target[:-1]} {ref!r} (fix the id"
                            f"{_suggest(ref, list(self.of(target)))})",
                        )

    def case(self, d: Definition, case: Case) -> None:
        places = self.of("places")
        if not all(p in places for p in case.path):
            return  # reported as unknown places already
        legs: dict[str, Leg] = self.of("legs")
        if case.legs and not self.case_legs(d, case, legs):
            return
        # Legs that failed their own checks may be the ones the case took: wait for them.
        broken = {(u.raw.get("from"), u.raw.get("to")) for u in self.unparsed if u.kind == "legs"}
        for i, (a, b) in enumerate(zip(case.path, case.path[1:], strict=False)):
            if (a, b) in broken:
                continue
            between = [leg for leg in legs.values() if leg.from_ == a and leg.to == b]
            if not between:
                self.at(d, ("path", i + 1), f"no leg from {a!r} to {b!r} (add one or fix the path)")
                continue
            usable = [
                leg
                for leg in between
                if (leg.in_use is None or leg.in_use.covers(case.year))
                and (not case.months or set(case.months) & set(leg.months))
            ]
            if not usable:
                when = f"{case.year}" + (f", months {list(case.months)}" if case.months else "")
                self.at(
                    d,
                    ("path", i + 1),
                    f"no leg from {a!r} to {b!r} is in use in {when} (legs there: "
                    f"{', '.join(leg.id for leg in between)}; fix the case or the legs' "
                    "in_use/months)",
                )
        channel: Channel | None = self.of("channels").get(case.channel)
        profile: Profile | None = self.of("profiles").get(case.profile)
        if (
            channel is not None
            and profile is not None
            and case.profile not in channel.profiles
            and case.channel not in profile.channels
        ):
            self.at(
                d,
                ("channel",),
                f"profile {case.profile!r} may not use channel {case.channel!r} "
                "(add it to the profile's channels or the channel's profiles)",
            )

    def case_legs(self, d: Definition, case: Case, legs: dict[str, Leg]) -> bool:
        """The case's own legs: one per hop, each joining its hop and in use in its year.

        False when they are wrong (reported here), so the path is not checked twice.
        """
        hops = list(zip(case.path, case.path[1:], strict=False))
        if len(case.legs) != len(hops):
            self.at(
                d,
                ("legs",),
                f"{len(case.legs)} legs for {len(hops)} hops of the path (give one leg per hop, "
                "or none)",
            )
            return False
        fine = True
        for i, (leg_id, (a, b)) in enumerate(zip(case.legs, hops, strict=True)):
            leg = legs.get(leg_id)
            if leg is None:
                fine = False  # reported as an unknown leg already
            elif (leg.from_, leg.to) != (a, b):
                self.at(
                    d,
                    ("legs", i),
                    f"leg {leg_id!r} goes {leg.from_!r} -> {leg.to!r}, not {a!r} -> {b!r} "
                    "(the hop it stands for)",
                )
                fine = False
            elif leg.in_use is not None and not leg.in_use.covers(case.year):
                self.at(d, ("legs", i), f"leg {leg_id!r} is not in use in {case.year}")
                fine = False
            elif case.months and not set(case.months) & set(leg.months):
                self.at(
                    d,
                    ("legs", i),
                    f"leg {leg_id!r} is not used in months {list(case.months)} (its months: "
                    f"{list(leg.months)})",
                )
                fine = False
        return fine

    def policies(self) -> None:
        by_country: dict[str, list[tuple[Definition, CountryPolicy]]] = {}
        for d in self.defs.values():
            if isinstance(d.entry, CountryPolicy):
                by_country.setdefault(d.entry.country, []).append((d, d.entry))
        for items in by_country.values():
            items.sort(key=lambda x: x[1].in_use.first_day)
            for (_, a), (db, b) in itertools.pairwise(items):
                last = a.in_use.last_day
                if last is None or last >= b.in_use.first_day:
                    self.at(
                        db,
                        ("in_use",),
                        f"period overlaps policy {a.id!r} of the same country "
                        f"(make {a.id!r} end before {b.in_use.first_day})",
                    )

    def countries_have_policies(self) -> None:
        with_policy = {p.country for p in self.of("policies").values()}
        # A policy that failed its own checks still says which country it is for.
        with_policy |= {u.raw.get("country") for u in self.unparsed if u.kind == "policies"}
        for d in self.defs.values():
            if isinstance(d.entry, Place) and d.entry.country not in with_policy:
                self.at(
                    d,
                    ("country",),
                    f"no policy for country {d.entry.country} (add one to policies: what "
                    "happens to a North Korean caught there)",
                )


def cross_check(
    defs: Mapping[tuple[str, str], Definition],
    unparsed: list[Unparsed] | None = None,
    *,
    salvaged: AbstractSet[tuple[str, str]] = frozenset(),
    incomplete: bool = False,
) -> list[Problem]:
    """Every cross-entry problem of a merged set of definitions (and of entries that failed).

    ``salvaged`` holds (kind, id) of entries in files that could not be read, and
    ``incomplete`` says some entries were lost whole: problems that would follow only from their
    absence (unknown references to them, countries without a policy, cases without legs) are left
    out, so that the problem of the unread file stands out.
    """
    return _Checker(defs, salvaged, incomplete).run(unparsed or [])
