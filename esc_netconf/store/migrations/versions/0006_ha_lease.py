"""The leadership lease of a high-availability group (CONTRACT section 8): one row, created here.

``token`` is the fencing token: every takeover increments it, and the active's writes check it (see
``esc_netconf.store.leadership``). ``expires_us`` is on the database's clock, the one clock every member
shares. The row exists on SQLite too (the same scripts run on both engines), where one server is always
the only member and never reads it.

Revision ID: 0006_ha_lease
Revises: 0005_esc_opdata
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_ha_lease"
down_revision: str | None = "0005_esc_opdata"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    lease = op.create_table(
        "ha_lease",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("netconf_port", sa.Integer(), nullable=False),
        sa.Column("rest_port", sa.Integer(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ha_lease"),
    )
    op.bulk_insert(lease, [{"id": 1, "token": 0, "node": "", "host": "", "netconf_port": 0, "rest_port": 0,
                            "expires_us": 0}])


def downgrade() -> None:
    op.drop_table("ha_lease")
