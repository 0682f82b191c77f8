"""Shared fixtures and helpers for the coordination board's tests (both storage backends).

Use in a test module::

    from . import boardkit

    board_target = boardkit.board_target
    board_key = boardkit.board_key

``board_target`` runs a test once on an SQLCipher file and once on PostgreSQL (a schema of its
own, dropped afterwards); it yields ``(target, schema)`` for :meth:`Vault.create`. Without a
reachable PostgreSQL the PostgreSQL runs skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from nkescape.board.crypto import SALT_BYTES, BoardKey, derive_keyring, new_key_file
from nkescape.board.vault import Vault

# The server the project's machines run (.ci/run starts it): trust auth, database `test`.
PG_URL = os.environ.get("NKESCAPE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# psycopg's own form of the same address (no SQLAlchemy driver name).
PG_DSN = PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)
# How long to wait for the server before deciding it is not there.
PG_PROBE_TIMEOUT_S = 3
BACKENDS = ("sqlite", "postgres")
# SQLCipher 4's page layout: 4096-byte pages whose last 80 bytes are the reserve (a 16-byte IV,
# then a 64-byte HMAC-SHA512); page 1 starts with the 16-byte salt, in the clear.
SQLCIPHER_PAGE = 4096
SQLCIPHER_RESERVE = 80
SQLCIPHER_IV = 16
# SQLite's WAL: a 32-byte file header, then frames of a 24-byte header and one page.
WAL_HEADER = 32
WAL_FRAME_HEADER = 24

_pg_state: dict[str, str | None] = {}


def in_ci() -> bool:
    """Whether the tests run under CI (where nothing may skip for want of a service)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_postgres() -> None:
    """Skip (fail under CI) when the test PostgreSQL server cannot be reached."""
    if "error" not in _pg_state:
        try:
            with psycopg.connect(PG_DSN, connect_timeout=PG_PROBE_TIMEOUT_S) as conn:
                conn.execute("SELECT 1")
            _pg_state["error"] = None
        except psycopg.Error as exc:
            _pg_state["error"] = str(exc).strip().splitlines()[0]
    error = _pg_state["error"]
    if error is not None:
        reason = f"PostgreSQL at {PG_DSN} is not reachable ({error})"
        if in_ci():
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests (CI={os.environ['CI']})")
        pytest.skip(reason)


def pg_connect() -> psycopg.Connection[tuple[object, ...]]:
    """A raw autocommit psycopg connection to the test database (to look behind the vault)."""
    return psycopg.connect(PG_DSN, autocommit=True)


def drop_schema(schema: str) -> None:
    """Drop a test's PostgreSQL schema and everything in it."""
    with pg_connect() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def unique_schema() -> str:
    """A schema name no other test (or xdist worker) uses."""
    return f"t_board_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=BACKENDS)
def board_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str | None]]:
    """``(target, schema)`` for a new board: an SQLCipher file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "board.db"), None
        return
    require_postgres()
    schema = unique_schema()
    try:
        yield PG_URL, schema
    finally:
        drop_schema(schema)


@pytest.fixture
def board_key(tmp_path: Path) -> BoardKey:
    """A key file's key (no Argon2: fast), its file at ``tmp_path / "board.key"``."""
    path = tmp_path / "board.key"
    new_key_file(path)
    return BoardKey.from_key_file(path)


@pytest.fixture
def board_vault(board_target: tuple[str, str | None], board_key: BoardKey) -> Iterator[Vault]:
    """A new, empty board on each backend, closed afterwards."""
    target, schema = board_target
    vault = Vault.create(target, board_key, schema=schema)
    try:
        yield vault
    finally:
        vault.close()


def _decrypt_page(page: bytes, pgno: int, key: bytes) -> bytes:
    start = SALT_BYTES if pgno == 1 else 0
    end = SQLCIPHER_PAGE - SQLCIPHER_RESERVE
    iv = page[end : end + SQLCIPHER_IV]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(page[start:end]) + decryptor.finalize()


