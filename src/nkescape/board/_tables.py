"""The board's tables as SQLAlchemy Core objects, matching the newest migration.

The migrations in ``migrations/versions`` are the schema's source of truth (each frozen in time);
these definitions are what the vault's queries are written against, and a test checks the two
agree. Names carry a ``board_`` prefix so a board can share a PostgreSQL schema with other tables.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

# name -> value: "salt" (16 bytes), "kdf" (JSON of the Argon2id parameters), "check" (key check).
meta = Table(
    "board_meta",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
journeys = Table(
    "board_journeys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("code_ix", LargeBinary, nullable=False, unique=True),
    Column("partner_ix", LargeBinary, nullable=True, index=True),
    Column("closed_on", Date, nullable=True, index=True),
    Column("n_events", Integer, nullable=False),
    Column("code_ct", LargeBinary, nullable=False),
    Column("doc_ct", LargeBinary, nullable=False),
    Column("partner_ct", LargeBinary, nullable=True),
)
events = Table(
    "board_events",
    metadata,
    Column(
        "journey_id",
        String(32),
        ForeignKey("board_journeys.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_ct", LargeBinary, nullable=False),
)
users = Table(
    "board_users",
    metadata,
    Column("name_ix", LargeBinary, primary_key=True),
    Column("name_ct", LargeBinary, nullable=False),
    Column("record_ct", LargeBinary, nullable=False),
)
sessions = Table(
    "board_sessions",
    metadata,
    Column("token_ix", LargeBinary, primary_key=True),
    Column("record_ct", LargeBinary, nullable=False),
)
audit = Table(
    "board_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("body_ct", LargeBinary, nullable=False),
    Column("mac", LargeBinary, nullable=False),
)
# One row (id 1): the last seq and its hash, HMAC'd, so deleting the last audit rows shows.
audit_head = Table(
    "board_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("last_mac", LargeBinary, nullable=False),
    Column("mac", LargeBinary, nullable=False),
)
