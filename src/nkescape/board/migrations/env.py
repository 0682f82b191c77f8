"""Alembic's environment for the board's schema: run by nkescape.board.vault, not by hand.

The vault passes its open connection (the SQLCipher key already given, or the PostgreSQL
``search_path`` already set to the board's schema) in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from nkescape.board._migrate import run_environment

# Alembic loads this file as the module "env_py"; pytest's doctest collection imports it under
# its package name, where there is no migration to run.
if __name__ == "env_py":
    run_environment()
