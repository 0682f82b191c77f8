"""The board's vocabulary and values: roles, statuses, journeys, check-ins, overdue alerts.

Every value is a frozen dataclass with ``to_json()`` (what ``--json`` prints, what the web API
returns, and, for the documents the vault stores, what is encrypted there) and ``from_json()``
reading it back. Nothing here names a person: a group is counts, a place is an atlas id, a user is
an account name the organisation chooses (a pseudonym is best).

Times are timezone-aware UTC datetimes; a journey's windows count days from its departure, taken
as midnight UTC of the departure date.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nkescape.board.errors import BoardError, NotFoundError
from nkescape.routing.query import Group

__all__ = [
    "ACTIVE",
    "CODE_ALPHABET",
    "JOURNEY_FORMAT",
    "Action",
    "Checkin",
    "CheckinStatus",
    "Journey",
    "JourneyStatus",
    "LegWindow",
    "Overdue",
    "PlanVersion",
    "Role",
    "User",
    "group_from_json",
    "group_to_json",
    "midnight",
    "new_code",
    "parse_code",
    "parse_time",
    "utc",
]

# The layout of the JSON documents below (and of those the vault stores): raised when a key is
# renamed, removed or changes meaning, so that an old board's documents are recognised.
JOURNEY_FORMAT = 1


class Role(StrEnum):
    """What a user may do: a coordinator everything, a partner check in on the journeys
    assigned to them, an auditor read (journeys and the audit log) and nothing else."""

    COORDINATOR = "coordinator"
    PARTNER = "partner"
    AUDITOR = "auditor"


class JourneyStatus(StrEnum):
    """Where a journey stands (``at-leg``: the end of leg ``current_leg`` is confirmed)."""

    PLANNED = "planned"
    UNDER_WAY = "under-way"
    AT_LEG = "at-leg"
    SAFE = "safe"
    ARRIVED = "arrived"
    CAUGHT = "caught"
    LOST_CONTACT = "lost-contact"
    CLOSED = "closed"


# Journeys the overdue alerts watch: those whose group is still on the way with its fate open.
# A group that is safe (in a country that does not send people back) or has arrived is out of
# the danger the alert is for; a caught group is no longer late but caught (a partner's report
# said so); a closed journey is finished. Lost contact stays watched: it is the most worrying.
ACTIVE = frozenset(
    {
        JourneyStatus.PLANNED,
        JourneyStatus.UNDER_WAY,
        JourneyStatus.AT_LEG,
        JourneyStatus.LOST_CONTACT,
    }
)


class CheckinStatus(StrEnum):
    """What a check-in reports about a leg: ``ok`` means its end is reached."""

    OK = "ok"
    DELAYED = "delayed"
    WAITING = "waiting"
    CAUGHT = "caught"
    LOST = "lost"


class Action(StrEnum):
    """The audit log's words for what was done."""

    USER_ADD = "user.add"
    USER_PASSWORD = "user.password"
    USER_REMOVE = "user.remove"
    USER_TOTP = "user.totp"
    JOURNEY_NEW = "journey.new"
    JOURNEY_READ = "journey.read"
    JOURNEY_LIST = "journey.list"
    CHECKIN = "checkin"
    REPLAN = "replan"
    STATUS = "status"
    ASSIGN = "assign"
    OVERDUE = "overdue"
    PURGE = "purge"
    EXPORT = "export"
    AUDIT_READ = "audit.read"
    DENIED = "denied"


# Crockford's base 32: digits and letters without I, L, O and U, so that a code read aloud or
# copied by hand has no look-alikes (I and L read as 1, O as 0), and no accidental words.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
# 16 symbols of 5 bits: 80 random bits. Guessing a code among a thousand journeys with a
# million tries succeeds with a chance of about 1e-15; it stays short enough to read over a
# phone in four groups of four.
CODE_GROUPS = 4
CODE_GROUP_LEN = 4
CODE_LENGTH = CODE_GROUPS * CODE_GROUP_LEN
CODE_EXAMPLE = "K7QM-4XTR-9BWE-2HDA"
# How much of an unreadable code an error message repeats.
_SHOWN = 40


def new_code() -> str:
    """A fresh journey code: 80 bits from ``secrets``, derived from nothing, in groups of 4."""
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return _grouped(symbols)


def _grouped(symbols: str) -> str:
    n = CODE_GROUP_LEN
    return "-".join(symbols[i : i + n] for i in range(0, len(symbols), n))


