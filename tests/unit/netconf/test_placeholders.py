"""The big trees of a ``get``. Placeholders: its tree holds markers, the reply holds the bytes they stand for,
exactly as the tree with the real elements would serialize (the differential tests with opdata are in
``tests/unit/northbound/test_opdata_scope.py``; these pin the splice itself). A tree of real elements is
freed in slices."""

from __future__ import annotations

import asyncio

import pytest
from lxml import etree

from esc_netconf.netconf import base_operations
from esc_netconf.netconf.messages import BASE_NS
from esc_netconf.netconf.placeholders import Placeholders
from esc_netconf.netconf.session import serialize_body

NS = "urn:example:entries"
CONTENT = b'<size>3</size><note>a &amp; b</note>'


def _data() -> etree._Element:
    return etree.fromstring(f'<data xmlns="{BASE_NS}"><top xmlns="{NS}"><!--a comment--></top></data>')


def _entry(parent: etree._Element, key: str, placeholders: Placeholders | None) -> None:
    entry = etree.SubElement(parent, f"{{{NS}}}entry")
    etree.SubElement(entry, f"{{{NS}}}key").text = key
    if placeholders is None:
        holder = etree.fromstring(b'<x xmlns="%s">%s</x>' % (NS.encode(), CONTENT))
        entry.extend(list(holder))
    else:
        placeholders.add(entry, CONTENT, NS)


def test_the_markers_are_replaced_by_their_bytes() -> None:
    real, stood_in, placeholders = _data(), _data(), Placeholders()
    for key in ("k1", "k2"):
        _entry(real[0], key, None)
        _entry(stood_in[0], key, placeholders)
    assert len(placeholders) == 2
    assert placeholders.serialize(stood_in).data == serialize_body([real]).data


def test_a_marker_where_its_namespace_is_not_the_default_one_is_parsed_in() -> None:
    """Where the bytes would mean another namespace (here the entries' namespace has a prefix), the content
    is parsed into elements instead, so the reply stays what the real tree gives."""
    def prefixed() -> etree._Element:
        return etree.fromstring(f'<data xmlns="{BASE_NS}"><e:top xmlns:e="{NS}"/></data>')

    real, stood_in, placeholders = prefixed(), prefixed(), Placeholders()
    _entry(real[0], "k1", None)
    _entry(stood_in[0], "k1", placeholders)
    body = placeholders.serialize(stood_in).data
    assert body == serialize_body([real]).data
    assert b"<e:size>3</e:size>" in body and b"placeholder" not in body


def test_a_comment_that_looks_like_a_marker_is_left_alone() -> None:
    placeholders = Placeholders()
    data = _data()
    _entry(data[0], "k1", placeholders)
    data[0].append(etree.Comment("esc-netconf-placeholder-0000000000000000:0"))
    body = placeholders.serialize(data).data
    assert b"<!--esc-netconf-placeholder-0000000000000000:0-->" in body
    assert body.count(CONTENT) == 1


async def test_a_large_tree_is_freed_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """A get's tree of all opdata as elements is freed a few thousand nodes at a time, with the loop let run
    in between, rather than in one C call that holds every thread."""
    monkeypatch.setattr(base_operations, "DISCARD_SLICE_SECONDS", 0.0)
    tree = etree.Element("data")
    for _ in range(3):
        tenant = etree.SubElement(tree, "tenant")
        for _ in range(10):
            entry = etree.SubElement(tenant, "entry")
            for _ in range(1000):
                etree.SubElement(entry, "leaf").text = "x"
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.get_running_loop().create_task(count_turns())
    await base_operations.discard_in_slices(tree)
    counter.cancel()
    assert len(tree) == 0
    assert turns >= 30  # an entry (2,000 nodes) at a time
