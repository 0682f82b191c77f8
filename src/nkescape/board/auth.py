"""Who may use the board over the web: password hashes, sessions, CSRF tokens, login throttling
and the optional TOTP second factor.

Nothing here knows HTTP: ``nkescape.web.board`` turns these objects into cookies, headers and
status codes. The pieces, each with the OWASP ASVS 4.0.3 requirement it answers (level 2):

- **Passwords** (V2.1, V2.4): Argon2id through argon2-cffi, one hasher for the whole board
  (``hash_password``; the service stores what it returns in the user record). An unknown user
  costs the same verification as a known one, against a dummy hash, so that the time of the
  answer does not tell which names exist (V2.2.x, V3.x account enumeration).
- **Sessions** (V3.2, V3.3): a random 256-bit token in the cookie; the vault keeps only its HMAC,
  with the user, the times and the CSRF token. A session ends after ``IDLE_TIMEOUT`` without a
  request and ``ABSOLUTE_LIFETIME`` after login, whichever comes first.
- **CSRF** (V4.2.2, V13.2.3): a synchronizer token per session, which the page sends in a header
  on every request that changes something.
- **Throttling** (V2.2.1): failed logins slow down the account and the client address, each with
  a delay that doubles after a few free tries, up to a cap; the caller learns when to retry.
- **TOTP** (V2.8): RFC 6238, SHA-1, 6 digits, 30 s steps, one step either side for clock drift,
  each code accepted once (V2.8.4): the last step used is kept in the user's vault record
  (``TotpSteps``), so that a restart or a second server process refuses it too.

Times are timezone-aware UTC ``datetime``s from an injectable clock, so that tests move time
instead of sleeping.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hmac
import math
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from nkescape.board.errors import BoardError, NotFoundError

__all__ = [
    "ABSOLUTE_LIFETIME",
    "ACCOUNT_FREE_FAILURES",
    "ADDRESS_FREE_FAILURES",
    "AUDIT_LOGIN",
    "AUDIT_LOGIN_FAILED",
    "AUDIT_LOGOUT",
    "CODE_NEEDED",
    "FIRST_DELAY_S",
    "IDLE_TIMEOUT",
    "LOGIN_FAILED",
    "MAX_DELAY_S",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "TOKEN_BYTES",
    "TOTP_DIGITS",
    "TOTP_STEP_FIELD",
    "TOTP_STEP_S",
    "UNKNOWN_ACCOUNT",
    "AuditHook",
    "Authenticator",
    "Clock",
    "CodeNeededError",
    "LoginError",
    "LoginThrottle",
    "Session",
    "SessionStore",
    "SessionVault",
    "Throttle",
    "ThrottledError",
    "TotpSteps",
    "UserVault",
    "check_password",
    "csrf_ok",
    "hash_password",
    "needs_rehash",
    "new_totp_secret",
    "totp_code",
    "totp_uri",
    "utc_now",
    "verify_password",
    "verify_totp",
]

# --- passwords --------------------------------------------------------------------------------

# Argon2id at OWASP's Password Storage Cheat Sheet's first configuration (m = 19 MiB, t = 2,
# p = 1). RFC 9106's 64 MiB x 4 lanes takes about 0.2-0.4 s of both cores of the 2-core server
# this runs on, per login: a few wrong passwords a second would stall everyone's requests. This
# costs about 25 ms and 19 MiB, and still puts a GPU guesser at a few thousand guesses a second.
HASH_TIME_COST = 2
HASH_MEMORY_KIB = 19_456
HASH_PARALLELISM = 1
# Hashes computed at once: each holds HASH_MEMORY_KIB; more than the cores would only queue in
# the CPU, and a burst of logins must not take the server's memory (the server's threads are 40).
MAX_CONCURRENT_HASHES = 2
# ASVS 2.1.1 (at least 12 characters) and 2.1.2 (at least 64 allowed, at most 128).
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128

_HASHER = PasswordHasher(
    time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB, parallelism=HASH_PARALLELISM
)
_HASH_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()


def check_password(password: str) -> None:
    """Refuse a password too short or too long for the board, in one line.

    Raises
    ------
    BoardError
        Under ``MIN_PASSWORD_LENGTH`` or over ``MAX_PASSWORD_LENGTH`` characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BoardError(
            f"the password has {len(password)} characters: use at least {MIN_PASSWORD_LENGTH} "
            "(a few unrelated words are easy to remember)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BoardError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The Argon2id hash to store for ``password`` (a PHC string with its salt and parameters).

    The one password hasher of the board: the service stores what this returns, the login
    checks against it with ``verify_password``.
    """
    with _HASH_SLOTS:
        return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False for a malformed hash, never raises."""
    try:
        with _HASH_SLOTS:
            return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with other parameters than the board's current ones."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def _burn_verification(password: str) -> None:
    """Spend a verification's time on an unknown user, so that the answer's time is the same."""
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        dummy = _dummy_hash
    verify_password(dummy, password)


# --- time -------------------------------------------------------------------------------------

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Now, in UTC, timezone-aware (the default clock)."""
    return dt.datetime.now(dt.UTC)


# --- TOTP -------------------------------------------------------------------------------------

# RFC 6238's defaults, the only ones common authenticator apps all accept.
TOTP_DIGITS = 6
TOTP_STEP_S = 30
# Steps accepted either side of now: RFC 6238 section 5.2 recommends one, for a phone's clock
# a little off and the time to type the code.
TOTP_DRIFT_STEPS = 1
# Secret length: 160 bits, the length RFC 4226 section 4 recommends (and SHA-1's output).
TOTP_SECRET_BYTES = 20
_ISSUER = "nkescape board"
_CODE = re.compile(r"^\d{6}$")


def new_totp_secret() -> str:
    """A fresh TOTP secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(TOTP_SECRET_BYTES)).decode("ascii").rstrip("=")


