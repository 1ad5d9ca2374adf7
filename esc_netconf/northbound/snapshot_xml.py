"""Snapshot records as XML: ``<snapshots>`` with one ``<snapshot>`` per record.

The element is the ``esc_datamodel/opdata/snapshots`` container of ``yang/esc.yang`` (namespace
``http://www.cisco.com/esc/esc``), ready to be hung under ``opdata``; the REST XML listing reuses it.
Leaves follow the YANG list (CONTRACT section 4's fields, key ``id`` first); a value not known yet (no
end date while the snapshot is being made, no volume snapshot for an image-backed VM) is left out, as
YANG optional leaves are.  Dates are RFC 3339 in UTC with milliseconds, as in the seed.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from esc_netconf.core.backup import SnapshotRecord
from esc_netconf.nsmap import default_namespace
from esc_netconf.northbound.esc_xml import ESC_NS, date_time, leaf, q

__all__ = ["ESC_NS", "snapshot_element", "snapshots_element"]


def snapshot_element(record: SnapshotRecord, parent: etree._Element | None = None) -> etree._Element:
    """One ``<snapshot>`` (list entry keyed by ``id``), built in place under ``parent`` when given
    (moving a finished element into another tree costs lxml a namespace walk per element)."""
    tag = q("snapshot")
    if parent is not None:
        element = etree.SubElement(parent, tag)
    else:
        element = etree.Element(tag, nsmap=default_namespace(ESC_NS))
    leaf(element, "id", record.id)
    leaf(element, "name", record.name)
    leaf(element, "creation_start_date", date_time(record.creation_start_date))
    leaf(element, "creation_end_date", date_time(record.creation_end_date))
    leaf(element, "status", record.status.value)
    leaf(element, "status_message", record.status_message or None)
    leaf(element, "created_from_generated_vm_name", record.generated_vm_name)
    leaf(element, "vim_id", record.vim_id)
    leaf(element, "tenant", record.tenant)
    leaf(element, "volume_snapshot_id", record.volume_snapshot_id)
    return element


def snapshots_element(records: Iterable[SnapshotRecord]) -> etree._Element:
    """``<snapshots>`` with one ``<snapshot>`` per record, in the order given."""
    container = etree.Element(q("snapshots"), nsmap=default_namespace(ESC_NS))
    for record in records:
        snapshot_element(record, container)
    return container
