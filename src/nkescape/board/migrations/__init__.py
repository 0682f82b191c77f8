"""The board's schema migrations (alembic), run by :mod:`nkescape.board.vault` on create/open."""
