"""The tables at the head revision, as SQLAlchemy Core objects the stores query through.

The migrations under ``migrations/versions`` create these tables and never import this module (a
migration is a frozen record of one step; this module moves on with the code). A unit test compares
the migrated database with :data:`metadata`, so the two cannot drift apart unnoticed.

Conventions: instants are integer microseconds since the epoch in UTC (see :mod:`.utc`); XML is kept
as the exact bytes the caller gave (a blob, never re-encoded); constraint names follow
:data:`NAMING_CONVENTION` so they are the same on SQLite and PostgreSQL.

The core's tables (revision 0002) follow ``esc_netconf.core.store``: each record is a few key columns,
indexed for what is looked up (ids, tenant, deployment name, generated VM name, state), plus the
record's ``to_dict()`` in a JSON column, so the core can add fields without a migration. There are no
foreign keys between them on purpose: the core's Protocol (and its in-memory twin) lets a VM be saved
before its deployment, and a constraint the in-memory store does not have would fail only in production.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    JSON,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

RecordData: TypeAlias = dict[str, Any]
"""What a ``data`` JSON column holds: one record's ``to_dict()``. ``Table.c`` types every column as
``Column[Any]``, so a query's rows are annotated with this where they are read."""

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# A 64-bit key that is still SQLite's rowid alias (only "INTEGER PRIMARY KEY" autoincrements there).
SequenceId = BigInteger().with_variant(Integer(), "sqlite")

# --- netconf: the running datastore (revision 0001) -------------------------------------------------

