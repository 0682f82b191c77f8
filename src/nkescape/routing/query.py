"""What a planning question says: who travels, from where, when, with what money and limits."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from nkescape.atlas import Atlas

__all__ = [
    "DESTINATION",
    "FUNDING",
    "Funding",
    "Group",
    "PlanError",
    "check_year",
    "parse_avoid",
    "parse_date",
    "suggest",
]

# Where a journey ends unless the question says otherwise: where the sources' journeys end, and
# the only country that takes every North Korean who reaches it.
DESTINATION = "seoul"

Funding = Literal["self", "broker-later", "ngo", "church"]
FUNDING: tuple[Funding, ...] = ("self", "broker-later", "ngo", "church")


class PlanError(ValueError):
    """A planning question the planner cannot answer: bad input, or no route at all."""


def suggest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(word, list(dict.fromkeys(options)), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def parse_date(text: str) -> dt.date:
    """A departure date written as an ISO date, ``2017-09-01``; PlanError showing the format.

    The command line's ``--date`` and the dashboard's ``date`` both read dates with it.
    """
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PlanError(f"cannot read {text!r} (write YYYY-MM-DD, e.g. 2017-09-01)") from None


def check_year(year: int, what: str) -> None:
    """PlanError for a year outside those the atlas covers; ``what`` names the input that gave it
    (``"date: 9999-12-31"``). The planner's dates and the dashboard's map dates both meet it."""
    from nkescape.atlas.schema import FIRST_YEAR, LAST_YEAR

    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PlanError(
            f"{what} is outside the years the atlas covers ({FIRST_YEAR}-{LAST_YEAR}); give a "
            "date in those years"
        )


def parse_avoid(text: str | None) -> tuple[str, ...]:
    """Place ids or country codes to avoid, written ``"CN,LA"``: the items, blanks dropped."""
    return tuple(a.strip() for a in (text or "").split(",") if a.strip())


# Group effects apply once per member, so a group's size must stay where they are finite. The
# sources describe groups of a few people, the largest a boat of a few dozen; a hundred is far past
# any of them and keeps factors at the atlas's bounds finite (100 ** 100 is about 1e200).
MAX_GROUP = 100


@dataclass(frozen=True)
class Group:
    """Who travels together. Children, the elderly and the disabled slow a group down."""

    women: int = 1
    men: int = 0
    children: int = 0
    elderly: int = 0
    disabled: int = 0

    def __post_init__(self) -> None:
        for name in ("women", "men", "children", "elderly", "disabled"):
            if getattr(self, name) < 0:
                raise PlanError(f"group: {name} cannot be negative")
        if self.size == 0:
            raise PlanError("group: nobody travels (give at least one person, e.g. --group 1w)")
        if self.size > MAX_GROUP:
            raise PlanError(
                f"group: {self.size} people is more than the planner takes ({MAX_GROUP}); plan "
                "the group in parts"
            )

    @property
    def size(self) -> int:
        return self.women + self.men + self.children + self.elderly + self.disabled

    def count(self, who: str) -> int:
        """Members a group effect of kind ``who`` applies to (per-person: beyond the first)."""
        return {
            "child": self.children,
            "elderly": self.elderly,
            "disabled": self.disabled,
            "per-person": self.size - 1,
        }[who]

    @classmethod
    def parse(cls, text: str) -> Group:
        """``"2w,1m,1c"``: 2 women, 1 man, 1 child (e: elderly, d: disabled)."""
        # The party letters are the atlas's, read here as check_year reads its years: a case's
        # `group` uses the same notation.
        from nkescape.atlas.schema import GROUP_CODES as _GROUP_CODES

        counts: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = re.fullmatch(r"(\d{1,9})\s*([a-zA-Z])", part)
            if match is None or match.group(2).lower() not in _GROUP_CODES:
                raise PlanError(
                    f"group: cannot read {part!r} (write counts and letters such as 2w,1m,1c: "
                    f"{', '.join(f'{k} {v}' for k, v in _GROUP_CODES.items())})"
                )
            name = _GROUP_CODES[match.group(2).lower()]
            counts[name] = counts.get(name, 0) + int(match.group(1))
        if not counts:
            raise PlanError("group: empty (write e.g. 1w or 2w,1m,1c)")
        return cls(**{"women": 0, **counts})

    def label(self) -> str:
        """``2 women, 1 man, 1 child``."""
        words = {
            "women": ("woman", "women"),
            "men": ("man", "men"),
            "children": ("child", "children"),
            "elderly": ("elderly person", "elderly people"),
            "disabled": ("disabled person", "disabled people"),
        }
        return ", ".join(
            f"{n} {words[name][n != 1]}" for name in words if (n := getattr(self, name))
        )


@dataclass(frozen=True)
class Query:
    """A checked planning question (built by :func:`nkescape.routing.plan`)."""

    origin: str
    destination: str
    date: dt.date
    group: Group
    budget: float | None
    profile: str | None
    funding: Funding
    avoid: frozenset[str] = field(default_factory=frozenset)
    max_days: float | None = None
    require_channel: str | None = None
    # True: every event, as history happened (the flow model); see ``events_in_force``.
    history: bool = False

    @classmethod
    def of_legs(cls, day: dt.date, place: str, *, history: bool = False) -> Query:
        """A question that asks only what the legs are like on ``day``: one person paying their
        own way, with no budget or profile, from ``place`` to itself. The legs' figures do not
        depend on the journey's ends (the origin only makes waiting there free, which no leg's
        figure uses), so any place of the atlas will do."""
        return cls(
            origin=place,
            destination=place,
            date=day,
            group=Group(),
            budget=None,
            profile=None,
            funding="self",
            history=history,
        )

    def to_json(self) -> dict[str, Any]:
        """The question, under the names every JSON output of nkescape gives it."""
        return {
            "origin": self.origin,
            "destination": self.destination,
            "date": self.date.isoformat(),
            "group": self.group.label(),
            "group_size": self.group.size,
            "funding": self.funding,
            "profile": self.profile,
            "budget_usd": self.budget,
            "avoid": sorted(self.avoid),
            "max_days": self.max_days,
            "channel": self.require_channel,
            "history": self.history,
        }

    def check(self, atlas: Atlas) -> None:
        """Raise PlanError naming the first bad field, with suggestions."""
        names = {p.name.lower(): p.id for p in atlas.places.values()}
        for role, place in (("origin", self.origin), ("destination", self.destination)):
            if place not in atlas.places:
                raise PlanError(
                    f"unknown {role} place {place!r}{suggest(place, [*atlas.places, *names])}"
                )
        if self.origin == self.destination:
            raise PlanError(f"origin and destination are both {self.origin!r}")
        if self.profile is not None and self.profile not in atlas.profiles:
            raise PlanError(
                f"unknown profile {self.profile!r}{suggest(self.profile, atlas.profiles)}"
            )
        if self.budget is not None and self.budget < 0:
            raise PlanError(f"budget cannot be negative (got {self.budget:g})")
        if self.max_days is not None and self.max_days <= 0:
            raise PlanError(f"max days must be positive (got {self.max_days:g})")
        if self.funding not in FUNDING:
            raise PlanError(
                f"unknown funding {self.funding!r} (one of {', '.join(FUNDING)})"
                f"{suggest(self.funding, FUNDING)}"
            )
        if self.require_channel is not None and self.require_channel not in atlas.channels:
            raise PlanError(
                f"unknown channel {self.require_channel!r}"
                f"{suggest(self.require_channel, atlas.channels)}"
            )
        countries = {p.country for p in atlas.places.values()}
        for item in self.avoid:
            if item not in atlas.places and item not in countries:
                raise PlanError(
                    f"cannot avoid {item!r}: not a place id or a country code of the atlas"
                    f"{suggest(item, [*atlas.places, *countries])}"
                )
        for name in (self.origin, self.destination):
            if name in self.avoid or atlas.places[name].country in self.avoid:
                raise PlanError(f"{name!r} is both an end of the journey and to be avoided")
