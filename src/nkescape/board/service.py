"""The board: every operation on journeys, users and the audit log, with who may do it.

``Board`` sits on a ``Vault`` (encrypted storage of opaque documents) and is the only place that
knows what the documents mean. Each operation takes the acting ``User``: the command line acts as
``Board.LOCAL``, a coordinator; the web passes the user of the session.

**Who may do what.** A coordinator: everything. A partner: read the journeys assigned to them and
check in on them, nothing else. An auditor: read every journey and the audit log, change nothing.
A journey the actor may not see is answered exactly as one that does not exist (NotFoundError,
the same message), so a partner cannot learn which codes exist. A role that may not do something
at all gets ForbiddenError, whatever the code.

**The audit log.** Every read and write of a journey appends a row (who, what, which journey) to
the vault's hash-chained log, and so do refusals to show one. A row is written before the data
is returned or the change is stored, so that nothing is ever seen or changed unrecorded (a
failure in between leaves a row for a change that did not happen, never the reverse).

**What is stored.** A journey is a document (code, group counts, funding, its plans with the
windows of their legs, when it closed) and an append-only list of events: check-ins, status
changes, re-plans. Its status and current leg are worked out from the events in order
(``fold``): concurrent check-ins each append, so none is lost.

**Statuses.** A check-in ``ok`` at leg k confirms the end of leg k: the journey is ``at-leg`` k,
``safe`` once that leg (or an earlier one) reached a country that does not send people back
(the plan's ``safety_at``), and ``arrived`` at the end of the last leg. ``delayed`` and
``waiting`` keep the journey where it is (``under-way`` before the first leg's end; contact is
back after ``lost-contact``). ``caught`` makes it ``caught`` and ``lost`` ``lost-contact``. A
re-plan starts the new plan at its leg 0 (``planned`` if the group never set out, else
``under-way``, or ``safe`` from a safe place). Coordinators set ``safe``, ``arrived``,
``closed`` and the others by hand (``set_status``); ``at-leg`` only follows from a check-in. A
closed journey takes no check-ins.

**Overdue.** For a journey in an active status (``model.ACTIVE``) the next leg to confirm is
``current_leg + 1`` of the current plan; it is due at departure (midnight UTC) + that leg's p90.
Past that, it is overdue by the hours since. The list is sorted by how late, most first.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nkescape.atlas.estimate import LIMITS
from nkescape.board import auth
from nkescape.board.errors import (
    BoardError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from nkescape.board.model import (
    ACTIVE,
    JOURNEY_FORMAT,
    Action,
    Checkin,
    CheckinStatus,
    Journey,
    JourneyStatus,
    Overdue,
    PlanVersion,
    Role,
    User,
    group_from_json,
    group_to_json,
    new_code,
    parse_code,
    utc,
)
from nkescape.board.privacy import RETENTION_DAYS, check_note
from nkescape.routing.query import DESTINATION, FUNDING, Group, PlanError

if TYPE_CHECKING:
    from nkescape.atlas import Atlas
    from nkescape.board.crypto import BoardKey
    from nkescape.board.vault import AuditRow, Vault
    from nkescape.routing import Plan

__all__ = [
    "CLOCK_SKEW",
    "MAX_SPENT_USD",
    "MIN_TOTP_SECRET_CHARS",
    "Board",
    "Removal",
    "fold",
]


# How far in the future a check-in's time may be: phones' clocks drift and a partner may round
# up; more than this is a mistyped time, and a check-in from the future would hide an overdue
# journey.
CLOCK_SKEW = dt.timedelta(minutes=10)

# The most one check-in may report spent: the atlas's bound on a cost (a million dollars).
MAX_SPENT_USD = LIMITS["usd"].high

# The shortest TOTP secret taken: RFC 4226 (section 4, R6) asks for at least 128 bits, and base32
# holds 5 bits a character, so 26 characters (130 bits). auth.new_totp_secret makes 32.
MIN_TOTP_SECRET_CHARS = 26

# The detail of the assign rows written when a partner's account is removed.
_UNASSIGNED_ON_REMOVAL = "nobody (account removed)"

# Account names: short and plain, since they appear in the audit log, in messages and in URLs.
# A pseudonym is best (the board needs no one's real name).
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")

# A new code that meets an existing one (a chance of about 1e-21 per journey) is drawn again;
# failing this many times in a row means the random source is broken.
_CODE_TRIES = 5

# Event kinds in a journey's append-only list.
_CHECKIN, _STATUS, _REPLAN = "checkin", "status", "replan"

# Statuses a coordinator may set by hand; at-leg follows only from an ok check-in (it needs
# the leg, which the check-in gives).
_SETTABLE = frozenset(JourneyStatus) - {JourneyStatus.AT_LEG}

_READERS = frozenset({Role.COORDINATOR, Role.AUDITOR, Role.PARTNER})
_COORDINATORS = frozenset({Role.COORDINATOR})
_OVERSEERS = frozenset({Role.COORDINATOR, Role.AUDITOR})


def _missing(code: str) -> str:
    # The one answer for a journey that does not exist and for one the actor may not see.
    return f"no journey {code} on this board (check the code)"


def _travelling(plan: PlanVersion, leg: int) -> JourneyStatus:
    """The status of a group that has confirmed the end of leg ``leg`` (0: none) of ``plan``."""
    if leg >= len(plan.legs):
        return JourneyStatus.ARRIVED
    safe = plan.safety_leg
    if safe is not None and leg >= safe:
        return JourneyStatus.SAFE
    return JourneyStatus.AT_LEG if leg > 0 else JourneyStatus.UNDER_WAY


def fold(doc: dict[str, Any], partner: str | None, events: list[dict[str, Any]]) -> Journey:
    """The journey a stored document and its events describe (see the module's statuses)."""
    if doc.get("format") != JOURNEY_FORMAT:
        raise BoardError(
            f"a journey document has format {doc.get('format')!r}, this nkescape reads format "
            f"{JOURNEY_FORMAT}; use the nkescape version that wrote the board"
        )
    plans = tuple(PlanVersion.from_json(p) for p in doc["plans"])
    closed = doc.get("closed_on")
    status = JourneyStatus.PLANNED
    version, leg = 1, 0
    checkins: list[Checkin] = []

    def replanned(to: int) -> None:
        nonlocal version, leg, status
        version, leg = to, 0
        if status != JourneyStatus.PLANNED:
            status = _travelling(plans[to - 1], 0)

    for event in events:
        kind = event.get("kind")
        if kind == _CHECKIN:
            c = Checkin.from_json(event)
            checkins.append(c)
            if c.plan != version or not 1 <= c.leg <= len(plans[version - 1].legs):
                continue  # made against a plan replaced meanwhile: kept, but moves nothing
            plan = plans[version - 1]
            if c.status == CheckinStatus.OK:
                leg = max(leg, c.leg)
                status = _travelling(plan, leg)
            elif c.status in (CheckinStatus.DELAYED, CheckinStatus.WAITING):
                status = _travelling(plan, leg)
            elif c.status == CheckinStatus.CAUGHT:
                status = JourneyStatus.CAUGHT
            else:
                status = JourneyStatus.LOST_CONTACT
        elif kind == _STATUS:
            status = JourneyStatus(event["status"])
        elif kind == _REPLAN and 1 <= int(event["plan"]) <= len(plans):
            replanned(int(event["plan"]))
    if version < len(plans):
        # The document holds a plan whose event was not written (a crash in between).
        replanned(len(plans))
    if closed is not None:
        status = JourneyStatus.CLOSED
    created = dt.datetime.fromisoformat(doc["created_at"])
    return Journey(
        code=doc["code"],
        group=group_from_json(doc["group"]),
        funding=str(doc["funding"]),
        created_at=created,
        plans=plans,
        partner=partner,
        status=status,
        current_leg=leg,
        checkins=tuple(checkins),
        closed_on=None if closed is None else dt.date.fromisoformat(closed),
    )


def _doc(journey: Journey) -> dict[str, Any]:
    """What the vault stores for a journey (its events are stored apart)."""
    return {
        "format": JOURNEY_FORMAT,
        "code": journey.code,
        "group": group_to_json(journey.group),
        "funding": journey.funding,
        "created_at": journey.created_at.isoformat(),
        "plans": [p.to_json() for p in journey.plans],
        "closed_on": None if journey.closed_on is None else journey.closed_on.isoformat(),
    }


@dataclass(frozen=True)
class Removal:
    """What removing an account did: the account, the journeys it no longer holds, the sessions
    ended."""

    user: User
    unassigned: tuple[str, ...]
    sessions: int

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user.to_json(),
            "unassigned": list(self.unassigned),
            "sessions": self.sessions,
        }