def _totp_key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise BoardError("the TOTP secret is not base32 text: make a new one") from None


def _totp(secret: str) -> TOTP:
    return TOTP(_totp_key(secret), TOTP_DIGITS, SHA1(), TOTP_STEP_S, enforce_key_length=False)


def totp_code(secret: str, at: dt.datetime) -> str:
    """The code an authenticator app shows at ``at`` for ``secret`` (tests, and setup checks)."""
    return _totp(secret).generate(int(at.timestamp())).decode("ascii")


def totp_uri(secret: str, name: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed) for ``name``."""
    label = quote(f"{_ISSUER}:{name}")
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={quote(_ISSUER)}"
        f"&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_S}"
    )


def verify_totp(secret: str, code: str, at: dt.datetime) -> int | None:
    """The time step ``code`` is valid for at ``at`` (one step of drift either way), or None."""
    code = code.strip().replace(" ", "")
    if not _CODE.match(code):
        return None
    totp = _totp(secret)
    now = int(at.timestamp())
    for offset in range(-TOTP_DRIFT_STEPS, TOTP_DRIFT_STEPS + 1):
        moment = now + offset * TOTP_STEP_S
        if hmac.compare_digest(totp.generate(moment), code.encode("ascii")):
            return moment // TOTP_STEP_S
    return None


# The user record's field for the last TOTP step the account logged in with.
TOTP_STEP_FIELD = "totp_step"


class UserVault(Protocol):
    """The vault's user records (``nkescape.board.vault.Vault`` has these)."""

    def user(self, name: str) -> dict[str, Any] | None: ...
    def set_user(self, name: str, record: dict[str, Any]) -> None: ...


class TotpSteps:
    """Which TOTP steps each account has used: a step is accepted once, and never one older.

    With a vault, the last accepted step is written into the user's record
    (``TOTP_STEP_FIELD``) before the login goes on, so that a code seen over a shoulder or in a
    proxy's log is refused after a restart and by another server process too. Within a process
    a lock orders the claims; two processes claiming the same step in the same few milliseconds
    (between one's read of the record and its write) could both succeed: the vault has no
    compare-and-set for a user record.
    """

    def __init__(self, vault: UserVault | None = None) -> None:
        self.vault = vault
        self._lock = threading.Lock()
        self._steps: dict[str, int] = {}

    def claim(self, name: str, secret: str, step: int) -> bool:
        """Accept ``step`` for ``name`` if it is newer than every step used; False if not.

        ``secret`` is the one the code was checked against: a record whose secret has changed
        meanwhile (or an account removed meanwhile) refuses the claim.
        """
        with self._lock:
            if step <= self._steps.get(name, -1):
                return False
            if self.vault is not None and not self._claim_stored(name, secret, step):
                return False
            self._steps[name] = step
            return True

    def _claim_stored(self, name: str, secret: str, step: int) -> bool:
        assert self.vault is not None
        # Read again, not the record the password was checked against: the write below
        # replaces the whole record, and must not undo a password or secret changed since.
        record = self.vault.user(name)
        if record is None or record.get("totp") != secret:
            return False
        last = record.get(TOTP_STEP_FIELD)
        if isinstance(last, int) and step <= last:
            return False
        try:
            self.vault.set_user(name, {**record, TOTP_STEP_FIELD: step})
        except NotFoundError:  # removed meanwhile
            return False
        return True


