"""The board's errors: one line for the user, saying what is wrong and how to fix it."""

from __future__ import annotations


class BoardError(ValueError):
    """A board operation that cannot be done; str(exc) is one line for the user."""


class WrongKeyError(BoardError):
    """Wrong passphrase or key file; nothing was changed."""


class NotFoundError(BoardError):
    """No such journey or user -- also raised when the actor may not see it."""


class ForbiddenError(BoardError):
    """The role may not do this (an auditor writing, a partner adding users)."""


class RefusedError(BoardError):
    """Input refused by data-minimisation rules (a note with a phone number...)."""


class ConflictError(BoardError):
    """A name or code that exists already, or a board that already exists at init."""


class AuditError(BoardError):
    """The audit chain is broken: the message names the first bad row (seq)."""
