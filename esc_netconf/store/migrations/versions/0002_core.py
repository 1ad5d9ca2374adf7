"""The core's records: tenants, deployments, VMs and operations in flight.

Revision ID: 0002_core
Revises: 0001_netconf
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_core"
down_revision: str | None = "0001_netconf"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "core_tenants",
        sa.Column("name", _KEY, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_core_tenants"),
    )
    op.create_table(
        "core_deployments",
        sa.Column("dep_id", _KEY, nullable=False),
        sa.Column("tenant", _KEY, nullable=False),
        sa.Column("name", _KEY, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("dep_id", name="pk_core_deployments"),
    )
    op.create_index("ix_core_deployments_tenant", "core_deployments", ["tenant"])
    op.create_index("ix_core_deployments_state", "core_deployments", ["state"])
    op.create_index("ix_core_deployments_tenant_name", "core_deployments", ["tenant", "name"])
    op.create_table(
        "core_vms",
        sa.Column("vm_id", _KEY, nullable=False),
        sa.Column("dep_id", _KEY, nullable=False),
        sa.Column("tenant", _KEY, nullable=False),
        sa.Column("deployment", _KEY, nullable=False),
        sa.Column("name", _KEY, nullable=False),
        sa.Column("server_id", _KEY, nullable=True),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("vm_id", name="pk_core_vms"),
    )
    for column in ("dep_id", "tenant", "name", "server_id", "state"):
        op.create_index(f"ix_core_vms_{column}", "core_vms", [column])
    op.create_table(
        "core_operations",
        sa.Column("op_id", _KEY, nullable=False),
        sa.Column("dep_id", _KEY, nullable=False),
        sa.Column("vm_id", _KEY, nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("op_id", name="pk_core_operations"),
    )
    op.create_index("ix_core_operations_dep_id", "core_operations", ["dep_id"])


def downgrade() -> None:
    op.drop_table("core_operations")
    op.drop_table("core_vms")
    op.drop_table("core_deployments")
    op.drop_table("core_tenants")