def parse_code(text: str) -> str:
    """A journey code as the board writes it, from what a user typed.

    Case, dashes and spaces do not matter, and the look-alikes I, L and O read as 1, 1 and 0
    (Crockford's rule). Raises NotFoundError (there is no such journey) for text that cannot be
    a code; it says so from the text alone, so it tells nothing of the board's journeys.

    Examples
    --------
    >>> parse_code("k7qm 4xtr-9bwe2hda")
    'K7QM-4XTR-9BWE-2HDA'
    """
    raw = "".join(text.split()).replace("-", "").upper().translate(_LOOKALIKES)
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
        raise NotFoundError(
            f"{shown!r} is not a journey code (a code is {CODE_LENGTH} letters and digits in "
            f"groups of {CODE_GROUP_LEN}, e.g. {CODE_EXAMPLE}); check it and try again"
        )
    return _grouped(raw)


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; BoardError for a naive datetime (its zone would be a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BoardError(
            f"the time {moment.isoformat()} has no time zone; give one (e.g. "
            f"{moment.isoformat()}+00:00 for UTC)"
        )
    return moment.astimezone(dt.UTC)


def parse_time(text: str, *, what: str = "time") -> dt.datetime:
    """An ISO 8601 time; without an offset it is UTC. BoardError showing the format."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BoardError(
            f"{what}: cannot read {text!r} (write an ISO time such as 2017-09-02T14:30, UTC "
            "unless it ends in an offset like +09:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+09:00, before the first UTC time there is
        raise BoardError(
            f"{what}: {text!r} is outside the years a time can have (1-9999 in UTC)"
        ) from None


def _time_json(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def _time_from(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_time(text)


def midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in UTC: where a journey's windows count from."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


_GROUP_FIELDS = ("women", "men", "children", "elderly", "disabled")


def group_to_json(group: Group) -> dict[str, int]:
    """A group as counts only (the planner's Group; no names, no ages)."""
    return {name: getattr(group, name) for name in _GROUP_FIELDS}


def group_from_json(data: dict[str, Any]) -> Group:
    return Group(**{name: int(data.get(name, 0)) for name in _GROUP_FIELDS})


@dataclass(frozen=True)
class User:
    """An account: a name the organisation chose and its role."""

    name: str
    role: Role

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        return cls(name=str(data["name"]), role=Role(data["role"]))


@dataclass(frozen=True)
class LegWindow:
    """When a group should reach the end of leg ``index`` (1-based): days after departure.

    ``p50_days`` and ``p90_days`` are the median and 90th percentile of the simulated days from
    departure to the leg's end, among journeys that reach it (``nkescape.board.windows``).
    """

    index: int
    leg: str
    start: str
    end: str
    p50_days: float
    p90_days: float

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leg": self.leg,
            "from": self.start,
            "to": self.end,
            "p50_days": self.p50_days,
            "p90_days": self.p90_days,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LegWindow:
        return cls(
            index=int(data["index"]),
            leg=str(data["leg"]),
            start=str(data["from"]),
            end=str(data["to"]),
            p50_days=float(data["p50_days"]),
            p90_days=float(data["p90_days"]),
        )


@dataclass(frozen=True)
class PlanVersion:
    """One plan of a journey: the planner's itinerary ``itinerary`` (its rank) from ``start``
    on ``departure``, with the window of each leg. A re-plan adds a version; none is lost."""

    made_at: dt.datetime
    start: str
    destination: str
    departure: dt.date
    itinerary: int
    safety_at: str | None
    legs: tuple[LegWindow, ...]

    @property
    def safety_leg(self) -> int | None:
        """The leg whose end is the first safe place (0: the start is safe; None: never)."""
        if self.safety_at is None:
            return None
        if self.safety_at == self.start:
            return 0
        return next((w.index for w in self.legs if w.end == self.safety_at), None)

    def due(self, index: int, *, quantile: str = "p90") -> dt.datetime:
        """When the end of leg ``index`` should be reached: departure + that leg's p90 (or p50)."""
        window = self.legs[index - 1]
        days = window.p90_days if quantile == "p90" else window.p50_days
        return midnight(self.departure) + dt.timedelta(days=days)

    def to_json(self) -> dict[str, Any]:
        return {
            "made_at": _time_json(self.made_at),
            "from": self.start,
            "to": self.destination,
            "departure": self.departure.isoformat(),
            "itinerary": self.itinerary,
            "safety_at": self.safety_at,
            "legs": [w.to_json() for w in self.legs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanVersion:
        made = _time_from(data["made_at"])
        assert made is not None
        return cls(
            made_at=made,
            start=str(data["from"]),
            destination=str(data["to"]),
            departure=dt.date.fromisoformat(data["departure"]),
            itinerary=int(data["itinerary"]),
            safety_at=data.get("safety_at"),
            legs=tuple(LegWindow.from_json(w) for w in data["legs"]),
        )


@dataclass(frozen=True)
class Checkin:
    """A report on leg ``leg`` of plan version ``plan`` (1-based), made by user ``by``."""

    leg: int
    at: dt.datetime
    by: str
    status: CheckinStatus
    note: str | None = None
    spent_usd: float | None = None
    plan: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "leg": self.leg,
            "at": _time_json(self.at),
            "by": self.by,
            "status": self.status.value,
            "note": self.note,
            "spent_usd": self.spent_usd,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkin:
        at = _time_from(data["at"])
        assert at is not None
        spent = data.get("spent_usd")
        return cls(
            leg=int(data["leg"]),
            at=at,
            by=str(data["by"]),
            status=CheckinStatus(data["status"]),
            note=data.get("note"),
            spent_usd=None if spent is None else float(spent),
            plan=int(data.get("plan", 1)),
        )


@dataclass(frozen=True)
class Journey:
    """A group in transit: counts, funding, its plans (the last is current) and check-ins.

    ``current_leg`` is the last leg of the current plan whose end a check-in confirmed (0: none
    yet); ``status`` follows from the check-ins and the coordinators' changes (see
    ``nkescape.board.service``).
    """

    code: str
    group: Group
    funding: str
    created_at: dt.datetime
    plans: tuple[PlanVersion, ...]
    partner: str | None = None
    status: JourneyStatus = JourneyStatus.PLANNED
    current_leg: int = 0
    checkins: tuple[Checkin, ...] = field(default=())
    closed_on: dt.date | None = None

    @property
    def plan(self) -> PlanVersion:
        """The plan in force: the last one made."""
        return self.plans[-1]

    @property
    def version(self) -> int:
        """The current plan's number, from 1."""
        return len(self.plans)

    @property
    def departure(self) -> dt.date:
        return self.plan.departure

    @property
    def legs(self) -> tuple[LegWindow, ...]:
        return self.plan.legs

    @property
    def next_leg(self) -> LegWindow | None:
        """The leg whose end is the next to confirm (None once the last one is)."""
        if self.current_leg >= len(self.legs):
            return None
        return self.legs[self.current_leg]

    @property
    def spent_usd(self) -> tuple[float, ...]:
        """US$ reported spent on each leg of the current plan."""
        out = [0.0] * len(self.legs)
        for c in self.checkins:
            if c.plan == self.version and c.spent_usd is not None and 1 <= c.leg <= len(out):
                out[c.leg - 1] += c.spent_usd
        return tuple(out)

    @property
    def spent_total_usd(self) -> float:
        """US$ reported spent on the whole journey, every plan's legs."""
        return sum(c.spent_usd or 0.0 for c in self.checkins)

    @property
    def last_contact(self) -> dt.datetime | None:
        """The latest check-in's time, whatever it reported."""
        return max((c.at for c in self.checkins), default=None)

    def to_json(self) -> dict[str, Any]:
        nxt = self.next_leg
        return {
            "format": JOURNEY_FORMAT,
            "code": self.code,
            "group": group_to_json(self.group),
            "group_label": self.group.label(),
            "funding": self.funding,
            "created_at": _time_json(self.created_at),
            "departure": self.departure.isoformat(),
            "partner": self.partner,
            "status": self.status.value,
            "current_leg": self.current_leg,
            "next_leg": None if nxt is None else nxt.index,
            "next_due": None if nxt is None else _time_json(self.plan.due(nxt.index)),
            "plans": [p.to_json() for p in self.plans],
            "checkins": [c.to_json() for c in self.checkins],
            "spent_usd": list(self.spent_usd),
            "spent_total_usd": self.spent_total_usd,
            "last_contact": _time_json(self.last_contact),
            "closed_on": None if self.closed_on is None else self.closed_on.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Journey:
        """Read ``to_json()`` back (the derived keys, such as ``next_due``, are recomputed)."""
        _check_format(data)
        created = _time_from(data["created_at"])
        assert created is not None
        closed = data.get("closed_on")
        return cls(
            code=parse_code(data["code"]),
            group=group_from_json(data["group"]),
            funding=str(data["funding"]),
            created_at=created,
            plans=tuple(PlanVersion.from_json(p) for p in data["plans"]),
            partner=data.get("partner"),
            status=JourneyStatus(data.get("status", JourneyStatus.PLANNED)),
            current_leg=int(data.get("current_leg", 0)),
            checkins=tuple(Checkin.from_json(c) for c in data.get("checkins", [])),
            closed_on=None if closed is None else dt.date.fromisoformat(closed),
        )


def _check_format(data: dict[str, Any]) -> None:
    found = data.get("format")
    if found != JOURNEY_FORMAT:
        raise BoardError(
            f"a journey document has format {found!r}, this nkescape reads format "
            f"{JOURNEY_FORMAT}; use the nkescape version that wrote the board"
        )


@dataclass(frozen=True)
class Overdue:
    """A journey later than it should be: the end of leg ``leg`` was due at ``due`` (departure +
    that leg's p90) and is not confirmed ``late_hours`` after it."""

    code: str
    leg: int
    leg_id: str
    end: str
    due: dt.datetime
    late_hours: float
    last_contact: dt.datetime | None
    status: JourneyStatus
    partner: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "leg": self.leg,
            "leg_id": self.leg_id,
            "to": self.end,
            "due": _time_json(self.due),
            "late_hours": self.late_hours,
            "last_contact": _time_json(self.last_contact),
            "status": self.status.value,
            "partner": self.partner,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Overdue:
        due = _time_from(data["due"])
        assert due is not None
        return cls(
            code=str(data["code"]),
            leg=int(data["leg"]),
            leg_id=str(data["leg_id"]),
            end=str(data["to"]),
            due=due,
            late_hours=float(data["late_hours"]),
            last_contact=_time_from(data.get("last_contact")),
            status=JourneyStatus(data["status"]),
            partner=data.get("partner"),
        )
