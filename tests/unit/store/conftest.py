"""Fixtures for the store tests: a fresh database file per test, and a private database per test on each
engine the store supports.

``memory_database`` runs every test that takes it twice: on an in-memory SQLite and on a fresh database of
a real PostgreSQL (marked ``postgresql``: ``make test-ha`` runs those; plain ``make test`` deselects them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_netconf.store import Database
from tests.postgres_server import PostgresServer, postgres  # noqa: F401 - the fixture


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def database(data_dir: Path) -> Iterator[Database]:
    db = Database.open_data_dir(data_dir)
    try:
        yield db
    finally:
        db.close()


ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=ENGINES)
def memory_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty, migrated, private database: in-memory SQLite, or a new database on the test PostgreSQL."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        db = Database.open(server.create_database())
    else:
        db = Database.open(":memory:")
    try:
        yield db
    finally:
        db.close()
