"""One module per schema revision; alembic orders them by ``down_revision``."""
