"""VNF backup: managed snapshots and the backup operations in flight.

Revision ID: 0003_snapshots
Revises: 0002_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_snapshots"
down_revision: str | None = "0002_core"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "backup_snapshots",
        sa.Column("id", _KEY, nullable=False),
        sa.Column("tenant", _KEY, nullable=False),
        sa.Column("generated_vm_name", _KEY, nullable=False),
        sa.Column("name", _KEY, nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backup_snapshots"),
    )
    for column in ("tenant", "generated_vm_name", "name"):
        op.create_index(f"ix_backup_snapshots_{column}", "backup_snapshots", [column])
    op.create_table(
        "backup_operations",
        sa.Column("op_id", _KEY, nullable=False),
        sa.Column("snapshot_id", _KEY, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("op_id", name="pk_backup_operations"),
    )
    op.create_index("ix_backup_operations_snapshot_id", "backup_operations", ["snapshot_id"])


def downgrade() -> None:
    op.drop_table("backup_operations")
    op.drop_table("backup_snapshots")