class Board:
    """The coordination board over a vault; see the module for roles, audit and statuses.

    Parameters
    ----------
    vault
        The open vault the board keeps its journeys in.
    atlas
        The atlas to plan on; the bundled one, loaded on first need, by default.
    clock
        Now, as a timezone-aware UTC datetime (tests move it instead of waiting).
    """

    # The command line's actor: whoever holds the board's key holds every journey anyway.
    LOCAL: ClassVar[User] = User("local-coordinator", Role.COORDINATOR)

    def __init__(
        self,
        vault: Vault,
        *,
        atlas: Atlas | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.vault = vault
        self._atlas = atlas
        self._atlas_lock = threading.Lock()
        self.clock = clock or auth.utc_now

    # --- opening ----------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        target: str | Path,
        key: BoardKey,
        *,
        schema: str | None = None,
        atlas: Atlas | None = None,
    ) -> Board:
        """Create a board at ``target`` (a file path or a PostgreSQL URL); ConflictError if
        one is there."""
        from nkescape.board.vault import Vault

        return cls(Vault.create(target, key, schema=schema), atlas=atlas)

    @classmethod
    def open(
        cls,
        target: str | Path,
        key: BoardKey,
        *,
        schema: str | None = None,
        atlas: Atlas | None = None,
    ) -> Board:
        """Open the board at ``target``; WrongKeyError for a wrong passphrase or key file."""
        from nkescape.board.vault import Vault

        return cls(Vault.open(target, key, schema=schema), atlas=atlas)

    def close(self) -> None:
        self.vault.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def atlas(self) -> Atlas:
        """The atlas journeys are planned on (the bundled one unless given)."""
        with self._atlas_lock:
            if self._atlas is None:
                from nkescape.atlas import load_atlas

                self._atlas = load_atlas()
            return self._atlas

    # --- actors and users -------------------------------------------------------------------

    def _check(self, actor: User, roles: frozenset[Role], doing: str) -> None:
        """ForbiddenError unless ``actor`` (as the vault knows it now) has one of ``roles``."""
        if actor != self.LOCAL:
            # The role is the vault's, not the caller's: an account removed or changed since
            # its session began acts with what it is now.
            record = self.vault.user(actor.name)
            if record is None or record.get("role") != actor.role.value:
                self.vault.audit(actor.name, Action.DENIED, None, doing)
                raise ForbiddenError(
                    f"the account {actor.name!r} no longer exists or changed role; log in again"
                )
        if actor.role not in roles:
            # A refusal is recorded as the refused journey reads are: who tried what, and when.
            self.vault.audit(actor.name, Action.DENIED, None, doing)
            raise ForbiddenError(f"{actor.role.value} accounts may not {doing}; ask a coordinator")

    def add_user(
        self,
        actor: User,
        name: str,
        role: Role | str,
        password: str,
        *,
        totp_secret: str | None = None,
    ) -> User:
        """Add an account; its password is stored as an Argon2id hash (``auth.hash_password``).

        Raises
        ------
        ForbiddenError
            Unless ``actor`` is a coordinator.
        BoardError
            For a name that is not plain (lower-case letters, digits, ``.``, ``_``, ``-``, up to
            32) or reserved, an unknown role, or a password too short or too long.
        ConflictError
            For a name in use.
        """
        self._check(actor, _COORDINATORS, "add users")
        if not _USER_NAME.fullmatch(name):
            raise BoardError(
                f"user name {name[:40]!r}: use 1-32 lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (a pseudonym is best)"
            )
        if name == self.LOCAL.name:
            raise BoardError(f"the name {name!r} is the command line's own; choose another")
        the_role = _role(role)
        auth.check_password(password)
        secret = None if totp_secret is None else _totp_secret(totp_secret)
        record = {
            "role": the_role.value,
            "password_hash": auth.hash_password(password),
            "totp": secret,
            "created": self.clock().isoformat(),
        }
        self.vault.audit(actor.name, Action.USER_ADD, None, f"{name} ({the_role.value})")
        self.vault.add_user(name, record)
        return User(name, the_role)

    def user(self, name: str) -> tuple[User, dict[str, Any]] | None:
        """The account ``name`` and its stored record (password hash, TOTP secret), or None.

        For the login: not a journey, so not audited.
        """
        record = self.vault.user(name)
        if record is None:
            return None
        return User(name, Role(record["role"])), record

    def users(self, actor: User) -> list[User]:
        """Every account, sorted by name (coordinators and auditors)."""
        self._check(actor, _OVERSEERS, "list users")
        return sorted(
            (User(name, Role(record["role"])) for name, record in self.vault.users()),
            key=lambda u: u.name,
        )

    def verify_password(self, name: str, password: str) -> User | None:
        """The account if ``password`` is its password, else None (unknown names too).

        The web's login (``auth.Authenticator``) adds throttling and the second factor.
        """
        found = self.user(name)
        if found is None:
            auth.verify_password(_dummy_hash(), password)  # the same time as a known name
            return None
        user, record = found
        stored = record.get("password_hash")
        if not isinstance(stored, str) or not auth.verify_password(stored, password):
            return None
        return user

    # --- the account lifecycle --------------------------------------------------------------
    #
    # Every change is audited (the account's name and an action word, never a password or a
    # secret) before it is stored, and ends the account's sessions: a credential that changed,
    # or an account that is gone, must not stay logged in anywhere.

    def _account(self, name: str) -> dict[str, Any]:
        record = self.vault.user(name)
        if record is None:
            raise NotFoundError(
                f"no account {name[:40]!r} on this board: see `nkescape board user list`"
            )
        return record

    def set_password(
        self, actor: User, name: str, password: str, *, current: str | None = None
    ) -> User:
        """Give the account ``name`` a new password and end its sessions.

        A coordinator sets anyone's (a reset; the command line too). Anyone else changes only
        their own, and everyone changing their own from a session (coordinators included) gives
        ``current``: a session left open is not the password.

        Raises
        ------
        ForbiddenError
            For a partner or auditor changing another account's password.
        NotFoundError
            For an unknown account.
        BoardError
            For a wrong or missing ``current`` password, or a new one too short or too long.
        """
        own = actor != self.LOCAL and actor.name == name
        self._check(actor, _READERS if own else _COORDINATORS, "change other accounts' passwords")
        record = self._account(name)
        if own:
            stored = record.get("password_hash")
            if (
                current is None
                or not isinstance(stored, str)
                or not auth.verify_password(stored, current)
            ):
                raise BoardError(
                    "the current password is wrong: give it to change your own password"
                )
        auth.check_password(password)
        changed = {**record, "password_hash": auth.hash_password(password)}
        self.vault.audit(actor.name, Action.USER_PASSWORD, None, name)
        self.vault.set_user(name, changed)
        # After the new hash is stored: a login with the old password in between made a
        # session that ends here.
        self.vault.drop_sessions_of(name)
        return User(name, Role(record["role"]))

    def set_totp(self, actor: User, name: str, secret: str | None) -> User:
        """Turn the account's second factor on with ``secret`` (``auth.new_totp_secret()``), or
        off with None; either ends its sessions (a replaced secret may be a lost phone).

        Raises
        ------
        ForbiddenError
            Unless ``actor`` is a coordinator.
        NotFoundError
            For an unknown account.
        BoardError
            For a secret that is not base32 or shorter than ``MIN_TOTP_SECRET_CHARS``.
        """
        self._check(actor, _COORDINATORS, "change accounts' second factor")
        record = self._account(name)
        checked = None if secret is None else _totp_secret(secret)
        self.vault.audit(
            actor.name, Action.USER_TOTP, None, f"{name} {'off' if checked is None else 'on'}"
        )
        self.vault.set_user(name, {**record, "totp": checked})
        self.vault.drop_sessions_of(name)
        return User(name, Role(record["role"]))

    def remove_user(self, actor: User, name: str) -> Removal:
        """Delete the account ``name``: its journeys become unassigned, its sessions end.

        The record (password hash, TOTP secret) is deleted, not kept disabled: the board keeps
        nothing about a person it no longer needs. The audit log keeps the name in its rows. The
        name may be given to a new account later; the ``user.remove`` row tells the two apart.

        Raises
        ------
        ForbiddenError
            Unless ``actor`` is a coordinator.
        NotFoundError
            For an unknown account.
        """
        self._check(actor, _COORDINATORS, "remove accounts")
        role = Role(self._account(name)["role"])
        held = self.vault.journeys(partner=name) if role == Role.PARTNER else []
        codes = [code for code, _, _ in held]
        self.vault.audit(actor.name, Action.USER_REMOVE, None, f"{name} ({role.value})")
        self.vault.audit_many(actor.name, Action.ASSIGN, codes, _UNASSIGNED_ON_REMOVAL)
        # Unassigned first and the account deleted after: a failure in between leaves an
        # account that can be removed again, never journeys assigned to a name that a new
        # account could take over.
        for code, doc, _ in held:
            closed = doc.get("closed_on")
            self.vault.set_journey(
                code,
                doc,
                partner=None,
                closed_on=None if closed is None else dt.date.fromisoformat(closed),
            )
        self.vault.drop_user(name)
        # After the deletion: a login in between made a session, which ends here.
        ended = self.vault.drop_sessions_of(name)
        return Removal(User(name, role), tuple(codes), ended)

    def _partner(self, name: str) -> str:
        found = self.user(name)
        if found is None:
            raise NotFoundError(
                f"no partner account {name!r}: add one with `nkescape board user add {name} "
                "--role partner`"
            )
        if found[0].role != Role.PARTNER:
            role = found[0].role.value
            article = "an" if role[0] in "aeiou" else "a"
            raise BoardError(
                f"{name!r} is {article} {role} account; journeys are assigned to partners"
            )
        return name

    # --- reading journeys -------------------------------------------------------------------

    def _get(self, actor: User, code: str, doing: str) -> tuple[Journey, dict[str, Any]]:
        """The journey ``code`` and its document, if ``actor`` may see it; nothing audited yet
        unless refused (a refusal is audited as ``denied``)."""
        wanted = parse_code(code)
        # The document and its events in one read: one snapshot, one round trip.
        found = self.vault.journey_with_events(wanted)
        if found is None or (actor.role == Role.PARTNER and found.partner != actor.name):
            self.vault.audit(actor.name, Action.DENIED, wanted, doing)
            raise NotFoundError(_missing(wanted))
        return fold(found.doc, found.partner, found.events), found.doc

    def _reread(self, code: str) -> Journey:
        found = self.vault.journey_with_events(code)
        if found is None:  # purged meanwhile
            raise NotFoundError(_missing(code))
        return fold(found.doc, found.partner, found.events)

    def journey(self, actor: User, code: str) -> Journey:
        """The journey ``code``; NotFoundError if there is none or ``actor`` may not see it."""
        self._check(actor, _READERS, "read journeys")
        journey, _ = self._get(actor, code, Action.JOURNEY_READ)
        self.vault.audit(actor.name, Action.JOURNEY_READ, journey.code)
        return journey

    def _visible(self, actor: User, doing: Action) -> list[Journey]:
        """The journeys ``actor`` may see, by code, each audited as ``doing``.

        The journeys and all their events are read at once, and the audit rows (one per
        journey, as for single reads) are written in one transaction, before anything is
        returned: a list costs a few queries and one commit, not several per journey.
        """
        partner = actor.name if actor.role == Role.PARTNER else None
        stored = self.vault.journeys_with_events(partner=partner)
        found = [fold(s.doc, s.partner, s.events) for s in stored]
        self.vault.audit_many(actor.name, doing, [j.code for j in found])
        return found

    def journeys(self, actor: User) -> list[Journey]:
        """Every journey ``actor`` may see (a partner: those assigned to them), newest first."""
        self._check(actor, _READERS, "read journeys")
        found = self._visible(actor, Action.JOURNEY_LIST)
        return sorted(found, key=lambda j: (j.created_at, j.code), reverse=True)

    # --- writing journeys -------------------------------------------------------------------

    def _plan(
        self, start: str, destination: str, departure: dt.date, group: Group, funding: str
    ) -> Plan:
        from nkescape.routing import plan

        if funding not in FUNDING:
            raise BoardError(f"unknown funding {funding!r} (one of {', '.join(FUNDING)})")
        try:
            return plan(
                self.atlas,
                start,
                destination,
                date=departure,
                group=group,
                funding=FUNDING[FUNDING.index(funding)],
            )
        except PlanError as exc:
            raise BoardError(str(exc)) from None

    def _version(
        self,
        start: str,
        destination: str,
        departure: dt.date,
        group: Group,
        funding: str,
        itinerary: int,
        made_at: dt.datetime,
    ) -> PlanVersion:
        from nkescape.board.windows import leg_windows

        found = self._plan(start, destination, departure, group, funding)
        legs = leg_windows(self.atlas, found, itinerary)
        return PlanVersion(
            made_at=made_at,
            start=start,
            destination=destination,
            departure=departure,
            itinerary=itinerary,
            safety_at=found.itineraries[itinerary - 1].safety_at,
            legs=legs,
        )

    def new_journey(
        self,
        actor: User,
        *,
        start: str,
        departure: dt.date,
        group: Group | str,
        itinerary: int = 1,
        funding: str = "self",
        partner: str | None = None,
        destination: str = DESTINATION,
        now: dt.datetime | None = None,
    ) -> Journey:
        """Plan a journey and put it on the board under a new random code.

        Parameters
        ----------
        actor
            A coordinator.
        start, destination
            Atlas place ids: where the group sets out from and where it goes (Seoul).
        departure
            The day it sets out; the legs' windows count from its midnight UTC.
        group
            Counts only: a planner Group or text such as ``"2w,1c"``.
        itinerary
            Which of the plan's itineraries, ranked from 1 (the best).
        funding
            How it is paid (``routing.query.FUNDING``).
        partner
            The partner account to assign it to, if any.
        now
            When it is made (default: the board's clock).

        Raises
        ------
        ForbiddenError
            Unless ``actor`` is a coordinator.
        BoardError
            For a bad place, date, group, funding or itinerary (the planner's message), or a
            partner that is not a partner account.
        """
        self._check(actor, _COORDINATORS, "create journeys")
        made = utc(now) if now is not None else self.clock()
        grp = _group(group)
        who = None if partner is None else self._partner(partner)
        version = self._version(start, destination, departure, grp, funding, itinerary, made)
        for _ in range(_CODE_TRIES):
            journey = Journey(
                code=new_code(), group=grp, funding=funding, created_at=made, plans=(version,)
            )
            self.vault.audit(actor.name, Action.JOURNEY_NEW, journey.code)
            try:
                self.vault.add_journey(journey.code, _doc(journey), partner=who)
            except ConflictError:
                continue
            return self._reread(journey.code)
        raise BoardError("could not draw an unused journey code; the random source is broken")

    def checkin(
        self,
        actor: User,
        code: str,
        *,
        leg: int,
        status: CheckinStatus | str,
        note: str | None = None,
        at: dt.datetime | None = None,
        spent_usd: float | None = None,
    ) -> Journey:
        """Record a check-in on leg ``leg`` (1-based) of the journey's current plan.

        Raises
        ------
        NotFoundError
            No such journey, or not the partner's.
        ForbiddenError
            For an auditor.
        RefusedError
            For a note the data-minimisation rules refuse (``privacy.check_note``).
        ConflictError
            For a closed journey.
        BoardError
            For a leg the plan does not have, an unknown status, a time in the future or
            without a zone, or an amount that is negative, not finite or too large.
        """
        self._check(actor, _COORDINATORS | {Role.PARTNER}, "check in")
        journey, _ = self._get(actor, code, Action.CHECKIN)
        if journey.status == JourneyStatus.CLOSED:
            raise ConflictError(
                f"journey {journey.code} is closed; reopen it (set its status) before checking in"
            )
        n = len(journey.legs)
        if isinstance(leg, bool) or not isinstance(leg, int) or not 1 <= leg <= n:
            raise BoardError(
                f"leg {leg!r}: journey {journey.code}'s plan has {n} leg{'s' if n != 1 else ''} "
                f"(1-{n})"
            )
        what = _checkin_status(status)
        text = check_note(note) if note is not None else ""
        now = self.clock()
        when = now if at is None else utc(at)
        if when > now + CLOCK_SKEW:
            raise BoardError(
                f"the check-in's time {when.isoformat()} is in the future (now is "
                f"{now.isoformat(timespec='minutes')}); give the time it happened"
            )
        spent = _amount(spent_usd)
        entry = Checkin(
            leg=leg,
            at=when,
            by=actor.name,
            status=what,
            note=text or None,
            spent_usd=spent,
            plan=journey.version,
        )
        # The audit says who touched which journey and when, never what happened to the group:
        # its rows outlive a purged journey, and "caught" there would outlive it too.
        self.vault.audit(actor.name, Action.CHECKIN, journey.code)
        self.vault.add_event(journey.code, {"kind": _CHECKIN, **entry.to_json()})
        return self._reread(journey.code)

    def replan(
        self,
        actor: User,
        code: str,
        *,
        start: str,
        departure: dt.date,
        itinerary: int = 1,
        destination: str | None = None,
        now: dt.datetime | None = None,
    ) -> Journey:
        """Plan the journey again from where the group is (``start``, on ``departure``).

        The earlier plans and their check-ins are kept; the new plan's windows count from the
        new departure, and its legs are numbered from 1. The group and funding stay.
        """
        self._check(actor, _COORDINATORS, "re-plan journeys")
        journey, doc = self._get(actor, code, Action.REPLAN)
        if journey.status == JourneyStatus.CLOSED:
            raise ConflictError(f"journey {journey.code} is closed; reopen it before re-planning")
        made = utc(now) if now is not None else self.clock()
        version = self._version(
            start,
            destination or journey.plan.destination,
            departure,
            journey.group,
            journey.funding,
            itinerary,
            made,
        )
        new_doc = {**doc, "plans": [*doc["plans"], version.to_json()]}
        number = len(new_doc["plans"])
        self.vault.audit(actor.name, Action.REPLAN, journey.code, f"plan {number}")
        self.vault.set_journey(journey.code, new_doc, partner=journey.partner, closed_on=None)
        self.vault.add_event(
            journey.code,
            {"kind": _REPLAN, "plan": number, "at": made.isoformat(), "by": actor.name},
        )
        return self._reread(journey.code)

    def set_status(
        self,
        actor: User,
        code: str,
        status: JourneyStatus | str,
        *,
        at: dt.datetime | None = None,
    ) -> Journey:
        """Set a journey's status by hand (``closed`` starts its retention; any other status
        reopens a closed journey). ``at-leg`` is refused: it follows from an ok check-in."""
        self._check(actor, _COORDINATORS, "change a journey's status")
        try:
            wanted = JourneyStatus(status)
        except ValueError:
            raise BoardError(
                f"unknown status {status!r} (one of {', '.join(sorted(_SETTABLE))})"
            ) from None
        if wanted not in _SETTABLE:
            raise BoardError("at-leg follows from an ok check-in at that leg; check in instead")
        journey, doc = self._get(actor, code, Action.STATUS)
        when = utc(at) if at is not None else self.clock()
        closing = wanted == JourneyStatus.CLOSED
        # Closing again keeps the first day: retention counts from when the journey ended.
        closed_on = (journey.closed_on or when.date()) if closing else None
        self.vault.audit(actor.name, Action.STATUS, journey.code)
        if closing or journey.closed_on is not None:  # closing, or reopening
            new_doc = {**doc, "closed_on": None if closed_on is None else closed_on.isoformat()}
            self.vault.set_journey(
                journey.code, new_doc, partner=journey.partner, closed_on=closed_on
            )
        self.vault.add_event(
            journey.code,
            {"kind": _STATUS, "status": wanted.value, "at": when.isoformat(), "by": actor.name},
        )
        return self._reread(journey.code)

    def assign(self, actor: User, code: str, partner: str | None) -> Journey:
        """Assign the journey to a partner account (None: to nobody)."""
        self._check(actor, _COORDINATORS, "assign journeys")
        journey, doc = self._get(actor, code, Action.ASSIGN)
        who = None if partner is None else self._partner(partner)
        self.vault.audit(actor.name, Action.ASSIGN, journey.code, who or "nobody")
        self.vault.set_journey(journey.code, doc, partner=who, closed_on=journey.closed_on)
        return self._reread(journey.code)

    # --- alerts, retention, export, audit ---------------------------------------------------

    def overdue(self, actor: User, *, now: dt.datetime | None = None) -> list[Overdue]:
        """The journeys later than they should be at their next leg, the latest first.

        Every journey looked at is audited (``overdue``), as a read.
        """
        self._check(actor, _READERS, "read journeys")
        moment = utc(now) if now is not None else self.clock()
        out: list[Overdue] = []
        for journey in self._visible(actor, Action.OVERDUE):
            late = overdue_of(journey, moment)
            if late is not None:
                out.append(late)
        return sorted(out, key=lambda o: (-o.late_hours, o.code))

    def purge(
        self,
        actor: User,
        *,
        now: dt.datetime | None = None,
        retention_days: int = RETENTION_DAYS,
    ) -> int:
        """Delete the journeys closed more than ``retention_days`` days before ``now`` and
        compact the store so their bytes are gone; the number deleted."""
        self._check(actor, _COORDINATORS, "purge journeys")
        if isinstance(retention_days, bool) or not isinstance(retention_days, int):
            raise BoardError(f"retention days must be a whole number (got {retention_days!r})")
        if retention_days < 0:
            raise BoardError(f"retention days cannot be negative (got {retention_days})")
        moment = utc(now) if now is not None else self.clock()
        cutoff = moment.date() - dt.timedelta(days=retention_days)
        due = [
            (code, str(doc["closed_on"]))
            for code, doc, _ in self.vault.journeys()
            if doc.get("closed_on") is not None and dt.date.fromisoformat(doc["closed_on"]) < cutoff
        ]
        self.vault.audit_many(actor.name, Action.PURGE, [code for code, _ in due])
        return self.vault.purge(cutoff)

    def export(self, actor: User, path: Path, key: BoardKey) -> int:
        """Write every journey to an encrypted archive at ``path`` (coordinators); the count."""
        self._check(actor, _COORDINATORS, "export the board")
        codes = [code for code, _, _ in self.vault.journeys()]
        self.vault.audit_many(actor.name, Action.EXPORT, codes)
        return self.vault.export(Path(path), key)

    def audit_log(self, actor: User) -> list[AuditRow]:
        """The audit log, oldest first (coordinators and auditors); reading it is audited."""
        self._check(actor, _OVERSEERS, "read the audit log")
        self.vault.audit(actor.name, Action.AUDIT_READ)
        return self.vault.audit_rows()

    def verify_audit(self) -> int:
        """Check the audit chain: the rows checked, or AuditError naming the first bad one."""
        return self.vault.verify_audit()


