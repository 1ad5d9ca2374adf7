"""Kept replies: a serialized body sent again gives the bytes a fresh reply would, and the cache holds the
answers of one generation of the running configuration only, within its bounds."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from esc_netconf.netconf.messages import BASE_NS, CAP_BASE_10
from esc_netconf.netconf.reply_cache import ReplyCache, operation_key
from esc_netconf.netconf.session import SerializedBody, serialize_body

from .helpers import BOTH, ConnectionPair

DATA = (
    f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="http://www.cisco.com/esc/esc"><tenants><tenant>'
    "<name>a&amp;b &lt;c&gt;</name></tenant></tenants></esc_datamodel>"
    '<x:other xmlns:x="urn:x" x:attr="1">text</x:other></data>'
).encode()

_attribute_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), max_size=12
)


@pytest.mark.parametrize("client_caps", [BOTH, (CAP_BASE_10,)], ids=["chunked", "eom"])
@settings(max_examples=15, deadline=None)
@given(message_id=st.one_of(st.from_regex(r"[ -~]{0,12}", fullmatch=True), _attribute_values),
       other=_attribute_values)
def test_a_kept_body_gives_the_same_bytes_as_a_fresh_reply(
    client_caps: tuple[str, ...], message_id: str, other: str
) -> None:
    pair = ConnectionPair(client_capabilities=client_caps)
    pair.handshake()
    data = etree.fromstring(DATA)
    kept = serialize_body([copy.deepcopy(data)])
    for attributes in (
        {"message-id": message_id},  # built from bytes when plain
        {"message-id": message_id, "other": other},
        {"message-id": message_id, "{urn:test:attr}other": other},  # always by lxml
    ):
        assert pair.server.reply_serialized(attributes, kept) == pair.server.reply(attributes, [copy.deepcopy(data)])


def test_an_empty_body_is_an_empty_reply() -> None:
    pair = ConnectionPair()
    pair.handshake()
    assert serialize_body([]) == SerializedBody(b"")
    event = pair.client_events(pair.server.reply_serialized({"message-id": "1"}, serialize_body([])))[0]
    assert len(event.element) == 0  # type: ignore[union-attr]


def test_answers_belong_to_one_generation() -> None:
    cache = ReplyCache()
    cache.put(1, b"k", SerializedBody(b"<data/>"))
    assert cache.get(1, b"k") == SerializedBody(b"<data/>")
    assert cache.get(1, b"other") is None
    assert cache.get(2, b"k") is None  # another configuration
    cache.put(2, b"k2", SerializedBody(b"<data>2</data>"))
    assert cache.get(1, b"k") is None  # the old generation's answers are gone for good
    assert cache.get(2, b"k2") == SerializedBody(b"<data>2</data>")


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = ReplyCache(max_entries=2, max_bytes=100)
    for key in (b"a", b"b", b"c"):
        cache.put(7, key, SerializedBody(b"x" * 10))
    assert cache.get(7, b"a") is None and cache.get(7, b"c") is not None
    cache.put(7, b"big", SerializedBody(b"x" * 200))  # larger than the whole cache: not kept
    assert cache.get(7, b"big") is None and cache.get(7, b"c") is not None
    cache.put(7, b"d", SerializedBody(b"x" * 90))  # 91 + 11 bytes with "c": over 100
    assert cache.get(7, b"b") is None and cache.get(7, b"c") is None  # by entries, then by bytes
    assert cache.get(7, b"d") is not None


def test_the_key_holds_the_namespaces_a_filter_may_use() -> None:
    def operation(prefix_ns: str) -> etree._Element:
        rpc = etree.fromstring(
            f'<rpc xmlns="{BASE_NS}" xmlns:e="{prefix_ns}" message-id="1"><get-config><source><running/></source>'
            '<filter type="xpath" select="/e:esc_datamodel"/></get-config></rpc>'.encode()
        )
        return rpc[0]

    assert operation_key(operation("urn:a")) != operation_key(operation("urn:b"))
    assert operation_key(operation("urn:a")) == operation_key(operation("urn:a"))
