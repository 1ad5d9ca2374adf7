"""Alembic migration scripts shipped inside the package; :meth:`Database.open` runs them to head."""
