"""The board's storage on both backends: round trips, keys, the audit chain, bytes at rest, purge.

Every test that takes ``board_target`` runs on an SQLCipher file and on PostgreSQL. The checks on
bytes at rest search what a thief would copy (the file, its WAL, the export, PostgreSQL's rows and
data files) and, for SQLite, what SQLCipher decrypts (every page, free space included).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, inspect

from nkescape.board import _migrate
from nkescape.board import _tables as tables
from nkescape.board.crypto import (
    MIN_PASSPHRASE_CHARS,
    SALT_BYTES,
    BoardKey,
    FieldCipher,
    derive_keyring,
    new_key_file,
)
from nkescape.board.errors import (
    AuditError,
    BoardError,
    ConflictError,
    NotFoundError,
    WrongKeyError,
)
from nkescape.board.vault import (
    AUDIT_INDEX_PREFIX_HEX,
    EXPORT_MAGIC,
    AuditRow,
    Vault,
    is_postgres,
    read_export,
)

from . import boardkit

board_target = boardkit.board_target
board_key = boardkit.board_key
board_vault = boardkit.board_vault

PASSPHRASE = "correct horse battery staple"


def new_code() -> str:
    """A fresh, distinctive journey code (the domain's format; its value is what matters)."""
    raw = secrets.token_hex(8).upper()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def distinct(word: str) -> str:
    """A plaintext that cannot occur by chance in any file, to search the bytes for."""
    return f"{word}-{secrets.token_hex(6)}"


# What statements() records for a commit (SQLAlchemy commits through the driver, not by SQL).
COMMIT = "<commit>"


@contextmanager
def statements(vault: Vault) -> Iterator[list[str]]:
    """The SQL the vault sends while the block runs, and COMMIT for each commit."""
    seen: list[str] = []

    def record(conn: object, cursor: object, sql: str, *args: object) -> None:
        seen.append(sql)

    def committed(conn: object) -> None:
        seen.append(COMMIT)

    event.listen(vault._engine, "before_cursor_execute", record)
    event.listen(vault._engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(vault._engine, "before_cursor_execute", record)
        event.remove(vault._engine, "commit", committed)


# ---------------------------------------------------------------------------------- keys


def test_passphrase_shorter_than_minimum_is_refused() -> None:
    with pytest.raises(BoardError, match=f"at least {MIN_PASSPHRASE_CHARS}"):
        BoardKey.from_passphrase("x" * (MIN_PASSPHRASE_CHARS - 1))
    assert BoardKey.from_passphrase("x" * MIN_PASSPHRASE_CHARS).kind == "passphrase"


def test_key_file_is_owner_only_never_overwritten_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "k"
    new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = BoardKey.from_key_file(path)
    assert key.kind == "keyfile" and len(key.secret) == 32
    before = path.read_bytes()
    with pytest.raises(ConflictError, match="never overwritten"):
        new_key_file(path)
    assert path.read_bytes() == before
    bad = tmp_path / "bad"
    bad.write_text("zz" * 32)
    with pytest.raises(BoardError, match="64 hex characters"):
        BoardKey.from_key_file(bad)
    with pytest.raises(BoardError, match="cannot read the key file"):
        BoardKey.from_key_file(tmp_path / "missing")


def test_the_board_file_its_wal_and_the_key_file_are_owner_only(
    tmp_path: Path, board_key: BoardKey
) -> None:
    # Under a umask that takes nothing away: the mode is the board's own, not the user's luck.
    before = os.umask(0)
    try:
        key_path = tmp_path / "fresh.key"
        new_key_file(key_path)
        path = tmp_path / "board.db"
        with Vault.create(path, board_key) as vault:
            vault.add_user("someone", {"role": "partner"})
            vault.add_session(secrets.token_urlsafe(32), {"user": "someone"})
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), key_path]
            assert all(f.exists() for f in files)  # the WAL and its index are checked too
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        os.umask(before)
    assert modes == dict.fromkeys(modes, 0o600)


def test_keys_are_never_printed(board_key: BoardKey) -> None:
    secret = board_key.secret.hex()
    assert secret not in repr(board_key) and secret not in str(board_key)
    keyring = derive_keyring(board_key, bytes(SALT_BYTES))
    assert keyring.fields.hex() not in repr(keyring)


def test_subkeys_are_independent_and_depend_on_the_salt(board_key: BoardKey) -> None:
    one = derive_keyring(board_key, bytes(SALT_BYTES))
    other = derive_keyring(board_key, b"\x01" * SALT_BYTES)
    subkeys = [one.database, one.fields, one.index, one.audit, one.check, one.export]
    assert len(set(subkeys)) == len(subkeys)
    assert one.fields != other.fields
    assert one.blind_index("journey", "A") == one.blind_index("journey", "A")
    assert one.blind_index("journey", "A") != one.blind_index("partner", "A")


