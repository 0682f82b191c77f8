"""The board API's requests and responses as pydantic models, so that its OpenAPI schema is precise.

Requests take the CLI's names (``from``, ``date``, ``group`` as ``2w,1c``...). Responses describe
what the domain's ``to_json()`` methods give (``nkescape.board.model``); the endpoints return those
dictionaries as they are, so that the API's JSON is ``nkescape board ... --json``'s, and the
schemathesis test holds the two descriptions together. Extra keys are allowed in responses: a
reader must not break when the domain adds one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nkescape.board.auth import MAX_PASSWORD_LENGTH, TOTP_DIGITS
from nkescape.board.model import CheckinStatus, JourneyStatus, Role
from nkescape.board.privacy import NOTE_MAX
from nkescape.board.service import MAX_SPENT_USD
from nkescape.routing.query import Funding

__all__ = [
    "AssignRequest",
    "AuditList",
    "AuditRowJson",
    "AuditVerified",
    "CheckinRequest",
    "ErrorBody",
    "JourneyJson",
    "JourneyList",
    "JourneyView",
    "LoginRequest",
    "MetaResponse",
    "NewJourneyRequest",
    "NewUserRequest",
    "NewUserResponse",
    "OverdueJson",
    "OverdueList",
    "ReplanRequest",
    "SessionResponse",
    "StatusRequest",
]

# The longest user name the login reads: longer is not a name the board made, and is refused
# before any lookup or hash is spent on it.
MAX_NAME_LENGTH = 64
# Passwords longer than the board accepts at creation are still read up to this length at login
# (to answer "wrong password", not a validation error that would say which rule it broke); beyond
# it the request is refused unread, so that a megabyte "password" costs no hashing.
MAX_LOGIN_PASSWORD = 4 * MAX_PASSWORD_LENGTH
# The planner's longest itinerary rank offered on the page; the service refuses one the plan
# does not have, saying how many it has.
MAX_ITINERARY = 20


class _Request(BaseModel):
    # An unknown key is refused, naming it (as an unknown option is); numbers must be finite.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every error: one line saying what is wrong and how to fix it."""

    detail: str = Field(examples=["no journey K7QM-4XTR-9BWE-2HDA on this board"])


# --- requests ---------------------------------------------------------------------------------


class LoginRequest(_Request):
    """A user's name, password and, for an account with a second factor, its current code."""

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["coord-1"])
    password: str = Field(min_length=1, max_length=MAX_LOGIN_PASSWORD)
    totp: str | None = Field(
        None,
        max_length=2 * TOTP_DIGITS,
        description="The 6-digit code of the account's authenticator app, if it has one.",
    )


class NewJourneyRequest(_Request):
    """A journey from a plan: ``nkescape board journey new``'s options, with its names."""

    start: str = Field(alias="from", min_length=1, max_length=MAX_NAME_LENGTH, examples=["hyesan"])
    date: str = Field(
        description="Departure date YYYY-MM-DD.",
        examples=["2017-09-01"],
        json_schema_extra={"format": "date"},
    )
    group: str = Field(
        "1w",
        max_length=MAX_NAME_LENGTH,
        description="Who travels, as counts: e.g. 2w,1m,1c (w women, m men, c children, "
        "e elderly, d disabled). No names.",
    )
    itinerary: int = Field(
        1, ge=1, le=MAX_ITINERARY, description="The plan's itinerary (1 = best)."
    )
    funding: Funding = Field("self", description="How the journey is paid.")
    partner: str | None = Field(
        None, max_length=MAX_NAME_LENGTH, description="The field partner's user name, if any."
    )


class CheckinRequest(_Request):
    """A report on one leg of the current plan."""

    leg: int = Field(ge=1, le=1000, description="The leg, 1 = the first of the current plan.")
    status: CheckinStatus
    note: str | None = Field(
        None,
        max_length=NOTE_MAX,
        description="A short note: no names, phone numbers, addresses, coordinates or document "
        "numbers (refused if it looks like one).",
    )
    at: str | None = Field(
        None,
        description="When (ISO 8601; UTC unless it has an offset); default now.",
        examples=["2017-09-02T14:30:00+00:00"],
        json_schema_extra={"format": "date-time"},
    )
    spent_usd: float | None = Field(None, ge=0, le=MAX_SPENT_USD)