# --- throttling -------------------------------------------------------------------------------

# Failed logins an account may have before it waits: a user mistyping twice or thrice is not
# slowed; guessing is, at once after that.
ACCOUNT_FREE_FAILURES = 3
# Failed logins a client address may have before it waits: more than an account's, because an
# office or a phone network puts many users behind one address.
ADDRESS_FREE_FAILURES = 10
# The first wait, doubled after every further failure: 1, 2, 4, ... s.
FIRST_DELAY_S = 1.0
# The longest wait: 15 minutes. With the three free tries and the doubling, an account takes
# at most about 16 wrong passwords an hour, far under ASVS 2.2.1's 100, while its owner,
# locked out by someone else's guessing, waits a quarter of an hour at worst (a soft lockout).
MAX_DELAY_S = 900.0
# Failures are forgotten this long after the last one, so that a mistake today does not slow
# a login next week.
FORGET_AFTER_S = 24 * 3600.0
# Keys (accounts and addresses) remembered at most: enough for any NGO's users and their
# networks; a flood of made-up names or addresses evicts the oldest instead of taking memory.
MAX_THROTTLE_KEYS = 100_000


@dataclass
class _Failures:
    count: int
    last: float


class Throttle:
    """Growing delays after failures, per key: thread-safe, in memory.

    After ``free`` failures the key waits ``first_s`` seconds after its last failure, then twice
    as long after each further one, up to ``max_s``. A success ``clear``s the key.
    """

    def __init__(
        self,
        free: int,
        *,
        first_s: float = FIRST_DELAY_S,
        max_s: float = MAX_DELAY_S,
        forget_s: float = FORGET_AFTER_S,
        max_keys: int = MAX_THROTTLE_KEYS,
    ) -> None:
        self.free = free
        self.first_s = first_s
        self.max_s = max_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (0 while they are free)."""
        if failures < self.free:
            return 0.0
        # Capped before the power, so that a long run of failures cannot overflow the float.
        doublings = min(failures - self.free, 64)
        return float(min(self.first_s * 2.0**doublings, self.max_s))

    def wait(self, key: str, now: float) -> float:
        """Seconds ``key`` must still wait before its next try (0: it may try now)."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is None:
                return 0.0
            if now - entry.last >= self.forget_s:
                del self._keys[key]
                return 0.0
            return max(0.0, entry.last + self.delay(entry.count) - now)

    def failed(self, key: str, now: float) -> None:
        """Count a failure for ``key`` at ``now``."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is None or now - entry.last >= self.forget_s:
                entry = _Failures(0, now)
            entry.count += 1
            entry.last = now
            self._keys[key] = entry
            self._keys.move_to_end(key)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (it logged in)."""
        with self._lock:
            self._keys.pop(key, None)

    def failures(self, key: str) -> int:
        """Failures counted for ``key`` now (tests, diagnostics)."""
        with self._lock:
            entry = self._keys.get(key)
            return 0 if entry is None else entry.count


class LoginThrottle:
    """The login's two throttles: per account name and per client address."""

    def __init__(
        self,
        *,
        account: Throttle | None = None,
        address: Throttle | None = None,
    ) -> None:
        self.account = account if account is not None else Throttle(ACCOUNT_FREE_FAILURES)
        self.address = address if address is not None else Throttle(ADDRESS_FREE_FAILURES)

    @staticmethod
    def _name_key(name: str) -> str:
        # Names differing only in case or surrounding spaces share their count, so that
        # "Alice" and "alice " are not two budgets of guesses.
        return name.strip().casefold()

    def wait(self, name: str, address: str, now: float) -> float:
        """Seconds before this name from this address may try again (0: now)."""
        return max(self.account.wait(self._name_key(name), now), self.address.wait(address, now))

    def failed(self, name: str, address: str, now: float) -> None:
        self.account.failed(self._name_key(name), now)
        self.address.failed(address, now)

    def succeeded(self, name: str) -> None:
        # Only the account is cleared: an attacker's own good login must not reset the count
        # of the address they guess from.
        self.account.clear(self._name_key(name))


