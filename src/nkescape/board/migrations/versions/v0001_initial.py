"""The board's first schema: meta, journeys, events, users, sessions, the audit chain and head.

Only the columns listed as plaintext in nkescape.board.vault are readable without the key; every
other value is an AES-256-GCM ciphertext (``*_ct``) or an HMAC blind index (``*_ix``).

Revision ID: 0001
Revises:
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "board_meta",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "board_journeys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code_ix", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("partner_ix", sa.LargeBinary, nullable=True, index=True),
        sa.Column("closed_on", sa.Date, nullable=True, index=True),
        sa.Column("n_events", sa.Integer, nullable=False),
        sa.Column("code_ct", sa.LargeBinary, nullable=False),
        sa.Column("doc_ct", sa.LargeBinary, nullable=False),
        sa.Column("partner_ct", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "board_events",
        sa.Column(
            "journey_id",
            sa.String(32),
            sa.ForeignKey("board_journeys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_ct", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "board_users",
        sa.Column("name_ix", sa.LargeBinary, primary_key=True),
        sa.Column("name_ct", sa.LargeBinary, nullable=False),
        sa.Column("record_ct", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "board_sessions",
        sa.Column("token_ix", sa.LargeBinary, primary_key=True),
        sa.Column("record_ct", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "board_audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body_ct", sa.LargeBinary, nullable=False),
        sa.Column("mac", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "board_audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("last_mac", sa.LargeBinary, nullable=False),
        sa.Column("mac", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    """A board's schema is never downgraded: restore a backup or an export instead."""
    raise NotImplementedError("the board's schema is never downgraded")
