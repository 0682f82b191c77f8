"""Run the board's alembic migrations programmatically, on the vault's own connection."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

__all__ = ["HEAD_REVISION", "MIGRATIONS_DIR", "VERSION_TABLE", "current_revision", "upgrade"]

# Shipped inside the package (hatchling puts every file under src/nkescape into the wheel).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Alembic's bookkeeping table, prefixed like the board's tables so it cannot clash with another
# application's alembic_version in a shared PostgreSQL schema.
VERSION_TABLE = "board_schema_version"
# The newest revision in migrations/versions (a test checks it is alembic's head). Knowing it lets
# open() skip loading alembic when the schema is current, which is nearly always.
HEAD_REVISION = "0001"


def current_revision(connection: Connection) -> str | None:
    """The schema revision of the board on ``connection``, or None if it has no schema yet."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def upgrade(connection: Connection) -> None:
    """Bring the schema on ``connection`` (inside its transaction) to the newest revision."""
    if current_revision(connection) == HEAD_REVISION:
        return
    # Imported here: alembic costs a noticeable share of a CLI call's start-up time.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Only the versions folder is a path list; name the separator so alembic need not guess.
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def run_environment() -> None:
    """The body of ``migrations/env.py``: migrate the connection the vault passed in."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "the board's migrations run from nkescape.board.vault (Vault.create/open), "
            "not from the alembic command line"
        )
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
