"""REST callbacks made durable: the registrations (transaction id -> URLs) and the delivery outbox.

Revision ID: 0004_callbacks
Revises: 0003_snapshots
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_callbacks"
down_revision: str | None = "0003_snapshots"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = sa.String(255)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_registrations",
        sa.Column("transaction_id", _KEY, nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("last_event_us", sa.BigInteger(), nullable=False),
        sa.Column("finished_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_callback_registrations"),
    )
    op.create_index("ix_callback_registrations_finished_us", "callback_registrations", ["finished_us"])
    op.create_table(
        "callback_outbox",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", _KEY, nullable=False),
        sa.Column("event_id", _KEY, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_callback_outbox"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_callback_outbox_transaction_id", "callback_outbox", ["transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_callback_outbox_transaction_id", table_name="callback_outbox")
    op.drop_table("callback_outbox")
    op.drop_index("ix_callback_registrations_finished_us", table_name="callback_registrations")
    op.drop_table("callback_registrations")
