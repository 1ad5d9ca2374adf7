"""Persistence: everything durable, on one SQLAlchemy Core engine with versioned (alembic) migrations.

SQLite in the data dir is the embedded default (``Database.open_data_dir``); the same schema is meant
to run on PostgreSQL. The three stores implement the seams of docs/INTERFACES.md section 4:
``SqlConfigStore`` and ``SqlReplayLog`` for ``esc_netconf.netconf.persistence``, ``SqlCoreStore`` for
``esc_netconf.core.store.Store``.
"""

from esc_netconf.store.config_store import RunningConfig, SqlConfigStore
from esc_netconf.store.core_store import SqlCoreStore
from esc_netconf.store.database import Database
from esc_netconf.store.errors import (
    BackupError,
    MigrationError,
    StoreClosedError,
    StoreError,
    StoreValueError,
)
from esc_netconf.store.replay_log import SqlReplayLog

__all__ = [
    "BackupError",
    "Database",
    "MigrationError",
    "RunningConfig",
    "SqlConfigStore",
    "SqlCoreStore",
    "SqlReplayLog",
    "StoreClosedError",
    "StoreError",
    "StoreValueError",
]