def sqlcipher_plaintext(path: Path, key: BoardKey) -> bytes:
    """Every page of a board file and of its WAL, decrypted with the board's page key.

    This is what SQLite itself sees, free pages and the free space inside pages included:
    searching it shows whether deleted content is really gone (not only unreadable).
    """
    data = path.read_bytes()
    salt = data[:SALT_BYTES]
    page_key = derive_keyring(key, salt).database
    out = [
        _decrypt_page(data[i : i + SQLCIPHER_PAGE], i // SQLCIPHER_PAGE + 1, page_key)
        for i in range(0, len(data) - SQLCIPHER_PAGE + 1, SQLCIPHER_PAGE)
    ]
    wal = Path(f"{path}-wal")
    if wal.exists():
        frames = wal.read_bytes()
        step = WAL_FRAME_HEADER + SQLCIPHER_PAGE
        for i in range(WAL_HEADER, len(frames) - step + 1, step):
            pgno = int.from_bytes(frames[i : i + 4], "big")
            page = frames[i + WAL_FRAME_HEADER : i + step]
            out.append(_decrypt_page(page, pgno, page_key))
    return b"".join(out)


def board_files_bytes(path: Path) -> bytes:
    """The raw bytes of a board file and of its -wal and -shm, as a thief would copy them."""
    parts = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def pg_relation_files(schema: str) -> list[Path]:
    """The data files of every table, index and TOAST relation of a board's schema.

    Needs the test to run on the database's machine with read access to its data directory
    (root, or the postgres user); skips otherwise, except under CI.
    """
    with pg_connect() as conn:
        conn.execute("CHECKPOINT")  # flush shared buffers, so the files hold what the rows hold
        row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        data_dir = Path(str(row[0]))
        rels = conn.execute(
            """
            WITH own AS (
                SELECT c.oid, c.reltoastrelid FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s
            ), toast AS (
                SELECT reltoastrelid AS oid FROM own WHERE reltoastrelid <> 0
            )
            SELECT pg_relation_filepath(oid) FROM own
            UNION SELECT pg_relation_filepath(oid) FROM toast
            UNION SELECT pg_relation_filepath(i.indexrelid)
                FROM pg_index i JOIN toast ON i.indrelid = toast.oid
            """,
            (schema,),
        ).fetchall()
    paths = [data_dir / str(r[0]) for r in rels if r[0] is not None]
    if not os.access(data_dir, os.R_OK | os.X_OK):
        reason = f"cannot read PostgreSQL's data directory {data_dir} (not on this machine?)"
        if in_ci():
            pytest.fail(f"{reason}; CI must run this check")
        pytest.skip(reason)
    return paths


def pg_files_bytes(schema: str) -> bytes:
    """The bytes of every data file (all segments) of a board's schema, after a CHECKPOINT."""
    out = []
    for path in pg_relation_files(schema):
        # The main fork and its 1 GiB segments (NAME.1, ...); the _fsm and _vm forks hold no tuples.
        for segment in sorted(path.parent.glob(path.name + "*")):
            if segment.name == path.name or segment.name.startswith(path.name + "."):
                out.append(segment.read_bytes())
    return b"".join(out)


class RawDB:
    """A connection behind the vault's back, to read or tamper with rows by plain SQL.

    SQL is written with ``?`` placeholders and unqualified table names; on PostgreSQL the
    placeholders become ``%s`` and the board's schema is on the search path.
    """

    def __init__(self, target: str, schema: str | None, key: BoardKey) -> None:
        self.postgres = schema is not None
        if self.postgres:
            self._pg = psycopg.connect(PG_DSN, autocommit=True, options=f"-c search_path={schema}")
        else:
            import sqlcipher3.dbapi2 as sqlcipher  # type: ignore[import-untyped]

            path = Path(target)
            salt = path.read_bytes()[:SALT_BYTES]
            raw = derive_keyring(key, salt).database.hex() + salt.hex()
            self._lite = sqlcipher.connect(str(path), isolation_level=None)
            self._lite.execute(f"PRAGMA key = \"x'{raw}'\"")

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement; returns its rows (empty for a statement without result)."""
        if self.postgres:
            cur = self._pg.execute(sql.replace("?", "%s"), params)
            return list(cur.fetchall()) if cur.description else []
        cur = self._lite.execute(sql, params)
        return [tuple(r) for r in cur.fetchall()]

    def close(self) -> None:
        """Close the connection."""
        if self.postgres:
            self._pg.close()
        else:
            self._lite.close()

    def __enter__(self) -> RawDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
