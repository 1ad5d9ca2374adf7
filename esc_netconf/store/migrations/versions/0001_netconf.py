"""The NETCONF layer's tables: the running datastore and the notification replay log.

Revision ID: 0001_netconf
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_netconf"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "running_config",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("saved_at_us", sa.BigInteger(), nullable=False),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_running_config_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_running_config"),
    )
    op.create_table(
        "replay_events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(255), nullable=False),
        sa.Column("event_time_us", sa.BigInteger(), nullable=False),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_replay_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_replay_events_stream_seq", "replay_events", ["stream", "seq"])
    op.create_index(
        "ix_replay_events_stream_event_time_us", "replay_events", ["stream", "event_time_us"]
    )


def downgrade() -> None:
    op.drop_index("ix_replay_events_stream_event_time_us", table_name="replay_events")
    op.drop_index("ix_replay_events_stream_seq", table_name="replay_events")
    op.drop_table("replay_events")
    op.drop_table("running_config")