# --- sessions ---------------------------------------------------------------------------------

# The session token's randomness: 256 bits (ASVS 3.2.2 asks for at least 64), from secrets.
TOKEN_BYTES = 32
# ASVS 3.3.2, level 2: re-authentication after 30 minutes without activity and 12 hours in any
# case. A field partner's phone left unlocked, or a shared office computer, stops being a way in
# half an hour after the last click; a coordinator logs in about once a working day.
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_LIFETIME = dt.timedelta(hours=12)
# How stale a session's stored expiry may get before a request moves it on: each move is a
# durable write (Vault.set_session), so a page polling every few seconds writes once a minute,
# not every time; the idle timeout is then exact to within this.
TOUCH_INTERVAL = dt.timedelta(minutes=1)
# Tokens as secrets.token_urlsafe makes them; anything else in the cookie is not looked up.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SessionVault(Protocol):
    """The vault's session storage (``nkescape.board.vault.Vault`` has these)."""

    def add_session(self, token: str, record: dict[str, Any]) -> None: ...
    def set_session(self, token: str, record: dict[str, Any]) -> bool: ...
    def session(self, token: str) -> dict[str, Any] | None: ...
    def drop_session(self, token: str) -> None: ...
    def drop_expired_sessions(self, now: dt.datetime) -> int: ...