def overdue_of(journey: Journey, now: dt.datetime) -> Overdue | None:
    """The alert for ``journey`` at ``now``, or None when it is not overdue (or not active)."""
    if journey.status not in ACTIVE:
        return None
    nxt = journey.next_leg
    if nxt is None:
        return None
    due = journey.plan.due(nxt.index)
    if now <= due:
        return None
    # Hours to a tenth: the alert is read by people, and the JSON stays short.
    late = round((now - due).total_seconds() / 3600, 1)
    return Overdue(
        code=journey.code,
        leg=nxt.index,
        leg_id=nxt.leg,
        end=nxt.end,
        due=due,
        late_hours=late,
        last_contact=journey.last_contact,
        status=journey.status,
        partner=journey.partner,
    )


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BoardError(
            f"unknown role {role!r} (one of {', '.join(r.value for r in Role)})"
        ) from None


def _totp_secret(secret: str) -> str:
    """``secret`` as stored (base32, upper case, no spaces or padding), or BoardError."""
    text = secret.strip().replace(" ", "").upper().rstrip("=")
    # Decoding it once refuses what is not base32 with auth's own message.
    auth.totp_code(text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    if len(text) < MIN_TOTP_SECRET_CHARS:
        raise BoardError(
            f"the TOTP secret has {len(text)} characters, fewer than {MIN_TOTP_SECRET_CHARS} "
            "(128 bits): make one with nkescape.board.auth.new_totp_secret()"
        )
    return text


def _checkin_status(status: CheckinStatus | str) -> CheckinStatus:
    try:
        return CheckinStatus(status)
    except ValueError:
        raise BoardError(
            f"unknown check-in status {status!r} (one of "
            f"{', '.join(s.value for s in CheckinStatus)})"
        ) from None


def _group(group: Group | str) -> Group:
    if isinstance(group, Group):
        return group
    try:
        return Group.parse(group)
    except PlanError as exc:
        raise BoardError(str(exc)) from None


def _amount(spent: float | None) -> float | None:
    if spent is None:
        return None
    if isinstance(spent, bool) or not isinstance(spent, int | float) or not math.isfinite(spent):
        raise BoardError(f"spent: give an amount in US$ (got {spent!r})")
    if not 0 <= spent <= MAX_SPENT_USD:
        raise BoardError(
            f"spent: US${spent:,.2f} is outside 0-{MAX_SPENT_USD:,.0f} (one check-in's spending)"
        )
    return float(spent)


_dummy: list[str] = []
_dummy_lock = threading.Lock()


def _dummy_hash() -> str:
    """A hash to verify against for unknown names, made once."""
    import secrets

    with _dummy_lock:
        if not _dummy:
            _dummy.append(auth.hash_password(secrets.token_urlsafe(16)))
        return _dummy[0]