class ReplanRequest(_Request):
    """Plan again from where the group is now."""

    start: str = Field(
        alias="from", min_length=1, max_length=MAX_NAME_LENGTH, examples=["changbai"]
    )
    date: str = Field(
        description="Departure date from there, YYYY-MM-DD.",
        examples=["2025-03-02"],
        json_schema_extra={"format": "date"},
    )
    itinerary: int = Field(1, ge=1, le=MAX_ITINERARY)


class StatusRequest(_Request):
    status: JourneyStatus
    at: str | None = Field(
        None, description="When (ISO 8601); default now.", json_schema_extra={"format": "date-time"}
    )


class AssignRequest(_Request):
    partner: str | None = Field(
        description="A partner's user name, or null to unassign.", max_length=MAX_NAME_LENGTH
    )


class NewUserRequest(_Request):
    """An account: a pseudonym, its role, a password; ``totp`` makes a second-factor secret."""

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["partner-mekong"])
    role: Role
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    totp: bool = Field(False, description="Give the account a TOTP second factor.")


# --- responses --------------------------------------------------------------------------------


class SessionResponse(BaseModel):
    """Who is logged in, the CSRF token the page sends back, and when the session ends."""

    user: str
    role: Role
    csrf: str = Field(description="Send it in the X-CSRF-Token header of every POST.")
    expires: str = Field(description="When the session ends unless used again (idle timeout).")
    ends: str = Field(description="When the session ends in any case (absolute lifetime).")


class NewUserResponse(BaseModel):
    name: str
    role: Role
    totp_secret: str | None = Field(
        None, description="Shown once: the base32 secret for an authenticator app."
    )
    totp_uri: str | None = None


class GroupJson(BaseModel):
    women: int
    men: int
    children: int
    elderly: int
    disabled: int


class LegWindowJson(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    index: int
    leg: str
    from_: str = Field(alias="from")
    to: str
    p50_days: float
    p90_days: float


class PlanJson(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    made_at: str
    from_: str = Field(alias="from")
    to: str
    departure: str
    itinerary: int
    safety_at: str | None
    legs: list[LegWindowJson]


class CheckinJson(BaseModel):
    plan: int
    leg: int
    at: str
    by: str
    status: CheckinStatus
    note: str | None
    spent_usd: float | None


class JourneyJson(BaseModel):
    """A journey as ``nkescape board journey show --json`` prints it."""

    format: int
    code: str
    group: GroupJson
    group_label: str
    funding: str
    created_at: str
    departure: str
    partner: str | None
    status: JourneyStatus
    current_leg: int
    next_leg: int | None
    next_due: str | None
    plans: list[PlanJson]
    checkins: list[CheckinJson]
    spent_usd: list[float]
    spent_total_usd: float
    last_contact: str | None
    closed_on: str | None


class OverdueJson(BaseModel):
    """A journey later than its leg's p90: which leg, when it was due, how late."""

    code: str
    leg: int
    leg_id: str
    to: str
    due: str
    late_hours: float
    last_contact: str | None
    status: JourneyStatus
    partner: str | None = None


class JourneyView(JourneyJson):
    """A journey, with its overdue alert now (null when it is not late)."""

    overdue: OverdueJson | None = None


class JourneyList(BaseModel):
    journeys: list[JourneyView]


class OverdueList(BaseModel):
    now: str
    overdue: list[OverdueJson]


class AuditRowJson(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    journey: str | None
    detail: str | None


class AuditList(BaseModel):
    rows: list[AuditRowJson]


class AuditVerified(BaseModel):
    rows: int = Field(description="Audit rows checked: the chain is whole.")


class PlaceJson(BaseModel):
    id: str
    name: str
    country: str


class MetaResponse(BaseModel):
    """What the board's forms offer: start places, funding, statuses, roles, limits."""

    user: str
    role: Role
    places: list[PlaceJson]
    funding: list[str]
    checkin_statuses: list[CheckinStatus]
    journey_statuses: list[JourneyStatus]
    roles: list[Role]
    note_max: int
    idle_timeout_s: int
    lifetime_s: int
    kind: Literal["board"] = "board"