def test_a_field_ciphertext_is_bound_to_its_cell() -> None:
    cipher = FieldCipher(secrets.token_bytes(32))
    blob = cipher.encrypt({"note": "x"}, table="board_journeys", column="doc", row="r1")
    assert cipher.decrypt(blob, table="board_journeys", column="doc", row="r1") == {"note": "x"}
    for cell in (("board_journeys", "doc", "r2"), ("board_journeys", "code", "r1")):
        with pytest.raises(BoardError, match="does not decrypt"):
            cipher.decrypt(blob, table=cell[0], column=cell[1], row=cell[2])
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(BoardError, match="does not decrypt"):
        cipher.decrypt(bytes(tampered), table="board_journeys", column="doc", row="r1")
    # Lengths are padded: a short and a slightly longer note give the same length.
    a = cipher.encrypt("a", table="t", column="c", row="r")
    b = cipher.encrypt("a" * 20, table="t", column="c", row="r")
    assert len(a) == len(b)


# ---------------------------------------------------------------------------------- journeys


def test_journeys_and_events_round_trip(board_vault: Vault) -> None:
    vault = board_vault
    one, two = new_code(), new_code()
    vault.add_journey(one, {"group": {"women": 2}, "legs": [1, 2]}, partner="partner-a")
    vault.add_journey(two, {"group": {"men": 1}}, partner=None)
    assert vault.journey(one) == ({"group": {"women": 2}, "legs": [1, 2]}, "partner-a")
    assert vault.journey(new_code()) is None
    assert [c for c, _, _ in vault.journeys()] == sorted([one, two])
    assert vault.journeys(partner="partner-a") == [(one, vault.journey(one)[0], "partner-a")]  # type: ignore[index]
    assert vault.journeys(partner="partner-b") == []
    with pytest.raises(ConflictError, match="exists"):
        vault.add_journey(one, {}, partner=None)

    assert [vault.add_event(one, {"leg": i, "status": "ok"}) for i in range(1, 4)] == [1, 2, 3]
    assert vault.add_event(two, {"leg": 1}) == 1
    assert vault.events(one) == [{"leg": i, "status": "ok"} for i in range(1, 4)]
    assert vault.events(two) == [{"leg": 1}]

    vault.set_journey(one, {"status": "closed"}, partner="partner-b", closed_on=date(2025, 1, 2))
    assert vault.journey(one) == ({"status": "closed"}, "partner-b")
    assert [c for c, _, _ in vault.journeys(partner="partner-b")] == [one]
    assert vault.journeys(partner="partner-a") == []

    missing = new_code()
    for call in (
        lambda: vault.set_journey(missing, {}, partner=None, closed_on=None),
        lambda: vault.add_event(missing, {}),
        lambda: vault.events(missing),
    ):
        with pytest.raises(NotFoundError, match="no such journey") as info:
            call()
        assert missing not in str(info.value)


def test_journeys_with_their_events_in_two_queries(board_vault: Vault) -> None:
    vault = board_vault
    codes = sorted(new_code() for _ in range(4))
    for i, code in enumerate(codes):
        vault.add_journey(code, {"n": i}, partner="partner-a" if i % 2 else None)
        for leg in range(i):  # journey i has i events (the first none)
            vault.add_event(code, {"leg": leg + 1, "of": code})
    with statements(vault) as seen:
        stored = vault.journeys_with_events()
    assert [(s.code, s.doc, s.partner) for s in stored] == vault.journeys()
    assert [s.events for s in stored] == [vault.events(c) for c in codes]
    assert [len(s.events) for s in stored] == [0, 1, 2, 3]
    # The journeys, then every event: no query per journey.
    assert len([sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]) == 2
    theirs = vault.journeys_with_events(partner="partner-a")
    assert [(s.code, len(s.events)) for s in theirs] == [(codes[1], 1), (codes[3], 3)]
    assert vault.journeys_with_events(partner="partner-b") == []

    one = vault.journey_with_events(codes[2])
    assert one is not None
    assert (one.code, one.doc, one.partner, one.events) == (
        codes[2],
        {"n": 2},
        None,
        vault.events(codes[2]),
    )
    assert vault.journey_with_events(new_code()) is None


