"""The board's storage: an encrypted SQLCipher file or a PostgreSQL schema, through one code path.

The vault stores opaque JSON documents (journeys, their events, users, sessions) and the audit
log; it knows nothing of their content. Both backends go through SQLAlchemy Core, and on both
every sensitive value is encrypted in the application (AES-256-GCM, bound to its table, column and
row) before it reaches the database, so a PostgreSQL server, its WAL and its backups only ever hold
ciphertext; on SQLite, SQLCipher encrypts every page of the file and its WAL on top of that.

What is stored in plaintext (besides the ciphertexts), and why:

* ``board_journeys``: a random internal id (joins events to journeys), the HMAC blind index of the
  code (finds a journey by its code) and of the partner (lists a partner's journeys), ``closed_on``
  (purge finds the journeys past retention without the key), an event counter (numbers events);
* ``board_events``: the journey's internal id and the event's number;
* ``board_users`` / ``board_sessions``: the blind index of the name / of the session token;
* ``board_audit``: the row's number and its chain hash; ``board_audit_head``: the last number and
  hash, HMAC'd;
* ``board_meta`` (PostgreSQL needs these before it has the key): the salt, the Argon2id
  parameters and the key-check value.

Schema changes are alembic migrations shipped in the package (``migrations/``), applied by
:meth:`Vault.create` and :meth:`Vault.open`.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlcipher3.dbapi2 as sqlcipher  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from nkescape.board import _migrate
from nkescape.board import _tables as t
from nkescape.board.crypto import (
    NONCE_BYTES,
    SALT_BYTES,
    BoardKey,
    FieldCipher,
    KdfParams,
    Keyring,
    derive_keyring,
)
from nkescape.board.errors import (
    AuditError,
    BoardError,
    ConflictError,
    NotFoundError,
    WrongKeyError,
)

__all__ = [
    "DEFAULT_PG_SCHEMA",
    "EXPORT_MAGIC",
    "AuditRow",
    "StoredJourney",
    "Vault",
    "is_postgres",
    "read_export",
]

_T = TypeVar("_T")

_PG_PREFIXES = ("postgresql://", "postgresql+psycopg://")
# A PostgreSQL board lives in its own schema unless told otherwise, so it never mixes with
# another application's tables in `public`.
DEFAULT_PG_SCHEMA = "nkescape_board"
# An unquoted PostgreSQL identifier (63 bytes at most), so the name can go into DDL and the
# connection's search_path without quoting or injection.
_PG_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# A writer waits this long for SQLite's lock (busy_timeout) before the retry loop takes over.
SQLITE_BUSY_TIMEOUT_S = 5.0
# Retry of transient lock errors ("database is locked", serialisation failures, deadlocks): the
# first wait, its doubling cap, and how long before the user is told the board is busy. A
# check-in takes milliseconds, so 30 s of contention means something is stuck, not busy.
RETRY_FIRST_DELAY_S = 0.005
RETRY_MAX_DELAY_S = 0.25
RETRY_DEADLINE_S = 30.0
# Connections: SQLite's are cheap (readers run in parallel under WAL; writers queue on a lock in
# this process); PostgreSQL's are server processes out of a default max_connections of 100.
SQLITE_POOL_SIZE = 8
SQLITE_MAX_OVERFLOW = 24
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10
PG_CONNECT_TIMEOUT_S = 10
# wal_checkpoint(TRUNCATE) reports "busy" while a reader holds an old snapshot; purge retries
# this many times (with the backoff above) before leaving the rest to the next checkpoint.
CHECKPOINT_ATTEMPTS = 20
# SQLSTATEs PostgreSQL uses for conflicts that a retried transaction resolves.
_PG_TRANSIENT = frozenset({"40001", "40P01", "55P03"})
# SQLite's messages for SQLITE_BUSY / SQLITE_LOCKED.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database is busy")
# The first 16 bytes of a plaintext SQLite file: such a file is not a board.
_PLAIN_SQLITE_HEADER = b"SQLite format 3\x00"
# The audit chain starts from this "previous hash".
_GENESIS_MAC = bytes(32)
_HEAD_ID = 1
# An audit row about a journey no longer on the board names it by this many hex characters of
# its index (48 bits: tells rows apart in a log, reveals nothing of the purged code).
AUDIT_INDEX_PREFIX_HEX = 12
# export(): magic bytes, then a 4-byte big-endian header length, the JSON header, the ciphertext.
EXPORT_MAGIC = b"NKESCAPE-BOARD-EXPORT\x00"
EXPORT_VERSION = 1
_EXPORT_HEADER_LEN = struct.Struct(">I")
# Users' fields an export keeps: names and roles only. Password hashes and TOTP secrets stay out,
# so a lost archive gives no offline guessing target; whoever rebuilds accounts from an archive
# (there is no import: read_export only reads it) gives them new passwords.
EXPORT_USER_FIELDS = ("role",)
# The board file (SQLite gives its -wal and -shm the same mode) and exports, like key files, are
# readable by their owner only.
OWNER_ONLY_MODE = 0o600
# Random internal journey ids: 128 bits, so they never collide and say nothing.
_JOURNEY_ID_BYTES = 16

# Jitter only spreads retrying writers apart; it is not part of any result.
_jitter = random.Random()


def is_postgres(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database (else it is the path of a board file).

    >>> is_postgres("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    True
    >>> is_postgres("board.db")
    False
    """
    return isinstance(target, str) and target.startswith(_PG_PREFIXES)


@dataclass(frozen=True)
class AuditRow:
    """One audit record: who did what, when, to which journey.

    ``journey`` is the journey's code while the journey is on the board, else ``#`` and the first
    hex digits of its blind index (after purge), or None for actions on no journey.
    """

    seq: int
    at: datetime
    actor: str
    action: str
    journey: str | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object (``at`` in ISO 8601, UTC)."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "journey": self.journey,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StoredJourney:
    """A journey as stored: its code, document, partner (or None) and events in append order."""

    code: str
    doc: dict[str, Any]
    partner: str | None
    events: list[dict[str, Any]]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _row_mac_message(
    seq: int,
    at: str,
    actor: str,
    action: str,
    journey_ix: str | None,
    detail: str | None,
    prev: bytes,
) -> bytes:
    # A JSON array is an unambiguous encoding of the fields (no concatenation collisions).
    return b"row\x00" + _json_bytes([seq, at, actor, action, journey_ix, detail, prev.hex()])


def _head_mac_message(seq: int, last_mac: bytes) -> bytes:
    return b"head\x00" + _json_bytes([seq, last_mac.hex()])


