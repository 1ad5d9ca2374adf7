"""Snapshot records as XML: ``<snapshots>`` with one ``<snapshot>`` per record.

The element is the ``esc_datamodel/opdata/snapshots`` container of ``yang/esc.yang`` (namespace
``http://www.cisco.com/esc/esc``), ready to be hung under ``opdata``; the REST XML listing reuses it.
Leaves follow the YANG list (CONTRACT section 4's fields, key ``id`` first); a value not known yet (no
end date while the snapshot is being made, no volume snapshot for an image-backed VM) is left out, as
YANG optional leaves are.  Dates are RFC 3339 in UTC with milliseconds, as in the seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from lxml import etree

from esc_netconf.core.backup import SnapshotRecord
from esc_netconf.nsmap import default_namespace

__all__ = ["ESC_NS", "snapshot_element", "snapshots_element"]

ESC_NS = "http://www.cisco.com/esc/esc"


def _q(name: str) -> str:
    return f"{{{ESC_NS}}}{name}"


def _date(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _leaf(parent: etree._Element, name: str, value: str | None) -> None:
    if value is not None:
        etree.SubElement(parent, _q(name)).text = value


def snapshot_element(record: SnapshotRecord, parent: etree._Element | None = None) -> etree._Element:
    """One ``<snapshot>`` (list entry keyed by ``id``), built in place under ``parent`` when given
    (moving a finished element into another tree costs lxml a namespace walk per element)."""
    tag = _q("snapshot")
    if parent is not None:
        element = etree.SubElement(parent, tag)
    else:
        element = etree.Element(tag, nsmap=default_namespace(ESC_NS))
    _leaf(element, "id", record.id)
    _leaf(element, "name", record.name)
    _leaf(element, "creation_start_date", _date(record.creation_start_date))
    _leaf(element, "creation_end_date", _date(record.creation_end_date))
    _leaf(element, "status", record.status.value)
    _leaf(element, "status_message", record.status_message or None)
    _leaf(element, "created_from_generated_vm_name", record.generated_vm_name)
    _leaf(element, "vim_id", record.vim_id)
    _leaf(element, "tenant", record.tenant)
    _leaf(element, "volume_snapshot_id", record.volume_snapshot_id)
    return element


def snapshots_element(records: Iterable[SnapshotRecord]) -> etree._Element:
    """``<snapshots>`` with one ``<snapshot>`` per record, in the order given."""
    container = etree.Element(_q("snapshots"), nsmap=default_namespace(ESC_NS))
    for record in records:
        snapshot_element(record, container)
    return container