def test_users_and_sessions_round_trip(board_vault: Vault) -> None:
    vault = board_vault
    vault.add_user("bea", {"role": "coordinator", "password_hash": "$argon2id$h", "totp": None})
    vault.add_user("al", {"role": "auditor", "password_hash": "$argon2id$g", "totp": "S3CR"})
    assert vault.user("bea") == {
        "role": "coordinator",
        "password_hash": "$argon2id$h",
        "totp": None,
    }
    assert vault.user("nobody") is None
    assert [name for name, _ in vault.users()] == ["al", "bea"]
    with pytest.raises(ConflictError, match="exists"):
        vault.add_user("bea", {"role": "partner"})
    vault.set_user("bea", {"role": "partner"})
    assert vault.user("bea") == {"role": "partner"}
    with pytest.raises(NotFoundError):
        vault.set_user("nobody", {})

    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    live, stale = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    vault.add_session(live, {"user": "bea", "expires": (now + timedelta(hours=1)).isoformat()})
    vault.add_session(stale, {"user": "al", "expires": (now - timedelta(seconds=1)).isoformat()})
    assert vault.session(live) == {"user": "bea", "expires": (now + timedelta(hours=1)).isoformat()}
    assert vault.drop_expired_sessions(now) == 1
    assert vault.session(stale) is None and vault.session(live) is not None
    with pytest.raises(ConflictError):
        vault.add_session(live, {"user": "bea", "expires": now.isoformat()})
    later = {"user": "bea", "expires": (now + timedelta(hours=2)).isoformat()}
    assert vault.set_session(live, later) is True
    assert vault.session(live) == later
    vault.drop_session(live)
    assert vault.session(live) is None
    assert vault.set_session(live, later) is False and vault.session(live) is None
    vault.drop_session(live)  # dropping twice is harmless
    with pytest.raises(BoardError, match="timezone-aware"):
        vault.drop_expired_sessions(datetime(2025, 6, 1))  # naive: the point of the test


def test_a_users_sessions_and_record_can_be_dropped(board_vault: Vault) -> None:
    vault = board_vault
    vault.add_user("bea", {"role": "partner", "password_hash": "$argon2id$h", "totp": None})
    vault.add_user("al", {"role": "auditor", "password_hash": "$argon2id$g", "totp": None})
    expires = datetime(2099, 1, 1, tzinfo=UTC).isoformat()
    beas = [secrets.token_urlsafe(32) for _ in range(3)]
    als = secrets.token_urlsafe(32)
    for token in beas:
        vault.add_session(token, {"user": "bea", "expires": expires})
    vault.add_session(als, {"user": "al", "expires": expires})
    assert vault.drop_sessions_of("bea") == 3
    assert all(vault.session(token) is None for token in beas)
    assert vault.session(als) == {"user": "al", "expires": expires}
    assert vault.drop_sessions_of("bea") == 0
    assert vault.drop_sessions_of("nobody") == 0
    vault.drop_user("bea")
    assert vault.user("bea") is None and [n for n, _ in vault.users()] == ["al"]
    with pytest.raises(NotFoundError, match="no user named 'bea'"):
        vault.drop_user("bea")
    # The name is free again.
    vault.add_user("bea", {"role": "auditor"})
    assert vault.user("bea") == {"role": "auditor"}