running_config = Table(
    "running_config",
    metadata,
    # One row only: the commit count and time of the running datastore (its content is in the parts).
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("saved_at_us", BigInteger, nullable=False),
    # YangModel.schema_digest of what validated the stored configuration; NULL: not known (revision 0009)
    Column("schema_digest", String(64), nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)

# --- netconf: the running datastore's parts (revision 0007) ----------------------------------------

running_config_parts = Table(
    "running_config_parts",
    metadata,
    # One row per part (esc_netconf.netconf.config_parts): a commit rewrites the parts it changed.
    Column("part_key", Text, primary_key=True),
    Column("parent_key", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("xml", LargeBinary, nullable=False),
)

# --- netconf: the notification replay log (revision 0001) -------------------------------------------

replay_events = Table(
    "replay_events",
    metadata,
    Column("seq", SequenceId, primary_key=True, autoincrement=True),
    Column("stream", String(255), nullable=False),
    Column("event_time_us", BigInteger, nullable=False),
    Column("xml", LargeBinary, nullable=False),
    # the core's event id (revision 0008): an event delivered again after a crash is stored only once
    Column("event_id", String(64), nullable=True),
    # AUTOINCREMENT: a sequence id is never reused, even after prune() empties the stream, so a
    # subscriber's "last seen seq" stays meaningful.
    sqlite_autoincrement=True,
)
# read() and prune() walk one stream in sequence order; oldest() and the time window use event time.
Index("ix_replay_events_stream_seq", replay_events.c.stream, replay_events.c.seq)
Index("ix_replay_events_stream_event_time_us", replay_events.c.stream, replay_events.c.event_time_us)
Index("ux_replay_events_event_id", replay_events.c.event_id, unique=True)

# --- core: tenants, deployments, VMs, operations in flight (revision 0002) ----------------------------

KEY = String(255)

core_tenants = Table(
    "core_tenants",
    metadata,
    Column("name", KEY, primary_key=True),
    Column("data", JSON, nullable=False),
)

core_deployments = Table(
    "core_deployments",
    metadata,
    Column("dep_id", KEY, primary_key=True),
    Column("tenant", KEY, nullable=False, index=True),
    Column("name", KEY, nullable=False),
    Column("state", String(64), nullable=False, index=True),
    Column("data", JSON, nullable=False),
    # revision 0005: the last two keys of opdata's deployments ('-' without a service registration)
    Column("service_name", KEY, nullable=False, server_default="-"),
    Column("service_version", KEY, nullable=False, server_default="-"),
)
Index("ix_core_deployments_tenant_name", core_deployments.c.tenant, core_deployments.c.name)
Index("ix_core_deployments_tenant_name_service", core_deployments.c.tenant, core_deployments.c.name,
      core_deployments.c.service_name, core_deployments.c.service_version)

core_vms = Table(
    "core_vms",
    metadata,
    Column("vm_id", KEY, primary_key=True),
    Column("dep_id", KEY, nullable=False, index=True),
    Column("tenant", KEY, nullable=False, index=True),
    Column("deployment", KEY, nullable=False),
    Column("name", KEY, nullable=False, index=True),
    Column("server_id", KEY, nullable=True, index=True),
    Column("state", String(64), nullable=False, index=True),
    Column("data", JSON, nullable=False),
)

core_operations = Table(
    "core_operations",
    metadata,
    Column("op_id", KEY, primary_key=True),
    Column("dep_id", KEY, nullable=False, index=True),
    Column("vm_id", KEY, nullable=True),
    Column("kind", String(64), nullable=False),
    Column("data", JSON, nullable=False),
)

# The event journal (revision 0008): events written in the transaction of the writes they report, deleted
# once delivered; ``seq`` is the order of publication.
core_event_journal = Table(
    "core_event_journal",
    metadata,
    Column("seq", SequenceId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("data", JSON, nullable=False),
    sqlite_autoincrement=True,
)

# --- core.backup: managed snapshots and the backup operations in flight (revision 0003) --------------
# Same shape as the core's tables (``esc_netconf.core.backup.store.SnapshotStore``): key columns for
# the listings (tenant, generated VM name, name) plus the record's ``to_dict()``; ``created_us`` keeps
# "oldest first" the same on SQLite and PostgreSQL.

backup_snapshots = Table(
    "backup_snapshots",
    metadata,
    Column("id", KEY, primary_key=True),
    Column("tenant", KEY, nullable=False, index=True),
    Column("generated_vm_name", KEY, nullable=False, index=True),
    Column("name", KEY, nullable=False, index=True),
    Column("status", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("data", JSON, nullable=False),
)

backup_operations = Table(
    "backup_operations",
    metadata,
    Column("op_id", KEY, primary_key=True),
    Column("snapshot_id", KEY, nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("data", JSON, nullable=False),
)

# --- rest: durable callback delivery (revision 0004) -------------------------------------------------
# ``esc_netconf.rest.callback_store.CallbackStore``: which URLs want a transaction's events
# (``callback_registrations``), and the outbox of POSTs not yet delivered (``callback_outbox``). An
# outbox row is written before the first attempt and deleted once delivered or given up, so a restart
# resumes what was pending; ``seq`` (never reused) is the delivery order per URL and the row's id.

callback_registrations = Table(
    "callback_registrations",
    metadata,
    Column("transaction_id", KEY, primary_key=True),
    Column("urls", JSON, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("last_event_us", BigInteger, nullable=False),
    # NULL while the transaction's operation may still publish events; pruning reads this column.
    Column("finished_us", BigInteger, nullable=True, index=True),
)

callback_outbox = Table(
    "callback_outbox",
    metadata,
    Column("seq", SequenceId, primary_key=True, autoincrement=True),
    Column("transaction_id", KEY, nullable=False, index=True),
    Column("event_id", KEY, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

# --- the leadership lease of a high-availability group (revision 0006) --------------------------------

ha_lease = Table(
    "ha_lease",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one lease per database
    Column("token", BigInteger, nullable=False),  # the fencing token, +1 at every takeover
    Column("node", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("netconf_port", Integer, nullable=False),
    Column("rest_port", Integer, nullable=False),
    Column("expires_us", BigInteger, nullable=False),  # on the database's clock
)
