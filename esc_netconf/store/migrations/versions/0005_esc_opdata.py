"""ESC's opdata keys: deployments gain service_name/service_version ('-') and a service_id; tenants their
VIM project.

Why a data migration: opdata keys a deployment by ``[deployment_name service_name service_version]`` and
shows its ``service_id``; a record written before this revision has neither.  The two key columns are added
(``-`` for every existing deployment: none had a service registration) and each record's JSON gets the same
values plus a ``service_id`` made here, once, so it stays the same across restarts.  Tenant records get
``vim_project`` (the project is named after the tenant: that is how the VIM project was made before) and
``managed`` (ESC made it).

Revision ID: 0005_esc_opdata
Revises: 0004_callbacks
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

revision: str = "0005_esc_opdata"
down_revision: str | None = "0004_callbacks"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = sa.String(255)
_NO_SERVICE = "-"

_deployments = sa.table("core_deployments", sa.column("dep_id", _KEY), sa.column("data", sa.JSON()))
_tenants = sa.table("core_tenants", sa.column("name", _KEY), sa.column("data", sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table("core_deployments") as batch:
        batch.add_column(sa.Column("service_name", _KEY, nullable=False, server_default=_NO_SERVICE))
        batch.add_column(sa.Column("service_version", _KEY, nullable=False, server_default=_NO_SERVICE))
    op.create_index("ix_core_deployments_tenant_name_service", "core_deployments",
                    ["tenant", "name", "service_name", "service_version"])
    bind = op.get_bind()
    for dep_id, data in bind.execute(sa.select(_deployments.c.dep_id, _deployments.c.data)).all():
        record: dict[str, Any] = dict(cast(Mapping[str, Any], data))
        record.setdefault("service_name", _NO_SERVICE)
        record.setdefault("service_version", _NO_SERVICE)
        if not record.get("service_id"):
            record["service_id"] = str(uuid.uuid4())
        bind.execute(sa.update(_deployments).where(_deployments.c.dep_id == dep_id).values(data=record))
    for name, data in bind.execute(sa.select(_tenants.c.name, _tenants.c.data)).all():
        tenant: dict[str, Any] = dict(cast(Mapping[str, Any], data))
        tenant.setdefault("vim_project", name)
        tenant.setdefault("managed", True)
        bind.execute(sa.update(_tenants).where(_tenants.c.name == name).values(data=tenant))


def downgrade() -> None:
    op.drop_index("ix_core_deployments_tenant_name_service", table_name="core_deployments")
    with op.batch_alter_table("core_deployments") as batch:
        batch.drop_column("service_version")
        batch.drop_column("service_name")
