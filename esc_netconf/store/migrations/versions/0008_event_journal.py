"""The core's event journal, and the event id that keeps a replayed event from being stored twice.

``core_event_journal`` holds each ``escEvent`` the core published, written in the same transaction as the
records it reports and deleted once every subscriber stored it: a ``kill -9`` (or a takeover by the
standby) loses no event the core committed.  ``replay_events.event_id`` carries the journal's id into the
replay log; its unique index is what makes delivering a journaled event again harmless when its replay
row was stored before the crash.  Rows written before this revision keep ``event_id`` NULL (a unique
index allows any number of NULLs on SQLite and PostgreSQL).

Revision ID: 0008_event_journal
Revises: 0006_ha_lease (the lead chains 0007 before it at merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_event_journal"
down_revision: str | None = "0007_running_config_parts"
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "core_event_journal",
        sa.Column("seq", _SEQ, nullable=False, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_core_event_journal"),
        sa.UniqueConstraint("event_id", name="uq_core_event_journal_event_id"),
        sqlite_autoincrement=True,
    )
    op.add_column("replay_events", sa.Column("event_id", sa.String(64), nullable=True))
    op.create_index("ux_replay_events_event_id", "replay_events", ["event_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_replay_events_event_id", table_name="replay_events")
    with op.batch_alter_table("replay_events") as batch:
        batch.drop_column("event_id")
    op.drop_table("core_event_journal")
