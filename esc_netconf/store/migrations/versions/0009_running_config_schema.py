"""The running configuration remembers which schema validated it, so a restart need not validate it again.

``running_config.schema_digest`` is the digest of the YANG modules (and the server release) that validated
the stored configuration at its last commit (``YangModel.schema_digest``); NULL when it is not known: rows
from before this revision, or a document a tool wrote whole. A start whose model has that digest loads the
configuration without validating it again (at 10,000 VMs that validation was half of a restart); any other
start validates it, as before.

Revision ID: 0009_running_config_schema
Revises: 0008_event_journal
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_running_config_schema"
down_revision: str | None = "0008_event_journal"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("running_config", sa.Column("schema_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("running_config") as batch:
        batch.drop_column("schema_digest")
