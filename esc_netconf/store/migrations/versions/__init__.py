"""One module per schema revision, oldest first; alembic itself skips this ``__init__``."""