def test_an_integrity_failure_promises_no_import(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    with Vault.create(target, board_key, schema=schema) as vault:
        with boardkit.RawDB(target, schema, board_key) as raw:
            raw.execute(f"UPDATE {_migrate.VERSION_TABLE} SET version_num = ?", ("0000",))
        with pytest.raises(BoardError, match="current revision") as failed:
            vault.integrity_check()
    message = str(failed.value)
    assert "restore the database from a backup" in message
    assert "cannot be loaded back" in message and "read_export" in message


# ---------------------------------------------------------------------------------- open / keys


def _board_state(target: str, schema: str | None, key: BoardKey) -> object:
    """Everything stored: the files' bytes (SQLite) or every row of every table (PostgreSQL)."""
    if schema is None:
        folder = Path(target).parent
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    with boardkit.RawDB(target, schema, key) as db:
        return {
            table.name: sorted(map(repr, db.execute(f"SELECT * FROM {table.name}")))
            for table in tables.metadata.sorted_tables
        }


def test_a_wrong_key_opens_nothing_and_changes_nothing(
    board_target: tuple[str, str | None], board_key: BoardKey, tmp_path: Path
) -> None:
    target, schema = board_target
    with Vault.create(target, board_key, schema=schema) as vault:
        vault.add_journey(new_code(), {"a": 1}, partner=None)
        vault.audit("me", "journey.new")
    before = _board_state(target, schema, board_key)
    other = tmp_path.parent / f"{tmp_path.name}-other.key"
    new_key_file(other)
    for wrong in (BoardKey.from_key_file(other), BoardKey.from_passphrase("not the passphrase")):
        with pytest.raises(WrongKeyError) as info:
            Vault.open(target, wrong, schema=schema)
        message = str(info.value)
        assert message.startswith("wrong passphrase or key file for the board at ")
        assert message.endswith("; nothing was changed") and "\n" not in message
    assert _board_state(target, schema, board_key) == before
    with Vault.open(target, board_key, schema=schema) as vault:
        assert len(vault.journeys()) == 1
        assert vault.verify_audit() == 1


def test_a_passphrase_board_opens_with_its_passphrase_only(
    board_target: tuple[str, str | None],
) -> None:
    target, schema = board_target
    key = BoardKey.from_passphrase(PASSPHRASE)
    code = new_code()
    with Vault.create(target, key, schema=schema) as vault:
        vault.add_journey(code, {"a": 1}, partner=None)
    with Vault.open(target, BoardKey.from_passphrase(PASSPHRASE), schema=schema) as vault:
        assert vault.journey(code) == ({"a": 1}, None)
    with pytest.raises(WrongKeyError):
        Vault.open(target, BoardKey.from_passphrase(PASSPHRASE + "!"), schema=schema)


def test_no_board_there_says_how_to_make_one(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    with pytest.raises(BoardError, match=r"no board at .*: create one with `nkescape board init"):
        Vault.open(target, board_key, schema=schema)


def test_create_refuses_where_a_board_exists(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    Vault.create(target, board_key, schema=schema).close()
    before = _board_state(target, schema, board_key)
    with pytest.raises(ConflictError, match="nothing was changed"):
        Vault.create(target, board_key, schema=schema)
    assert _board_state(target, schema, board_key) == before


def test_a_plain_file_is_not_a_board(tmp_path: Path, board_key: BoardKey) -> None:
    plain = tmp_path / "plain.db"
    engine = create_engine(f"sqlite:///{plain}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE x (y)")
    engine.dispose()
    with pytest.raises(BoardError, match="not an nkescape board"):
        Vault.open(plain, board_key)


def test_an_address_that_is_neither_a_path_nor_postgres_is_refused(
    tmp_path: Path, board_key: BoardKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BoardError, match=r"mysql:// is not a board address"):
        Vault.create("mysql://root@localhost/db", board_key)
    assert [p.name for p in tmp_path.iterdir()] == ["board.key"]  # no file named "mysql:"
    with pytest.raises(BoardError, match="does not exist: create it first"):
        Vault.create(tmp_path / "missing" / "b.db", board_key)


def test_the_target_never_shows_a_password(board_key: BoardKey) -> None:
    boardkit.require_postgres()
    schema = boardkit.unique_schema()
    # Trust authentication ignores the password, so any will do to see it is hidden.
    url = boardkit.PG_URL.replace("postgres@", "postgres:hunter2-secret@", 1)
    assert is_postgres(url) and "hunter2" in url
    try:
        with Vault.create(url, board_key, schema=schema) as vault:
            assert "hunter2" not in vault.target and "hunter2" not in repr(vault)
        with pytest.raises(WrongKeyError) as info:
            Vault.open(url, BoardKey.from_passphrase(PASSPHRASE), schema=schema)
        assert "hunter2" not in str(info.value)
    finally:
        boardkit.drop_schema(schema)


def test_an_unreachable_server_is_one_clear_line(board_key: BoardKey) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    with pytest.raises(BoardError, match="cannot open the database at") as info:
        Vault.open("postgresql://postgres@127.0.0.1:1/test", board_key, schema="t_nowhere")
    assert "\n" not in str(info.value)


def test_a_schema_name_is_checked(board_key: BoardKey) -> None:
    with pytest.raises(BoardError, match="not a usable PostgreSQL schema name"):
        Vault.create(boardkit.PG_URL, board_key, schema='x"; DROP TABLE y; --')


def test_sqlite_connections_are_durable_wal_and_secure_delete(
    tmp_path: Path, board_key: BoardKey
) -> None:
    with Vault.create(tmp_path / "b.db", board_key) as vault, vault._engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "secure_delete",
                "foreign_keys",
                "temp_store",
            )
        }
        version = conn.exec_driver_sql("PRAGMA cipher_version").scalar()
    # WAL; synchronous=FULL (2): a commit is fsynced before it is acknowledged; temp_store=MEMORY.
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "secure_delete": 1,
        "foreign_keys": 1,
        "temp_store": 2,
    }
    assert str(version).startswith("4.")  # SQLCipher 4, not Debian's 3.x


def test_a_closed_vault_refuses_work(board_vault: Vault) -> None:
    board_vault.close()
    with pytest.raises(BoardError, match="closed"):
        board_vault.journeys()


