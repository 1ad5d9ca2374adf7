"""The running datastore stored by part (esc_netconf.netconf.config_parts), not as one document.

A commit then writes the tenants and deployments it changed instead of the whole configuration. The
existing document moves, as it is, into one part under the key ``[]`` (a whole ``<data>``), which the
server loads like any other layout and rewrites split at its next commit; ``running_config`` keeps the
commit count and time and loses its ``xml`` column. The downgrade puts the parts back together into
one document (the pieces carry the containers between them and their parent part, so no model is needed).

Revision ID: 0007_running_config_parts
Revises: 0006_ha_lease
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from alembic import op
from lxml import etree

revision: str = "0007_running_config_parts"
down_revision: str | None = "0006_ha_lease"
branch_labels: str | None = None
depends_on: str | None = None

_WHOLE = "[]"
_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


def upgrade() -> None:
    parts = op.create_table(
        "running_config_parts",
        sa.Column("part_key", sa.Text(), nullable=False),
        sa.Column("parent_key", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("part_key", name="pk_running_config_parts"),
    )
    running = sa.table("running_config", sa.column("id", sa.Integer()), sa.column("xml", sa.LargeBinary()))
    document = op.get_bind().execute(sa.select(running.c.xml).where(running.c.id == 1)).scalar_one_or_none()
    if document:
        op.bulk_insert(parts, [{"part_key": _WHOLE, "parent_key": "", "seq": 0, "xml": bytes(document)}])
    with op.batch_alter_table("running_config") as batch:
        batch.drop_column("xml")


def downgrade() -> None:
    with op.batch_alter_table("running_config") as batch:
        batch.add_column(sa.Column("xml", sa.LargeBinary(), nullable=False, server_default=sa.text("''")))
    parts = sa.table("running_config_parts", sa.column("part_key", sa.Text()), sa.column("parent_key", sa.Text()),
                     sa.column("seq", sa.BigInteger()), sa.column("xml", sa.LargeBinary()))
    rows = op.get_bind().execute(sa.select(parts.c.part_key, parts.c.parent_key, parts.c.seq, parts.c.xml)).all()
    if rows:
        running = sa.table("running_config", sa.column("id", sa.Integer()), sa.column("xml", sa.LargeBinary()))
        op.execute(running.update().where(running.c.id == 1).values(xml=_assemble(rows)))
    op.drop_table("running_config_parts")


def _assemble(rows: Sequence[sa.Row[Any]]) -> bytes:
    """The one document the parts make up (what esc_netconf.netconf.config_parts.assemble does, frozen here)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    whole = next((r for r in rows if r.part_key == _WHOLE), None)
    root = (etree.fromstring(bytes(whole.xml), parser) if whole is not None  # noqa: S320 (safe parser)
            else etree.Element(f"{{{_BASE}}}data", nsmap=cast("dict[str, str]", {None: _BASE})))
    by_parent: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        if row.part_key != _WHOLE:
            by_parent.setdefault(row.parent_key, []).append(row)
    stack = [("", root, 0)]
    while stack:
        parent_key, parent, depth = stack.pop()
        for row in sorted(by_parent.pop(parent_key, []), key=lambda r: r.seq):
            steps = len(json.loads(row.part_key))
            node = etree.fromstring(bytes(row.xml), parser)  # noqa: S320 (safe parser)
            entry = node
            for _ in range(steps - depth - 1):
                entry = entry[0]
            target = parent
            while node is not entry:
                existing = next(target.iterchildren(node.tag), None)
                if existing is None:
                    break
                target, node = existing, node[0]
            target.append(node)
            stack.append((row.part_key, entry, steps))
    return bytes(etree.tostring(root, method="c14n"))