@dataclass(frozen=True)
class Session:
    """A logged-in session, as stored: never holds its own token."""

    user: str
    created: dt.datetime
    # When it ends unless used again (the idle timeout), never later than `ends`.
    expires: dt.datetime
    # When it ends in any case (the absolute lifetime).
    ends: dt.datetime
    csrf: str

    def to_record(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "ends": self.ends.isoformat(),
            "csrf": self.csrf,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Session | None:
        """The session in a stored record, or None for a record this code did not write."""
        try:
            created = dt.datetime.fromisoformat(str(record["created"]))
            expires = dt.datetime.fromisoformat(str(record["expires"]))
            ends = dt.datetime.fromisoformat(str(record.get("ends", record["expires"])))
            return cls(str(record["user"]), created, expires, ends, str(record["csrf"]))
        except (KeyError, TypeError, ValueError):
            return None


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Whether ``sent`` (the request's CSRF header) is this session's token."""
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())


class SessionStore:
    """Sessions kept in the vault, with the idle timeout and the absolute lifetime."""

    def __init__(
        self,
        vault: SessionVault,
        *,
        clock: Clock = utc_now,
        idle: dt.timedelta = IDLE_TIMEOUT,
        lifetime: dt.timedelta = ABSOLUTE_LIFETIME,
    ) -> None:
        self.vault = vault
        self.clock = clock
        self.idle = idle
        self.lifetime = lifetime

    def start(self, user: str) -> tuple[str, Session]:
        """A new session for ``user``: its token (for the cookie only) and its record."""
        now = self.clock()
        ends = now + self.lifetime
        session = Session(
            user=user,
            created=now,
            expires=min(now + self.idle, ends),
            ends=ends,
            csrf=secrets.token_urlsafe(TOKEN_BYTES),
        )
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.vault.add_session(token, session.to_record())
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token``, its idle expiry moved on; None if none or expired.

        An expired session is deleted on the way.
        """
        if not token or not _TOKEN.match(token):
            return None
        record = self.vault.session(token)
        if record is None:
            return None
        session = Session.from_record(record)
        now = self.clock()
        if session is None or now >= session.expires or now >= session.ends:
            self.vault.drop_session(token)
            return None
        moved = min(now + self.idle, session.ends)
        if moved - session.expires < TOUCH_INTERVAL:
            return session
        session = dataclasses.replace(session, expires=moved)
        if not self.vault.set_session(token, session.to_record()):
            return None  # logged out meanwhile
        return session

    def end(self, token: str | None) -> None:
        """Log out: the session is deleted, its token worthless from now on."""
        if token and _TOKEN.match(token):
            self.vault.drop_session(token)

    def sweep(self) -> int:
        """Delete every expired session (idle or past its lifetime); returns how many."""
        return self.vault.drop_expired_sessions(self.clock())


# --- login ------------------------------------------------------------------------------------

# The one answer to a wrong name, a wrong password or a wrong code: which of them was wrong is
# not said (ASVS 2.2 / V3: no account enumeration).
LOGIN_FAILED = "wrong user name, password or code"
# The answer when the password was right and the account has a second factor but no code came.
CODE_NEEDED = "enter the 6-digit code from your authenticator app"


class LoginError(BoardError):
    """A login refused: the same message whatever was wrong."""


class CodeNeededError(LoginError):
    """The password was right; the account needs its TOTP code too."""


class ThrottledError(BoardError):
    """Too many failed logins: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed logins: try again in {retry_after} s (each failure doubles the wait)"
        )
        self.retry_after = retry_after


# What the authenticator asks of the board: a user's role and stored record by name, or None.
UserLookup = Callable[[str], "tuple[str, Mapping[str, Any]] | None"]
# How it records what happened: (actor, action, detail), e.g. the vault's audit log.
AuditHook = Callable[[str, str, "str | None"], object]
# The audit log's words for logins (ASVS 4.0.3 V7.1.3 / 5.0 V16.3.1: authentication events are
# logged). A failed login names the account only when it exists: an unknown "name" is often a
# password typed into the wrong field, and is never written down. No client address is logged
# either: a field partner's address says where they are.
AUDIT_LOGIN = "login"
AUDIT_LOGIN_FAILED = "login.failed"
AUDIT_LOGOUT = "logout"
UNKNOWN_ACCOUNT = "(unknown account)"


class Authenticator:
    """Checks logins (throttled, with the second factor) and starts their sessions."""

    def __init__(
        self,
        users: UserLookup,
        sessions: SessionStore,
        *,
        throttle: LoginThrottle | None = None,
        audit: AuditHook | None = None,
        steps: TotpSteps | None = None,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.throttle = throttle if throttle is not None else LoginThrottle()
        self.audit = audit
        # The TOTP steps used, so that a code seen over a shoulder or in a proxy's log cannot
        # be used again within its 90 seconds (ASVS 2.8.4). Without a vault, in memory only.
        self.steps = steps if steps is not None else TotpSteps()

    @property
    def clock(self) -> Clock:
        return self.sessions.clock

    def login(
        self, name: str, password: str, code: str | None, address: str
    ) -> tuple[str, Session, str]:
        """Log ``name`` in from ``address``: (token, session, role).

        Raises
        ------
        ThrottledError
            The name or the address must wait (checked before the password, which is then not
            tried at all).
        CodeNeededError
            The password is right and the account has TOTP, but no code was given.
        LoginError
            Anything wrong: the same message for an unknown name, a wrong password or code.
        """
        now = self.clock()
        wait = self.throttle.wait(name, address, now.timestamp())
        if wait > 0:
            raise ThrottledError(max(1, math.ceil(wait)))
        found = self.users(name)
        if found is None:
            _burn_verification(password)
            self._fail(name, address, now, UNKNOWN_ACCOUNT, None)
        role, record = found
        stored = record.get("password_hash")
        if not isinstance(stored, str) or not verify_password(stored, password):
            self._fail(name, address, now, name, "wrong password")
        secret = record.get("totp")
        if isinstance(secret, str) and secret:
            if not code:
                raise CodeNeededError(CODE_NEEDED)
            step = verify_totp(secret, code, now)
            if step is None or not self.steps.claim(name, secret, step):
                self._fail(name, address, now, name, "wrong or used code")
        self.throttle.succeeded(name)
        token, session = self.sessions.start(name)
        self._record(name, AUDIT_LOGIN, "with a code" if secret else None)
        return token, session, role

    def _record(self, actor: str, action: str, detail: str | None) -> None:
        if self.audit is not None:
            self.audit(actor, action, detail)

    def _fail(
        self, name: str, address: str, now: dt.datetime, actor: str, why: str | None
    ) -> NoReturn:
        self.throttle.failed(name, address, now.timestamp())
        self._record(actor, AUDIT_LOGIN_FAILED, why)
        raise LoginError(LOGIN_FAILED)
