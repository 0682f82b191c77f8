"""The coordination board: journeys under way, check-ins and overdue alerts, kept encrypted.

A journey is a random code, a group as counts, the planned legs with the window the simulator
expects for reaching each, and an append-only list of check-ins. ``Board`` (``service``) is every
operation, with access by role and an audit row for each read and write; ``Vault`` (``vault``)
stores it in an SQLCipher 4 file or on PostgreSQL, with every sensitive field sealed by AES-GCM;
``BoardKey`` (``crypto``) comes from a passphrase (Argon2id) or a key file. See docs/design.md
section 23 and docs/security.md.

Names are imported on first use (PEP 562), so that ``nkescape board --help`` loads neither
SQLAlchemy nor SQLCipher nor NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nkescape.board.crypto import BoardKey, new_key_file
    from nkescape.board.errors import (
        AuditError,
        BoardError,
        ConflictError,
        ForbiddenError,
        NotFoundError,
        RefusedError,
        WrongKeyError,
    )
    from nkescape.board.model import (
        Checkin,
        CheckinStatus,
        Journey,
        JourneyStatus,
        LegWindow,
        Overdue,
        PlanVersion,
        Role,
        User,
    )
    from nkescape.board.privacy import NOTE_MAX, RETENTION_DAYS, check_note
    from nkescape.board.service import Board
    from nkescape.board.vault import AuditRow, Vault, is_postgres, read_export

_WHERE = {
    "BoardKey": "crypto",
    "new_key_file": "crypto",
    "AuditError": "errors",
    "BoardError": "errors",
    "ConflictError": "errors",
    "ForbiddenError": "errors",
    "NotFoundError": "errors",
    "RefusedError": "errors",
    "WrongKeyError": "errors",
    "Checkin": "model",
    "CheckinStatus": "model",
    "Journey": "model",
    "JourneyStatus": "model",
    "LegWindow": "model",
    "Overdue": "model",
    "PlanVersion": "model",
    "Role": "model",
    "User": "model",
    "NOTE_MAX": "privacy",
    "RETENTION_DAYS": "privacy",
    "check_note": "privacy",
    "Board": "service",
    "AuditRow": "vault",
    "Vault": "vault",
    "is_postgres": "vault",
    "read_export": "vault",
}

__all__ = [
    "NOTE_MAX",
    "RETENTION_DAYS",
    "AuditError",
    "AuditRow",
    "Board",
    "BoardError",
    "BoardKey",
    "Checkin",
    "CheckinStatus",
    "ConflictError",
    "ForbiddenError",
    "Journey",
    "JourneyStatus",
    "LegWindow",
    "NotFoundError",
    "Overdue",
    "PlanVersion",
    "RefusedError",
    "Role",
    "User",
    "Vault",
    "WrongKeyError",
    "check_note",
    "is_postgres",
    "new_key_file",
    "read_export",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
