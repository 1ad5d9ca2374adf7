"""Fixtures for the store tests: a fresh database file per test, and an in-memory one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_netconf.store import Database


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


@pytest.fixture
def memory_database() -> Iterator[Database]:
    db = Database.open(":memory:")
    try:
        yield db
    finally:
        db.close()