def _is_transient(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_TRANSIENT:
        return True
    message = str(orig).lower()
    return any(text in message for text in _SQLITE_TRANSIENT)


def _is_not_a_database(exc: BaseException) -> bool:
    return "file is not a database" in str(exc).lower()


def _sqlite_connect(path: Path, raw_key_hex: str) -> Any:
    """A SQLCipher connection to ``path``, keyed, checked, then configured.

    The key is checked by a read before any setting that could write, so a wrong key changes
    nothing on disk.
    """
    conn = sqlcipher.connect(
        str(path),
        timeout=SQLITE_BUSY_TIMEOUT_S,
        # The pool hands a connection to one thread at a time, not always the same one.
        check_same_thread=False,
        # Transactions are begun explicitly (BEGIN or BEGIN IMMEDIATE, see _begin_sqlite).
        isolation_level=None,
    )
    try:
        # A wrong key is reported once, as WrongKeyError, not also as SQLCipher's log on stderr.
        conn.execute("PRAGMA cipher_log_level = NONE").fetchall()
        conn.execute(f"PRAGMA key = \"x'{raw_key_hex}'\"")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        for pragma in (
            f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}",
            # WAL: readers never block the writer; FULL: a commit is on disk (WAL fsynced) before
            # it is acknowledged, so it survives a kill -9 or a power cut.
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            # Deleted content is overwritten with zeros, not left in free pages.
            "PRAGMA secure_delete = ON",
            "PRAGMA foreign_keys = ON",
            # Sorts, temporary indices and VACUUM's copy stay in memory, never in a temp file.
            "PRAGMA temp_store = MEMORY",
        ):
            conn.execute(pragma).fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def _sqlite_engine(path: Path, keyring: Keyring, salt: bytes) -> Engine:
    raw_key_hex = keyring.database.hex() + salt.hex()
    engine = create_engine(
        "sqlite://",
        module=sqlcipher,
        creator=lambda: _sqlite_connect(path, raw_key_hex),
        # "sqlite://" would otherwise get a single-connection pool meant for :memory:.
        poolclass=QueuePool,
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_MAX_OVERFLOW,
    )

    @event.listens_for(engine, "begin")
    def _begin_sqlite(conn: Connection) -> None:
        # A writer takes the write lock at BEGIN, so it never fails half-way through upgrading a
        # read lock (SQLITE_BUSY_SNAPSHOT); readers begin deferred and never block under WAL.
        write = conn.get_execution_options().get("board_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _pg_engine(target: str, schema: str) -> Engine:
    url = make_url(target).set(drivername="postgresql+psycopg")
    return create_engine(
        url,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        # A pooled connection may have been closed by a server restart.
        pool_pre_ping=True,
        connect_args={
            # Every unqualified name (tables, alembic's version table) resolves in the schema.
            "options": f"-c search_path={schema}",
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
        },
    )


def _pg_schema(schema: str | None) -> str:
    name = DEFAULT_PG_SCHEMA if schema is None else schema
    if not _PG_SCHEMA_RE.fullmatch(name):
        raise BoardError(
            f"{name!r} is not a usable PostgreSQL schema name: use lower-case letters, digits "
            "and underscores, starting with a letter or underscore (at most 63)"
        )
    return name


def _board_path(target: str | Path) -> Path:
    if isinstance(target, str) and "://" in target:
        # Another database's URL would otherwise become the name of a new SQLite file.
        scheme = target.split("://", 1)[0]
        raise BoardError(
            f"{scheme}:// is not a board address: give a file path, or a PostgreSQL URL "
            "(postgresql://USER@HOST:PORT/DATABASE)"
        )
    return Path(target)


def _public_target(target: str | Path) -> str:
    if is_postgres(str(target)):
        return make_url(str(target)).render_as_string(hide_password=True)
    return str(target)


def _no_board(target: str) -> BoardError:
    return BoardError(f"no board at {target}: create one with `nkescape board init --db {target}`")


def _wrong_key(target: str) -> WrongKeyError:
    return WrongKeyError(
        f"wrong passphrase or key file for the board at {target}; nothing was changed"
    )


def _connect_error(target: str, exc: BaseException) -> BoardError:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else ""
    return BoardError(
        f"cannot open the database at {target} ({reason}); check that the server is running "
        "and the address, user and database are right"
    )


class Vault:
    """An open board's storage. Use :meth:`create` or :meth:`open`; close it (or use ``with``).

    Every method is thread-safe: each call runs in its own transaction on a pooled connection,
    and transient lock conflicts are retried with backoff, never shown to the caller.
    """

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        *,
        backend: Literal["sqlite", "postgres"],
        target: str,
        path: Path | None = None,
        schema: str | None = None,
    ) -> None:
        self._engine = engine
        self._keys = keyring
        self._cipher: FieldCipher = keyring.field_cipher()
        self.backend = backend
        self.target = target
        self.path = path
        self.schema = schema
        # SQLite has one writer at a time: writers in this process queue here instead of
        # spinning on SQLite's busy handler (BEGIN IMMEDIATE still guards other processes).
        self._write_lock = threading.Lock() if backend == "sqlite" else None
        self._closed = False

    # ------------------------------------------------------------------ create / open / close

    @classmethod
    def create(cls, target: str | Path, key: BoardKey, *, schema: str | None = None) -> Vault:
        """Create a new, empty board at ``target`` and open it.

        Parameters
        ----------
        target
            A file path (SQLCipher) or a ``postgresql://`` / ``postgresql+psycopg://`` URL.
        key
            The passphrase or key file that will open the board.
        schema
            PostgreSQL only: the schema to hold the board's tables (created if absent);
            :data:`DEFAULT_PG_SCHEMA` by default.

        Raises
        ------
        ConflictError
            If a board (or, for a path, any file) exists there already.
        """
        if is_postgres(str(target)):
            return cls._create_pg(str(target), key, _pg_schema(schema))
        return cls._create_sqlite(_board_path(target), key)

    @classmethod
    def open(cls, target: str | Path, key: BoardKey, *, schema: str | None = None) -> Vault:
        """Open the board at ``target`` with ``key``, upgrading its schema if it is older.

        Raises
        ------
        WrongKeyError
            If the key is not the board's; nothing was changed.
        BoardError
            If there is no board there.
        """
        if is_postgres(str(target)):
            return cls._open_pg(str(target), key, _pg_schema(schema))
        return cls._open_sqlite(_board_path(target), key)

    @classmethod
    def _create_sqlite(cls, path: Path, key: BoardKey) -> Vault:
        target = str(path)
        leftovers = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
        if leftovers:
            raise ConflictError(
                f"a file exists at {leftovers[0]}; nothing was changed: open the board there, "
                "or choose a new path"
            )
        if not path.parent.is_dir():
            raise BoardError(f"the folder {path.parent} does not exist: create it first")
        salt = secrets.token_bytes(SALT_BYTES)
        params = KdfParams()
        keyring = derive_keyring(key, salt, params)
        # Created empty and owner-only before SQLite opens it; SQLite gives -wal/-shm its mode.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_MODE)
        except FileExistsError as exc:
            raise ConflictError(
                f"a file exists at {path}; nothing was changed: choose a new path"
            ) from exc
        os.close(fd)
        engine = _sqlite_engine(path, keyring, salt)
        vault = cls(engine, keyring, backend="sqlite", target=target, path=path)
        try:
            vault._initialise(salt, params)
            with path.open("rb") as fh:
                header = fh.read(SALT_BYTES)
            if header != salt:
                raise BoardError(
                    f"SQLCipher did not write the board's salt at the start of {path}: "
                    "the sqlcipher3 module is not SQLCipher 4; install the `sqlcipher3` wheel"
                )
        except BaseException:
            engine.dispose()
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            raise
        return vault

    @classmethod
    def _open_sqlite(cls, path: Path, key: BoardKey) -> Vault:
        target = str(path)
        if not path.is_file():
            raise _no_board(target)
        with path.open("rb") as fh:
            salt = fh.read(SALT_BYTES)
        if len(salt) < SALT_BYTES or salt == _PLAIN_SQLITE_HEADER:
            raise BoardError(
                f"{path} is not an nkescape board (it is empty or a plain SQLite database); "
                "give the path `nkescape board init` made"
            )
        keyring = derive_keyring(key, salt, KdfParams())
        engine = _sqlite_engine(path, keyring, salt)
        vault = cls(engine, keyring, backend="sqlite", target=target, path=path)
        try:
            vault._check_key_and_upgrade()
        except DBAPIError as exc:
            engine.dispose()
            if _is_not_a_database(exc):
                raise _wrong_key(target) from None
            raise
        except BaseException:
            engine.dispose()
            raise
        return vault

    @classmethod
    def _create_pg(cls, url: str, key: BoardKey, schema: str) -> Vault:
        target = _public_target(url)
        engine = _pg_engine(url, schema)
        try:
            with engine.begin() as conn:
                if inspect(conn).has_table(t.meta.name, schema=schema):
                    raise ConflictError(
                        f"a board exists at {target} (schema {schema}); nothing was changed: "
                        "open it, or choose another schema"
                    )
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        except DBAPIError as exc:
            engine.dispose()
            raise _connect_error(target, exc) from exc
        except BaseException:
            engine.dispose()
            raise
        salt = secrets.token_bytes(SALT_BYTES)
        params = KdfParams()
        keyring = derive_keyring(key, salt, params)
        vault = cls(engine, keyring, backend="postgres", target=target, schema=schema)
        try:
            vault._initialise(salt, params)
        except IntegrityError as exc:
            engine.dispose()
            raise ConflictError(
                f"a board was created at {target} (schema {schema}) at the same time; "
                "open it instead"
            ) from exc
        except BaseException:
            engine.dispose()
            raise
        return vault

    @classmethod
    def _open_pg(cls, url: str, key: BoardKey, schema: str) -> Vault:
        target = _public_target(url)
        engine = _pg_engine(url, schema)
        try:
            with engine.connect() as conn:
                if not inspect(conn).has_table(t.meta.name, schema=schema):
                    raise _no_board(target)
                stored = {
                    str(name): bytes(value)
                    for name, value in conn.execute(select(t.meta.c.name, t.meta.c.value))
                }
        except DBAPIError as exc:
            engine.dispose()
            raise _connect_error(target, exc) from exc
        except BaseException:
            engine.dispose()
            raise
        if "salt" not in stored or "kdf" not in stored:
            engine.dispose()
            raise BoardError(
                f"the board at {target} (schema {schema}) lacks its salt: it was not made by "
                "nkescape or is damaged; restore the database from a backup (an export cannot "
                "be loaded back into a board: nkescape.board.read_export only reads it)"
            )
        params = KdfParams.from_json(json.loads(bytes(stored["kdf"])))
        keyring = derive_keyring(key, bytes(stored["salt"]), params)
        vault = cls(engine, keyring, backend="postgres", target=target, schema=schema)
        try:
            vault._check_key_and_upgrade()
        except BaseException:
            engine.dispose()
            raise
        return vault

    def _initialise(self, salt: bytes, params: KdfParams) -> None:
        def work(conn: Connection) -> None:
            _migrate.upgrade(conn)
            conn.execute(
                insert(t.meta),
                [
                    {"name": "salt", "value": salt},
                    {"name": "kdf", "value": _json_bytes(params.to_json())},
                    {"name": "check", "value": self._keys.check_value()},
                ],
            )
            conn.execute(
                insert(t.audit_head).values(
                    id=_HEAD_ID,
                    seq=0,
                    last_mac=_GENESIS_MAC,
                    mac=self._keys.audit_mac(_head_mac_message(0, _GENESIS_MAC)),
                )
            )

        self._write(work)

    def _check_key_and_upgrade(self) -> None:
        def check(conn: Connection) -> None:
            if not inspect(conn).has_table(t.meta.name):
                raise _no_board(self.target)
            stored = conn.execute(select(t.meta.c.value).where(t.meta.c.name == "check")).first()
            if stored is None or not secrets.compare_digest(
                bytes(stored[0]), self._keys.check_value()
            ):
                raise _wrong_key(self.target)

        self._read(check)
        # Only after the key is known to be right: an upgrade writes.
        with self._engine.connect() as conn:
            revision = _migrate.current_revision(conn)
        if revision != _migrate.HEAD_REVISION:
            self._write(_migrate.upgrade)

    def close(self) -> None:
        """Close every connection (SQLite: the WAL is checkpointed into the file and removed)."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault({self.target!r}, backend={self.backend!r})"

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        if self._closed:
            raise BoardError("the board is closed: open it again")
        with self._engine.connect() as conn:
            if write:
                conn.execution_options(board_write=True)
            with conn.begin():
                yield conn

    def _run(self, work: Callable[[Connection], _T], *, write: bool) -> _T:
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                with self._transaction(write=write) as conn:
                    return work(conn)
            except DBAPIError as exc:
                if not _is_transient(exc):
                    raise
                if time.monotonic() > deadline:
                    raise BoardError(
                        f"the board at {self.target} stayed busy for {RETRY_DEADLINE_S:.0f} s; "
                        "try again, and look for a stuck process holding it"
                    ) from exc
            time.sleep(delay * (0.5 + _jitter.random()))
            delay = min(2 * delay, RETRY_MAX_DELAY_S)

    def _read(self, work: Callable[[Connection], _T]) -> _T:
        return self._run(work, write=False)

    def _write(self, work: Callable[[Connection], _T]) -> _T:
        if self._write_lock is None:
            return self._run(work, write=True)
        with self._write_lock:
            return self._run(work, write=True)

    # ------------------------------------------------------------------ field helpers

    def _enc(self, value: Any, table: str, column: str, row: str) -> bytes:
        return self._cipher.encrypt(value, table=table, column=column, row=row)

    def _dec(self, blob: bytes, table: str, column: str, row: str) -> Any:
        return self._cipher.decrypt(blob, table=table, column=column, row=row)

    def _journey_ix(self, code: str) -> bytes:
        return self._keys.blind_index("journey", code)

    def _event(self, journey_id: str, seq: int, blob: bytes) -> dict[str, Any]:
        # The one place an event is decrypted: AAD binds it to its journey and number.
        event: dict[str, Any] = self._dec(blob, t.events.name, "event", f"{journey_id}/{seq}")
        return event

    def _one_snapshot(self, conn: Connection) -> None:
        # PostgreSQL's READ COMMITTED gives each statement its own snapshot; a read made of
        # several statements (journeys, then their events) must see one state of the board.
        # SQLite's deferred transaction already reads one snapshot.
        if self.backend == "postgres":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def _partner_ix(self, partner: str | None) -> bytes | None:
        return None if partner is None else self._keys.blind_index("partner", partner)

    def _journey_values(
        self, jid: str, doc: dict[str, Any], partner: str | None, closed_on: date | None
    ) -> dict[str, Any]:
        table = t.journeys.name
        return {
            "doc_ct": self._enc(doc, table, "doc", jid),
            "partner_ix": self._partner_ix(partner),
            "partner_ct": None if partner is None else self._enc(partner, table, "partner", jid),
            "closed_on": closed_on,
        }

    def _journey_row(self, row: Any) -> tuple[str, dict[str, Any], str | None]:
        table = t.journeys.name
        code = self._dec(row.code_ct, table, "code", row.id)
        doc = self._dec(row.doc_ct, table, "doc", row.id)
        partner = (
            None if row.partner_ct is None else self._dec(row.partner_ct, table, "partner", row.id)
        )
        return str(code), doc, partner

    @staticmethod
    def _no_journey() -> NotFoundError:
        return NotFoundError("no such journey on this board: check the code")

    # ------------------------------------------------------------------ journeys

    def add_journey(self, code: str, doc: dict[str, Any], *, partner: str | None) -> None:
        """Store a new journey under ``code`` (open, ``closed_on`` unset).

        Raises
        ------
        ConflictError
            If a journey with this code exists.
        """
        jid = secrets.token_hex(_JOURNEY_ID_BYTES)
        values = self._journey_values(jid, doc, partner, None)
        values |= {
            "id": jid,
            "code_ix": self._journey_ix(code),
            "code_ct": self._enc(code, t.journeys.name, "code", jid),
            "n_events": 0,
        }

        def work(conn: Connection) -> None:
            conn.execute(insert(t.journeys).values(**values))

        try:
            self._write(work)
        except IntegrityError as exc:
            raise ConflictError(
                "a journey with this code exists on the board: draw a new code"
            ) from exc

    def journey(self, code: str) -> tuple[dict[str, Any], str | None] | None:
        """The journey's document and partner, or None if there is no journey with ``code``."""
        ix = self._journey_ix(code)

        def work(conn: Connection) -> Any:
            return conn.execute(select(t.journeys).where(t.journeys.c.code_ix == ix)).first()

        row = self._read(work)
        if row is None:
            return None
        _, doc, partner = self._journey_row(row)
        return doc, partner

    def journeys(
        self, *, partner: str | None = None
    ) -> list[tuple[str, dict[str, Any], str | None]]:
        """Every journey as (code, document, partner) by code; only ``partner``'s if given."""
        query = select(t.journeys)
        if partner is not None:
            query = query.where(t.journeys.c.partner_ix == self._partner_ix(partner))

        def work(conn: Connection) -> list[Any]:
            return list(conn.execute(query).all())

        return sorted(self._journey_row(row) for row in self._read(work))

    def journey_with_events(self, code: str) -> StoredJourney | None:
        """The journey ``code`` with its events, read together (one snapshot), or None."""
        ix = self._journey_ix(code)

        def work(conn: Connection) -> tuple[Any, list[Any]] | None:
            self._one_snapshot(conn)
            row = conn.execute(select(t.journeys).where(t.journeys.c.code_ix == ix)).first()
            if row is None:
                return None
            events = conn.execute(
                select(t.events.c.seq, t.events.c.event_ct)
                .where(t.events.c.journey_id == row.id)
                .order_by(t.events.c.seq)
            ).all()
            return row, list(events)

        found = self._read(work)
        if found is None:
            return None
        row, events = found
        code, doc, partner = self._journey_row(row)
        return StoredJourney(
            code, doc, partner, [self._event(row.id, e.seq, e.event_ct) for e in events]
        )

    def journeys_with_events(self, *, partner: str | None = None) -> list[StoredJourney]:
        """Every journey (only ``partner``'s if given) with its events, by code.

        Two queries whatever the number of journeys (the journeys, then all their events), in
        one snapshot, instead of one query for the events of each journey.
        """
        chosen = select(t.journeys)
        events = select(t.events).order_by(t.events.c.journey_id, t.events.c.seq)
        if partner is not None:
            theirs = t.journeys.c.partner_ix == self._partner_ix(partner)
            chosen = chosen.where(theirs)
            events = events.where(t.events.c.journey_id.in_(select(t.journeys.c.id).where(theirs)))

        def work(conn: Connection) -> tuple[list[Any], list[Any]]:
            self._one_snapshot(conn)
            return list(conn.execute(chosen).all()), list(conn.execute(events).all())

        journey_rows, event_rows = self._read(work)
        by_journey: dict[str, list[dict[str, Any]]] = {}
        for e in event_rows:
            by_journey.setdefault(e.journey_id, []).append(
                self._event(e.journey_id, e.seq, e.event_ct)
            )
        out = []
        for row in journey_rows:
            code, doc, who = self._journey_row(row)
            out.append(StoredJourney(code, doc, who, by_journey.get(row.id, [])))
        return sorted(out, key=lambda j: j.code)

    def set_journey(
        self, code: str, doc: dict[str, Any], *, partner: str | None, closed_on: date | None
    ) -> None:
        """Replace a journey's document, partner and ``closed_on``.

        Raises
        ------
        NotFoundError
            If there is no journey with ``code``.
        """
        ix = self._journey_ix(code)

        def work(conn: Connection) -> bool:
            jid = conn.execute(
                select(t.journeys.c.id).where(t.journeys.c.code_ix == ix)
            ).scalar_one_or_none()
            if jid is None:
                return False
            values = self._journey_values(jid, doc, partner, closed_on)
            conn.execute(update(t.journeys).where(t.journeys.c.id == jid).values(**values))
            return True

        if not self._write(work):
            raise self._no_journey()

    def add_event(self, code: str, event: dict[str, Any]) -> int:
        """Append ``event`` to the journey's events; returns its number (1, 2, ...).

        Raises
        ------
        NotFoundError
            If there is no journey with ``code``.
        """
        ix = self._journey_ix(code)

        def work(conn: Connection) -> int | None:
            # The counter's UPDATE takes the journey's row lock (PostgreSQL) inside the write
            # lock (SQLite), so concurrent writers get distinct numbers and none is lost.
            counted = conn.execute(
                update(t.journeys)
                .where(t.journeys.c.code_ix == ix)
                .values(n_events=t.journeys.c.n_events + 1)
                .returning(t.journeys.c.id, t.journeys.c.n_events)
            ).first()
            if counted is None:
                return None
            jid, seq = str(counted[0]), int(counted[1])
            blob = self._enc(event, t.events.name, "event", f"{jid}/{seq}")
            conn.execute(insert(t.events).values(journey_id=jid, seq=seq, event_ct=blob))
            return seq

        seq = self._write(work)
        if seq is None:
            raise self._no_journey()
        return seq

    def events(self, code: str) -> list[dict[str, Any]]:
        """The journey's events in the order they were appended.

        Raises
        ------
        NotFoundError
            If there is no journey with ``code``.
        """
        ix = self._journey_ix(code)

        def work(conn: Connection) -> tuple[str, list[Any]] | None:
            jid = conn.execute(
                select(t.journeys.c.id).where(t.journeys.c.code_ix == ix)
            ).scalar_one_or_none()
            if jid is None:
                return None
            rows = conn.execute(
                select(t.events.c.seq, t.events.c.event_ct)
                .where(t.events.c.journey_id == jid)
                .order_by(t.events.c.seq)
            ).all()
            return str(jid), list(rows)

        found = self._read(work)
        if found is None:
            raise self._no_journey()
        jid, rows = found
        return [self._event(jid, row.seq, row.event_ct) for row in rows]

    def purge(self, cutoff: date) -> int:
        """Delete the journeys closed before ``cutoff`` and their events, then compact the store.

        Compaction makes the bytes go away, not only the rows: SQLite overwrites deleted content
        (``secure_delete``), checkpoints and truncates the WAL, VACUUMs the file and truncates the
        WAL again; PostgreSQL rewrites the tables with ``VACUUM FULL`` (its WAL and backups only
        ever held ciphertext). Returns the number of journeys deleted.
        """

        def work(conn: Connection) -> int:
            ids = list(
                conn.execute(
                    select(t.journeys.c.id).where(t.journeys.c.closed_on < cutoff)
                ).scalars()
            )
            if ids:
                conn.execute(delete(t.events).where(t.events.c.journey_id.in_(ids)))
                conn.execute(delete(t.journeys).where(t.journeys.c.id.in_(ids)))
            return len(ids)

        # Compaction runs even when nothing was due, so a purge that could not finish compacting
        # (a busy reader) is completed by the next one.
        if self._write_lock is None:
            count = self._run(work, write=True)
            self._compact_pg()
            return count
        with self._write_lock:
            count = self._run(work, write=True)
            self._compact_sqlite()
        return count

    def _compact_sqlite(self) -> None:
        # Driver-level autocommit (isolation_level=None): VACUUM cannot run in a transaction.
        raw = self._engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            self._checkpoint(driver)
            self._retry_driver(lambda: driver.execute("VACUUM").fetchall())
            self._checkpoint(driver)
        finally:
            raw.close()

    def _retry_driver(self, call: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return call()
            except sqlcipher.OperationalError as exc:
                if not any(text in str(exc).lower() for text in _SQLITE_TRANSIENT):
                    raise
                if time.monotonic() > deadline:
                    raise BoardError(
                        f"the board at {self.target} stayed busy during compaction; run purge "
                        "again when no other process is writing"
                    ) from exc
            time.sleep(delay * (0.5 + _jitter.random()))
            delay = min(2 * delay, RETRY_MAX_DELAY_S)

    def _checkpoint(self, driver: Any) -> None:
        delay = RETRY_FIRST_DELAY_S
        for _ in range(CHECKPOINT_ATTEMPTS):
            busy, _log, _done = self._retry_driver(
                lambda: driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            )
            if not busy:
                return
            time.sleep(delay * (0.5 + _jitter.random()))
            delay = min(2 * delay, RETRY_MAX_DELAY_S)
        # The rows are deleted, but their (encrypted) pages may still lie in the WAL.
        raise BoardError(
            f"the journeys were deleted, but another process kept reading {self.target}, so its "
            "WAL could not be emptied; run purge again when the board is quiet"
        )

    def _compact_pg(self) -> None:
        if self._closed:
            raise BoardError("the board is closed: open it again")
        with self._engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in (t.events.name, t.journeys.name):
                conn.exec_driver_sql(f"VACUUM FULL {table}")

    # ------------------------------------------------------------------ users

    def _user_ix(self, name: str) -> bytes:
        return self._keys.blind_index("user", name)

    def add_user(self, name: str, record: dict[str, Any]) -> None:
        """Store a new user's record (role, password hash, TOTP secret...).

        Raises
        ------
        ConflictError
            If a user with this name exists.
        """
        ix = self._user_ix(name)
        row = ix.hex()
        values = {
            "name_ix": ix,
            "name_ct": self._enc(name, t.users.name, "name", row),
            "record_ct": self._enc(record, t.users.name, "record", row),
        }
        try:
            self._write(lambda conn: conn.execute(insert(t.users).values(**values)))
        except IntegrityError as exc:
            raise ConflictError(
                f"a user named {name!r} exists on the board: choose another name"
            ) from exc

    def user(self, name: str) -> dict[str, Any] | None:
        """The user's record, or None if there is no user ``name``."""
        return self._record(t.users, t.users.c.name_ix, self._user_ix(name))

    def set_user(self, name: str, record: dict[str, Any]) -> None:
        """Replace a user's record.

        Raises
        ------
        NotFoundError
            If there is no user ``name``.
        """
        ix = self._user_ix(name)
        blob = self._enc(record, t.users.name, "record", ix.hex())
        done = self._write(
            lambda conn: (
                conn.execute(
                    update(t.users).where(t.users.c.name_ix == ix).values(record_ct=blob)
                ).rowcount
            )
        )
        if not done:
            raise NotFoundError(f"no user named {name!r} on this board: check the name")

    def drop_user(self, name: str) -> None:
        """Delete the user ``name``'s record (password hash, TOTP secret and all).

        Raises
        ------
        NotFoundError
            If there is no user ``name``.
        """
        ix = self._user_ix(name)
        done = self._write(
            lambda conn: conn.execute(delete(t.users).where(t.users.c.name_ix == ix)).rowcount
        )
        if not done:
            raise NotFoundError(f"no user named {name!r} on this board: check the name")

    def users(self) -> list[tuple[str, dict[str, Any]]]:
        """Every user as (name, record), sorted by name."""
        rows = self._read(lambda conn: list(conn.execute(select(t.users)).all()))
        out = []
        for row in rows:
            key = bytes(row.name_ix).hex()
            out.append(
                (
                    str(self._dec(row.name_ct, t.users.name, "name", key)),
                    self._dec(row.record_ct, t.users.name, "record", key),
                )
            )
        return sorted(out, key=lambda pair: pair[0])

    # ------------------------------------------------------------------ sessions

    def _session_ix(self, token: str) -> bytes:
        return self._keys.blind_index("session", token)

    def add_session(self, token: str, record: dict[str, Any]) -> None:
        """Store a session under ``token``; only the token's HMAC is kept.

        ``record["expires"]`` is an ISO 8601 time (timezone-aware; naive means UTC), read by
        :meth:`drop_expired_sessions`.
        """
        ix = self._session_ix(token)
        blob = self._enc(record, t.sessions.name, "record", ix.hex())
        try:
            self._write(
                lambda conn: conn.execute(insert(t.sessions).values(token_ix=ix, record_ct=blob))
            )
        except IntegrityError as exc:
            raise ConflictError("a session with this token exists: draw a new token") from exc

    def set_session(self, token: str, record: dict[str, Any]) -> bool:
        """Replace a session's record in one step (e.g. a later ``expires``).

        Returns False, changing nothing, if there is no session with ``token`` (logged out).
        """
        ix = self._session_ix(token)
        blob = self._enc(record, t.sessions.name, "record", ix.hex())
        changed = self._write(
            lambda conn: (
                conn.execute(
                    update(t.sessions).where(t.sessions.c.token_ix == ix).values(record_ct=blob)
                ).rowcount
            )
        )
        return bool(changed)

    def session(self, token: str) -> dict[str, Any] | None:
        """The session's record, or None if there is no session with ``token``."""
        return self._record(t.sessions, t.sessions.c.token_ix, self._session_ix(token))

    def _record(self, table: Any, index: Any, ix: bytes) -> dict[str, Any] | None:
        """The sealed ``record_ct`` of the row of ``table`` whose ``index`` column is ``ix``."""
        blob = self._read(
            lambda conn: conn.execute(
                select(table.c.record_ct).where(index == ix)
            ).scalar_one_or_none()
        )
        if blob is None:
            return None
        record: dict[str, Any] = self._dec(blob, table.name, "record", ix.hex())
        return record

    def drop_session(self, token: str) -> None:
        """Forget the session with ``token`` (nothing happens if there is none)."""
        ix = self._session_ix(token)
        self._write(
            lambda conn: conn.execute(delete(t.sessions).where(t.sessions.c.token_ix == ix))
        )

    def drop_expired_sessions(self, now: datetime) -> int:
        """Forget the sessions whose ``expires`` is at or before ``now``; returns how many.

        A record without a readable ``expires`` is dropped too: a session that cannot be shown
        to be current is not one.
        """
        if now.tzinfo is None:
            raise BoardError("drop_expired_sessions needs a timezone-aware time (UTC)")

        def work(conn: Connection) -> int:
            stale = []
            for row in conn.execute(select(t.sessions)).all():
                record = self._dec(row.record_ct, t.sessions.name, "record", row.token_ix.hex())
                if _expired(record, now):
                    stale.append(row.token_ix)
            if stale:
                conn.execute(delete(t.sessions).where(t.sessions.c.token_ix.in_(stale)))
            return len(stale)

        return self._write(work)

    def drop_sessions_of(self, user: str) -> int:
        """Forget every session whose ``record["user"]`` is ``user``; returns how many.

        Only the tokens' HMACs are plaintext, so every record is decrypted to find the user's:
        a board has a few dozen sessions at most. One transaction, so a session that is being
        added at the same time is either seen here or added after (and then current).
        """

        def work(conn: Connection) -> int:
            theirs = []
            for row in conn.execute(select(t.sessions)).all():
                record = self._dec(row.record_ct, t.sessions.name, "record", row.token_ix.hex())
                if record.get("user") == user:
                    theirs.append(row.token_ix)
            if theirs:
                conn.execute(delete(t.sessions).where(t.sessions.c.token_ix.in_(theirs)))
            return len(theirs)

        return self._write(work)

    # ------------------------------------------------------------------ audit

    def audit(
        self, actor: str, action: str, code: str | None = None, detail: str | None = None
    ) -> int:
        """Append an audit row (now, UTC) chained to the previous one; returns its seq.

        The row is committed (and, on SQLite, on disk) when this returns. Concurrent callers, in
        threads or processes, are serialised on the head record.

        Raises
        ------
        AuditError
            If the head record is missing or was changed (appending would hide the change).
        """
        return self._append_audit(actor, action, [code], [detail])[0]

    def audit_many(
        self,
        actor: str,
        action: str,
        codes: Sequence[str | None],
        detail: str | None = None,
        *,
        details: Sequence[str | None] | None = None,
    ) -> list[int]:
        """Append one audit row per code, in order, in ONE transaction; returns their seqs.

        Each row is chained to the one before it exactly as :meth:`audit` chains (the same
        code), so :meth:`verify_audit` checks them like any others; only the head is locked and
        committed once for all of them (a list of 100 journeys: one commit, not 100). Every
        row gets ``detail``, or ``details[i]`` for the i-th code when ``details`` is given.
        No codes: nothing is written.

        Raises
        ------
        AuditError
            If the head record is missing or was changed (appending would hide the change).
        BoardError
            If both ``detail`` and ``details`` are given, or ``details`` has another length.
        """
        wanted = list(codes)
        if details is None:
            per_row = [detail] * len(wanted)
        else:
            per_row = list(details)
            if detail is not None:
                raise BoardError("give audit_many one detail for every row or details, not both")
            if len(per_row) != len(wanted):
                raise BoardError(
                    f"audit_many got {len(wanted)} codes and {len(per_row)} details; "
                    "give one detail per code"
                )
        if not wanted:
            return []
        return self._append_audit(actor, action, wanted, per_row)

    def _append_audit(
        self,
        actor: str,
        action: str,
        codes: Sequence[str | None],
        details: Sequence[str | None],
    ) -> list[int]:
        """Append rows (one per code) after the head, in one transaction: THE chaining rule."""
        indexes = [None if code is None else self._journey_ix(code).hex() for code in codes]

        def work(conn: Connection) -> list[int]:
            # The head's row lock (PostgreSQL) / the write lock (SQLite) serialises appenders:
            # each batch continues from the seq and hash the previous one committed.
            head: Any = conn.execute(
                select(t.audit_head).where(t.audit_head.c.id == _HEAD_ID).with_for_update()
            ).first()
            self._check_head(head)
            seq = int(head.seq)
            prev = bytes(head.last_mac)
            rows: list[dict[str, Any]] = []
            for journey_ix, detail in zip(indexes, details, strict=True):
                seq += 1
                at = datetime.now(UTC).isoformat()
                mac = self._keys.audit_mac(
                    _row_mac_message(seq, at, actor, action, journey_ix, detail, prev)
                )
                body = {
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "journey": journey_ix,
                    "detail": detail,
                }
                blob = self._enc(body, t.audit.name, "body", str(seq))
                rows.append({"seq": seq, "body_ct": blob, "mac": mac})
                prev = mac
            conn.execute(insert(t.audit), rows)
            conn.execute(
                update(t.audit_head)
                .where(t.audit_head.c.id == _HEAD_ID)
                .values(
                    seq=seq, last_mac=prev, mac=self._keys.audit_mac(_head_mac_message(seq, prev))
                )
            )
            return list(range(int(head.seq) + 1, seq + 1))

        try:
            return self._write(work)
        except IntegrityError as exc:
            raise AuditError(
                "the audit log has a row past its head record: it was changed outside "
                "nkescape; run `nkescape board audit verify` and keep a copy of the database"
            ) from exc

    def _check_head(self, head: Any) -> None:
        if head is None:
            raise AuditError(
                "the audit head record is missing: the audit log was changed outside nkescape; "
                "keep a copy of the database and restore from a backup"
            )
        expected = self._keys.audit_mac(_head_mac_message(int(head.seq), bytes(head.last_mac)))
        if not secrets.compare_digest(bytes(head.mac), expected):
            raise AuditError(
                f"the audit head record (at row {head.seq}) was changed outside nkescape; "
                "keep a copy of the database and restore from a backup"
            )

    def _audit_body(self, seq: int, blob: bytes) -> dict[str, Any]:
        try:
            body: dict[str, Any] = self._dec(blob, t.audit.name, "body", str(seq))
        except BoardError as exc:
            raise AuditError(
                f"audit row {seq} was changed (it does not decrypt); "
                "keep a copy of the database and restore from a backup"
            ) from exc
        return body

    def audit_rows(self) -> list[AuditRow]:
        """Every audit row in order, decrypted; journeys named by code while still on the board."""

        def work(conn: Connection) -> tuple[list[Any], list[Any]]:
            rows = list(conn.execute(select(t.audit).order_by(t.audit.c.seq)).all())
            codes = list(conn.execute(select(t.journeys.c.id, t.journeys.c.code_ct)).all())
            return rows, codes

        rows, journeys = self._read(work)
        codes = {}
        for row in journeys:
            code = str(self._dec(row.code_ct, t.journeys.name, "code", row.id))
            codes[self._journey_ix(code).hex()] = code
        out = []
        for row in rows:
            body = self._audit_body(int(row.seq), row.body_ct)
            ix = body["journey"]
            label = None if ix is None else codes.get(ix, "#" + ix[:AUDIT_INDEX_PREFIX_HEX])
            out.append(
                AuditRow(
                    seq=int(row.seq),
                    at=datetime.fromisoformat(body["at"]),
                    actor=body["actor"],
                    action=body["action"],
                    journey=label,
                    detail=body["detail"],
                )
            )
        return out

    def verify_audit(self) -> int:
        """Check the whole audit chain and its head; returns the number of rows checked.

        Raises
        ------
        AuditError
            Naming the first bad row: changed (its hash or ciphertext does not match), missing
            (a gap, or rows deleted from the end), or not covered by the head record.
        """

        def work(conn: Connection) -> tuple[list[Any], Any]:
            rows = list(conn.execute(select(t.audit).order_by(t.audit.c.seq)).all())
            head = conn.execute(select(t.audit_head).where(t.audit_head.c.id == _HEAD_ID)).first()
            return rows, head

        rows, head = self._read(work)
        advice = "it was changed outside nkescape; keep a copy of the database for investigation"
        prev = _GENESIS_MAC
        expected = 1
        for row in rows:
            seq = int(row.seq)
            if seq > expected:
                raise AuditError(f"audit row {expected} is missing: {advice}")
            if seq < expected:
                raise AuditError(f"audit row {seq} is out of sequence: {advice}")
            body = self._audit_body(seq, row.body_ct)
            mac = self._keys.audit_mac(
                _row_mac_message(
                    seq,
                    body["at"],
                    body["actor"],
                    body["action"],
                    body["journey"],
                    body["detail"],
                    prev,
                )
            )
            if not secrets.compare_digest(bytes(row.mac), mac):
                raise AuditError(
                    f"audit row {seq} was changed (its hash breaks the chain): {advice}"
                )
            prev = mac
            expected += 1
        last = expected - 1
        self._check_head(head)
        if int(head.seq) > last:
            raise AuditError(
                f"audit row {last + 1} is missing (the log ends at {last}, its head says "
                f"{head.seq}): {advice}"
            )
        if int(head.seq) < last:
            raise AuditError(
                f"audit row {int(head.seq) + 1} is not covered by the head record: {advice}"
            )
        if not secrets.compare_digest(bytes(head.last_mac), prev):
            raise AuditError(f"audit row {last} does not match the head record: {advice}")
        return len(rows)

    # ------------------------------------------------------------------ export / integrity

    def export(self, path: Path, key: BoardKey) -> int:
        """Write an encrypted archive of the board to ``path``; returns the journeys written.

        The archive (see :func:`read_export`) holds every journey with its events, the users'
        names and roles (no password hashes or TOTP secrets), and the audit log. It is
        AES-256-GCM under a key derived from ``key`` with a fresh salt; plaintext never touches
        the disk.

        Raises
        ------
        ConflictError
            If a file exists at ``path`` (an archive is never overwritten).
        """
        path = Path(path)
        if path.exists():
            raise ConflictError(f"a file exists at {path}; choose a new name for the export")

        def work(conn: Connection) -> dict[str, list[Any]]:
            # One snapshot for every table, so the archive is consistent.
            self._one_snapshot(conn)
            return {
                "journeys": list(conn.execute(select(t.journeys)).all()),
                "events": list(
                    conn.execute(
                        select(t.events).order_by(t.events.c.journey_id, t.events.c.seq)
                    ).all()
                ),
                "users": list(conn.execute(select(t.users)).all()),
            }

        raw = self._read(work)
        events: dict[str, list[dict[str, Any]]] = {}
        for row in raw["events"]:
            events.setdefault(row.journey_id, []).append(
                self._event(row.journey_id, row.seq, row.event_ct)
            )
        journeys = []
        for row in raw["journeys"]:
            code, doc, partner = self._journey_row(row)
            journeys.append(
                {
                    "code": code,
                    "partner": partner,
                    "closed_on": None if row.closed_on is None else row.closed_on.isoformat(),
                    "doc": doc,
                    "events": events.get(row.id, []),
                }
            )
        journeys.sort(key=lambda j: str(j["code"]))
        users = [
            {"name": name, **{k: record[k] for k in EXPORT_USER_FIELDS if k in record}}
            for name, record in self.users()
        ]
        content = {
            "format": "nkescape-board-export",
            "version": EXPORT_VERSION,
            "exported_at": datetime.now(UTC).isoformat(),
            "journeys": journeys,
            "users": users,
            "audit": [row.to_json() for row in self.audit_rows()],
        }
        _write_export(path, key, _json_bytes(content))
        return len(journeys)

    def integrity_check(self) -> None:
        """Check the storage: SQLite's and SQLCipher's integrity checks, the key, the schema.

        Raises
        ------
        BoardError
            If a check fails.
        """

        def work(conn: Connection) -> list[str]:
            problems: list[str] = []
            if self.backend == "sqlite":
                result = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                if result != ["ok"]:
                    problems += result
                problems += [
                    str(r[0]) for r in conn.exec_driver_sql("PRAGMA cipher_integrity_check")
                ]
            stored = conn.execute(
                select(t.meta.c.value).where(t.meta.c.name == "check")
            ).scalar_one_or_none()
            if stored is None or not secrets.compare_digest(
                bytes(stored), self._keys.check_value()
            ):
                problems.append("the key-check value does not match")
            if _migrate.current_revision(conn) != _migrate.HEAD_REVISION:
                problems.append("the schema is not at the current revision")
            return problems

        problems = self._read(work)
        if problems:
            raise BoardError(
                f"the board at {self.target} failed its integrity check ({problems[0]}); "
                "restore the database from a backup (an export cannot be loaded back into a "
                "board: nkescape.board.read_export only reads it)"
            )


def _expired(record: dict[str, Any], now: datetime) -> bool:
    try:
        expires = datetime.fromisoformat(str(record["expires"]))
    except (KeyError, ValueError):
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires <= now


def _export_cipher(key: BoardKey, header: dict[str, Any]) -> AESGCM:
    salt = bytes.fromhex(str(header["salt"]))
    params = KdfParams.from_json(header["kdf"]) if key.kind == "passphrase" else None
    return AESGCM(derive_keyring(key, salt, params).export)


def _write_export(path: Path, key: BoardKey, plaintext: bytes) -> None:
    salt = secrets.token_bytes(SALT_BYTES)
    nonce = secrets.token_bytes(NONCE_BYTES)
    header: dict[str, Any] = {
        "version": EXPORT_VERSION,
        "cipher": "AES-256-GCM",
        "key": key.kind,
        "kdf": KdfParams().to_json() if key.kind == "passphrase" else None,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
    }
    header_bytes = _json_bytes(header)
    prefix = EXPORT_MAGIC + _EXPORT_HEADER_LEN.pack(len(header_bytes)) + header_bytes
    # The header is associated data: changing the parameters or the salt fails decryption.
    ciphertext = _export_cipher(key, header).encrypt(nonce, plaintext, prefix)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_MODE)
    except FileExistsError as exc:
        raise ConflictError(f"a file exists at {path}; choose a new name for the export") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(prefix + ciphertext)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def read_export(path: Path, key: BoardKey) -> dict[str, Any]:
    """Decrypt an archive written by :meth:`Vault.export`.

    Returns
    -------
    dict
        ``{"format", "version", "exported_at", "journeys": [{"code", "partner", "closed_on",
        "doc", "events"}], "users": [{"name", "role"}], "audit": [AuditRow.to_json()...]}``.

    Raises
    ------
    WrongKeyError
        If ``key`` is not the archive's (or the archive was changed).
    BoardError
        If the file is not an nkescape board export.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BoardError(f"cannot read the export {path}: {type(exc).__name__}") from exc
    not_export = BoardError(f"{path} is not an nkescape board export (or it is truncated)")
    if not data.startswith(EXPORT_MAGIC):
        raise not_export
    start = len(EXPORT_MAGIC) + _EXPORT_HEADER_LEN.size
    if len(data) < start:
        raise not_export
    (length,) = _EXPORT_HEADER_LEN.unpack_from(data, len(EXPORT_MAGIC))
    try:
        header = json.loads(data[start : start + length])
        nonce = bytes.fromhex(str(header["nonce"]))
        made_with = str(header["key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise not_export from exc
    if made_with != key.kind:
        words = {"passphrase": "a passphrase", "keyfile": "a key file"}
        raise WrongKeyError(
            f"the export {path} was made with {words.get(made_with, made_with)}, not "
            f"{words[key.kind]}; give the one it was made with"
        )
    try:
        cipher = _export_cipher(key, header)
    except (ValueError, KeyError, TypeError) as exc:
        raise not_export from exc
    try:
        plaintext = cipher.decrypt(nonce, data[start + length :], data[: start + length])
    except InvalidTag:
        raise WrongKeyError(
            f"wrong passphrase or key file for the export {path} (or the file was changed)"
        ) from None
    content: dict[str, Any] = json.loads(plaintext)
    return content