def test_the_schema_is_the_migrations_head(board_vault: Vault) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_migrate.MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == _migrate.HEAD_REVISION
    with board_vault._engine.connect() as conn:
        assert _migrate.current_revision(conn) == _migrate.HEAD_REVISION
        found = inspect(conn)
        for table in tables.metadata.sorted_tables:
            columns = {c["name"] for c in found.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    board_vault.integrity_check()


def test_the_migrations_ship_in_the_package() -> None:
    folder = _migrate.MIGRATIONS_DIR
    assert (folder / "env.py").is_file() and (folder / "script.py.mako").is_file()
    assert any(folder.glob("versions/v*.py"))
    # The wheel takes every file under src/nkescape (pyproject's packages), these included.
    assert "src/nkescape" in Path(__file__).parents[1].joinpath("pyproject.toml").read_text()


# ---------------------------------------------------------------------------------- audit


def test_the_audit_chain_verifies_and_reads_back(board_vault: Vault) -> None:
    vault = board_vault
    code = new_code()
    vault.add_journey(code, {}, partner=None)
    assert vault.verify_audit() == 0
    assert vault.audit("bea", "journey.new", code, "from Sinuiju") == 1
    assert vault.audit("al", "audit.verify") == 2
    assert vault.verify_audit() == 2
    rows = vault.audit_rows()
    assert [(r.seq, r.actor, r.action, r.journey, r.detail) for r in rows] == [
        (1, "bea", "journey.new", code, "from Sinuiju"),
        (2, "al", "audit.verify", None, None),
    ]
    assert rows[0].at.tzinfo is not None and rows[0].at <= rows[1].at
    assert AuditRow(**{**rows[1].__dict__}).to_json()["seq"] == 2
    vault.set_journey(code, {}, partner=None, closed_on=date(2020, 1, 1))
    vault.purge(date(2021, 1, 1))
    label = vault.audit_rows()[0].journey
    assert label is not None and label.startswith("#") and code not in label
    assert vault.verify_audit() == 2


# (description, SQL statements run behind the vault's back, the seq the error must name)
TAMPERING = {
    "edit a middle row's body": (
        [
            "UPDATE board_audit SET body_ct = (SELECT body_ct FROM board_audit WHERE seq = 5) "
            "WHERE seq = 3"
        ],
        3,
    ),
    "edit the last row's hash": (["UPDATE board_audit SET mac = ? WHERE seq = 6"], 6),
    "edit a row's number": (["UPDATE board_audit SET seq = 60 WHERE seq = 4"], 4),
    "delete a middle row": (["DELETE FROM board_audit WHERE seq = 2"], 2),
    "delete the first row": (["DELETE FROM board_audit WHERE seq = 1"], 1),
    "delete the last row": (["DELETE FROM board_audit WHERE seq = 6"], 6),
    "delete the last two rows and rewind the head": (
        ["DELETE FROM board_audit WHERE seq >= 5", "UPDATE board_audit_head SET seq = 4"],
        4,
    ),
    "delete every row": (["DELETE FROM board_audit"], 1),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_editing_or_deleting_an_audit_row_fails_verify_naming_it(
    board_target: tuple[str, str | None], board_key: BoardKey, case: str
) -> None:
    target, schema = board_target
    statements, bad_seq = TAMPERING[case]
    with Vault.create(target, board_key, schema=schema) as vault:
        for i in range(6):
            vault.audit("bea", "journey.read", detail=f"row {i + 1}")
        assert vault.verify_audit() == 6
        with boardkit.RawDB(target, schema, board_key) as db:
            for sql in statements:
                db.execute(sql, (secrets.token_bytes(32),) if "?" in sql else ())
        with pytest.raises(AuditError, match=rf"\b{bad_seq}\b") as info:
            vault.verify_audit()
        assert "\n" not in str(info.value)
    # A fresh open sees the same (nothing was cached).
    with Vault.open(target, board_key, schema=schema) as vault, pytest.raises(AuditError):
        vault.verify_audit()


def test_appending_after_the_head_was_changed_is_refused(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    with Vault.create(target, board_key, schema=schema) as vault:
        vault.audit("bea", "a")
        vault.audit("bea", "b")
        with boardkit.RawDB(target, schema, board_key) as db:
            db.execute("DELETE FROM board_audit WHERE seq = 2")
            db.execute("UPDATE board_audit_head SET seq = 1")
        # Appending would re-sign the head over the gap and hide the deletion: refused.
        with pytest.raises(AuditError, match="head record"):
            vault.audit("bea", "c")
        with pytest.raises(AuditError):
            vault.verify_audit()


def test_audit_many_appends_chained_rows_in_one_transaction(board_vault: Vault) -> None:
    vault = board_vault
    one, two = new_code(), new_code()
    vault.add_journey(one, {}, partner=None)
    assert vault.audit_many("bea", "journey.list", []) == []
    assert vault.verify_audit() == 0
    assert vault.audit("bea", "journey.read", one) == 1
    with statements(vault) as seen:
        assert vault.audit_many("bea", "journey.list", [one, two, None], "page 1") == [2, 3, 4]
    # One head lock, one head update and one commit for the whole batch.
    head = [sql.lstrip().upper() for sql in seen if "board_audit_head" in sql]
    assert [sql.split()[0] for sql in head] == ["SELECT", "UPDATE"]
    assert "FOR UPDATE" in head[0] or vault.backend == "sqlite"  # SQLite: BEGIN IMMEDIATE
    assert seen.count(COMMIT) == 1
    assert vault.audit_many("al", "purge", [two, one], details=["closed a", None]) == [5, 6]
    assert vault.audit("al", "audit.read") == 7
    assert vault.verify_audit() == 7
    rows = vault.audit_rows()
    hidden = "#" + vault._journey_ix(two).hex()[:AUDIT_INDEX_PREFIX_HEX]  # not on the board
    assert [(r.seq, r.actor, r.action, r.journey, r.detail) for r in rows] == [
        (1, "bea", "journey.read", one, None),
        (2, "bea", "journey.list", one, "page 1"),
        (3, "bea", "journey.list", hidden, "page 1"),
        (4, "bea", "journey.list", None, "page 1"),
        (5, "al", "purge", hidden, "closed a"),
        (6, "al", "purge", one, None),
        (7, "al", "audit.read", None, None),
    ]
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    with pytest.raises(BoardError, match="one detail per code"):
        vault.audit_many("al", "purge", [one, two], details=["x"])
    with pytest.raises(BoardError, match="not both"):
        vault.audit_many("al", "purge", [one], "x", details=["y"])
    assert vault.verify_audit() == 7  # a refused batch wrote nothing


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_with_a_batch_row_fails_verify_naming_it(
    board_target: tuple[str, str | None], board_key: BoardKey, case: str
) -> None:
    target, schema = board_target
    statements_, bad_seq = TAMPERING[case]
    with Vault.create(target, board_key, schema=schema) as vault:
        # Rows 2-5 are one batch, between two single rows: the same chain throughout.
        vault.audit("bea", "journey.read", detail="row 1")
        codes = [new_code() for _ in range(4)]
        assert vault.audit_many("bea", "journey.list", codes) == [2, 3, 4, 5]
        vault.audit("bea", "journey.read", detail="row 6")
        assert vault.verify_audit() == 6
        with boardkit.RawDB(target, schema, board_key) as db:
            for sql in statements_:
                db.execute(sql, (secrets.token_bytes(32),) if "?" in sql else ())
        with pytest.raises(AuditError, match=rf"\b{bad_seq}\b"):
            vault.verify_audit()


def test_a_batch_after_the_head_was_changed_is_refused(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    with Vault.create(target, board_key, schema=schema) as vault:
        vault.audit_many("bea", "a", [None, None])
        with boardkit.RawDB(target, schema, board_key) as db:
            db.execute("DELETE FROM board_audit WHERE seq = 2")
            db.execute("UPDATE board_audit_head SET seq = 1")
        with pytest.raises(AuditError, match="head record"):
            vault.audit_many("bea", "b", [None, None])
        with boardkit.RawDB(target, schema, board_key) as db:
            assert db.execute("SELECT count(*) FROM board_audit") == [(1,)]


# Threads x calls each, and the largest batch: enough overlap to interleave, under ~3 s.
AUDIT_THREADS, AUDIT_CALLS, AUDIT_BATCH = 8, 12, 5


def test_concurrent_audit_and_audit_many_keep_the_chain_whole(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target
    # Two vaults on one board: two pools (on SQLite two write locks), as two processes have.
    first = Vault.create(target, board_key, schema=schema)
    second = Vault.open(target, board_key, schema=schema)
    code = new_code()
    first.add_journey(code, {}, partner=None)
    got: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        vault = (first, second)[i % 2]
        try:
            for k in range(AUDIT_CALLS):
                if i % 4 < 2:
                    seqs = [vault.audit(f"w{i}", "checkin", code, str(k))]
                else:
                    size = 1 + (i + k) % AUDIT_BATCH
                    seqs = vault.audit_many(f"w{i}", "journey.list", [code] * size, str(k))
                with lock:
                    got.append(seqs)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(AUDIT_THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        total = sum(len(seqs) for seqs in got)
        singles = AUDIT_CALLS * AUDIT_THREADS // 2
        assert total == singles + sum(
            1 + (i + k) % AUDIT_BATCH
            for i in range(AUDIT_THREADS)
            if i % 4 >= 2
            for k in range(AUDIT_CALLS)
        )
        # Every seq once, no gap, and each batch's rows next to each other.
        assert sorted(s for seqs in got for s in seqs) == list(range(1, total + 1))
        assert all(seqs == list(range(seqs[0], seqs[0] + len(seqs))) for seqs in got)
        assert first.verify_audit() == total == second.verify_audit()
        rows = first.audit_rows()
        assert len([r for r in rows if r.action == "checkin"]) == singles
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------------------------- bytes at rest


def _fill(vault: Vault) -> dict[str, str]:
    """A board with codes, notes and names that must never appear in plaintext at rest."""
    secrets_at_rest = {
        "code": new_code(),
        "note": distinct("waited-in-the-rain-at-the-drop-point"),
        "user": distinct("coordinator-seoul"),
        "partner": distinct("partner-mekong"),
        "detail": distinct("audit-detail"),
        "password_hash": distinct("$argon2id$v=19$hash"),
    }
    code = secrets_at_rest["code"]
    vault.add_journey(
        code, {"start": "Hyesan", "code_echo": code}, partner=secrets_at_rest["partner"]
    )
    for leg in range(1, 30):
        vault.add_event(code, {"leg": leg, "note": secrets_at_rest["note"]})
    vault.add_user(
        secrets_at_rest["user"],
        {"role": "coordinator", "password_hash": secrets_at_rest["password_hash"]},
    )
    vault.add_session(
        secrets.token_urlsafe(16),
        {"user": secrets_at_rest["user"], "expires": "2099-01-01T00:00:00+00:00"},
    )
    vault.audit(secrets_at_rest["user"], "journey.checkin", code, secrets_at_rest["detail"])
    return secrets_at_rest


def _needles(values: dict[str, str]) -> list[bytes]:
    out = []
    for value in values.values():
        out += [value.encode(), value.encode("utf-16-le"), value.encode().hex().encode()]
    return out


def test_the_file_its_wal_and_the_export_hold_no_plaintext(
    tmp_path: Path, board_key: BoardKey
) -> None:
    path = tmp_path / "board.db"
    with Vault.create(path, board_key) as vault:
        plain = _fill(vault)
        assert Path(f"{path}-wal").stat().st_size > 0  # the WAL is part of what is searched
        at_rest = boardkit.board_files_bytes(path)
        decrypted = boardkit.sqlcipher_plaintext(path, board_key)
        export = tmp_path / "board.export"
        assert vault.export(export, BoardKey.from_passphrase(PASSPHRASE)) == 1
    at_rest += boardkit.board_files_bytes(path)
    # Sanity of the search: SQLCipher's decryption works (the schema is visible) ...
    assert b"CREATE TABLE board_journeys" in decrypted
    for needle in _needles(plain):
        assert needle not in at_rest, needle
        # ... and below SQLCipher, the application's own encryption hides every field.
        assert needle not in decrypted, needle
        assert needle not in export.read_bytes(), needle
    assert b"board_journeys" not in at_rest  # SQLCipher hides even the schema


def test_postgres_rows_and_files_hold_only_ciphertext(board_key: BoardKey) -> None:
    boardkit.require_postgres()
    schema = boardkit.unique_schema()
    try:
        with Vault.create(boardkit.PG_URL, board_key, schema=schema) as vault:
            plain = _fill(vault)
        with boardkit.RawDB(boardkit.PG_URL, schema, board_key) as db:
            cells = b"".join(
                repr(row).encode() + b"".join(v for v in row if isinstance(v, bytes))
                for table in tables.metadata.sorted_tables
                for row in db.execute(f"SELECT * FROM {table.name}")
            )
        files = boardkit.pg_files_bytes(schema)
        assert b"board_journeys" not in files  # (table names live in the catalog, not here)
        assert len(cells) > 0 and len(files) > 0
        for needle in _needles(plain):
            assert needle not in cells, needle
            assert needle not in files, needle
    finally:
        boardkit.drop_schema(schema)


# ---------------------------------------------------------------------------------- purge


def _closed_and_open(vault: Vault) -> tuple[str, str, str]:
    old, recent, running = new_code(), new_code(), new_code()
    for code in (old, recent, running):
        vault.add_journey(code, {"code_echo": code}, partner="partner-x")
        for leg in range(1, 4):
            vault.add_event(code, {"leg": leg})
    vault.set_journey(old, {"closed": True}, partner="partner-x", closed_on=date(2025, 1, 1))
    # Closed exactly on the cutoff: not yet past retention.
    vault.set_journey(recent, {"closed": True}, partner="partner-x", closed_on=date(2025, 2, 1))
    return old, recent, running


def _stored_cells(target: str, schema: str | None, key: BoardKey, code: str) -> list[bytes]:
    """The journey's stored index and ciphertexts, as they lie in the database."""
    ix = None
    with boardkit.RawDB(target, schema, key) as db:
        rows = db.execute("SELECT code_ix, code_ct, doc_ct FROM board_journeys")
        salt_row = db.execute("SELECT value FROM board_meta WHERE name = 'salt'")
    salt = bytes(salt_row[0][0])  # type: ignore[arg-type]
    ix = derive_keyring(key, salt).blind_index("journey", code)
    for row in rows:
        if bytes(row[0]) == ix:  # type: ignore[arg-type]
            return [bytes(v) for v in row]  # type: ignore[arg-type]
    raise AssertionError("journey not stored")


def test_purge_removes_a_closed_journey_from_the_bytes(
    board_target: tuple[str, str | None], board_key: BoardKey
) -> None:
    target, schema = board_target

    def stored_bytes() -> bytes:
        if schema is None:
            return boardkit.sqlcipher_plaintext(Path(target), board_key)
        return boardkit.pg_files_bytes(schema)

    with Vault.create(target, board_key, schema=schema) as vault:
        old, recent, running = _closed_and_open(vault)
        vault.audit("bea", "journey.read", old)
        cells = _stored_cells(target, schema, board_key, old)
        before = stored_bytes()
        # The search finds the journey while it is stored (the check could fail) ...
        assert all(cell in before for cell in cells)
        assert vault.purge(date(2025, 2, 1)) == 1
        assert vault.journey(old) is None
        with pytest.raises(NotFoundError):
            vault.events(old)
        assert [c for c, _, _ in vault.journeys()] == sorted([recent, running])
        assert len(vault.events(recent)) == 3
        after = stored_bytes()
        # ... and after purge and compaction not one of its cells is left anywhere.
        for cell in cells:
            assert cell not in after
        if schema is None:
            with vault._engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA freelist_count").scalar() == 0  # VACUUMed
            assert Path(f"{target}-wal").stat().st_size == 0  # checkpointed and truncated
            assert cells[0] not in boardkit.board_files_bytes(Path(target))
        vault.integrity_check()
        assert vault.verify_audit() == 1
        assert vault.purge(date(2025, 2, 1)) == 0


# ---------------------------------------------------------------------------------- export


def test_export_is_encrypted_complete_and_never_overwrites(
    board_target: tuple[str, str | None], board_key: BoardKey, tmp_path: Path
) -> None:
    target, schema = board_target
    archive = tmp_path / "out.nkexport"
    with Vault.create(target, board_key, schema=schema) as vault:
        plain = _fill(vault)
        assert vault.export(archive, board_key) == 1
        with pytest.raises(ConflictError, match="choose a new name"):
            vault.export(archive, board_key)
    data = archive.read_bytes()
    assert data.startswith(EXPORT_MAGIC)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    content = read_export(archive, board_key)
    (journey,) = content["journeys"]
    assert journey["code"] == plain["code"] and journey["partner"] == plain["partner"]
    assert len(journey["events"]) == 29 and journey["events"][0]["note"] == plain["note"]
    # Users: names and roles only; no password hash or TOTP secret leaves the board.
    assert content["users"] == [{"name": plain["user"], "role": "coordinator"}]
    assert plain["password_hash"] not in repr(content)
    assert content["audit"][0]["detail"] == plain["detail"]
    with pytest.raises(WrongKeyError):
        read_export(archive, BoardKey.from_passphrase(PASSPHRASE))
    tampered = tmp_path / "tampered.nkexport"
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(WrongKeyError, match="or the file was changed"):
        read_export(tampered, board_key)
    not_export = tmp_path / "not.nkexport"
    not_export.write_bytes(b"hello")
    with pytest.raises(BoardError, match="not an nkescape board export"):
        read_export(not_export, board_key)


def test_a_passphrase_export_reads_back(board_vault: Vault, tmp_path: Path) -> None:
    board_vault.add_journey(new_code(), {"a": 1}, partner=None)
    archive = tmp_path / "p.nkexport"
    assert board_vault.export(archive, BoardKey.from_passphrase(PASSPHRASE)) == 1
    # A header asking for absurd Argon2 costs is refused before any work (no denial of service).
    data = archive.read_bytes()
    start = len(EXPORT_MAGIC) + 4
    length = int.from_bytes(data[len(EXPORT_MAGIC) : start], "big")
    header = json.loads(data[start : start + length])
    header["kdf"]["memory_kib"] = 2**40
    raw = json.dumps(header).encode()
    greedy = tmp_path / "greedy.nkexport"
    greedy.write_bytes(EXPORT_MAGIC + len(raw).to_bytes(4, "big") + raw + data[start + length :])
    with pytest.raises(BoardError, match="not an nkescape board export"):
        read_export(greedy, BoardKey.from_passphrase(PASSPHRASE))
    with pytest.raises(WrongKeyError, match="made with a passphrase, not a key file"):
        read_export(archive, BoardKey(secrets.token_bytes(32), "keyfile"))
    assert read_export(archive, BoardKey.from_passphrase(PASSPHRASE))["journeys"][0]["doc"] == {
        "a": 1
    }
