"""A repeated ``get-config`` is answered from the kept reply (``reply_cache``), often straight from the
session's transport thread: it must never be stale. Two sessions on a live server: one edits, locks,
fails an edit and deletes, the other reads; every read is compared with an answer the server cannot have
kept (the same operation with a namespace declaration never sent before, so a key never seen) and with
what the edit must have produced."""

from __future__ import annotations

import itertools

from lxml import etree

from tests.integration.raw_client import BASE_10, RawNetconf
from tests.integration.samples import ESC_NS, tenant_only
from tests.integration.server_process import ServerProcess

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
MONITORING = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
_fresh = itertools.count()


def _get_config(filter_xml: str = "", extra: str = "") -> bytes:
    return (f'<get-config xmlns="{BASE}"{extra}><source><running/></source>{filter_xml}</get-config>').encode()


def _data(client: RawNetconf, operation: bytes) -> bytes:
    reply = client.call(operation)
    assert not reply.errors, etree.tostring(reply.element)
    data = reply.element.find(f"{{{BASE}}}data")
    assert data is not None
    return etree.tostring(data, method="c14n")


def _uncached(client: RawNetconf, filter_xml: str = "") -> bytes:
    """The answer computed now: an operation the server has never seen, so no kept reply matches."""
    return _data(client, _get_config(filter_xml, f' xmlns:fresh{next(_fresh)}="urn:test:uncached"'))


def _tenants(data_c14n: bytes) -> set[str]:
    data = etree.fromstring(data_c14n)
    return set(data.xpath("//e:tenants/e:tenant/e:name/text()", namespaces={"e": ESC_NS}))


def _edit(client: RawNetconf, config: str) -> object:
    return client.call(f'<edit-config xmlns="{BASE}"><target><running/></target>{config}</edit-config>'.encode())


def _delete_tenant(name: str) -> str:
    return (f'<config xmlns="{BASE}" xmlns:nc="{BASE}"><esc_datamodel xmlns="{ESC_NS}"><tenants>'
            f'<tenant nc:operation="delete"><name>{name}</name></tenant></tenants></esc_datamodel></config>')


def _reads_agree(reader: RawNetconf, filter_xml: str = "") -> bytes:
    """Three reads in a row (the second and third from the kept reply) equal the uncached answer."""
    plain = _get_config(filter_xml)
    first, second, third = (_data(reader, plain) for _ in range(3))
    fresh = _uncached(reader, filter_xml)
    assert first == second == third == fresh
    return fresh


def test_get_config_is_never_stale_across_sessions(shared_server: ServerProcess) -> None:
    writer = RawNetconf(shared_server.netconf_port)
    reader = RawNetconf(shared_server.netconf_port, capabilities=BASE_10)  # the other framing too
    tenant_filter = f'<filter type="subtree"><esc_datamodel xmlns="{ESC_NS}"><tenants/></esc_datamodel></filter>'
    try:
        before = _tenants(_reads_agree(reader))
        _reads_agree(reader, tenant_filter)

        assert _edit(writer, tenant_only("cache-a")).ok  # type: ignore[attr-defined]
        assert _tenants(_reads_agree(reader)) == before | {"cache-a"}
        assert _tenants(_reads_agree(reader, tenant_filter)) == before | {"cache-a"}
        assert _tenants(_reads_agree(writer)) == before | {"cache-a"}  # the editing session itself

        assert writer.call(f'<lock xmlns="{BASE}"><target><running/></target></lock>'.encode()).ok
        assert _edit(writer, tenant_only("cache-b")).ok  # type: ignore[attr-defined]
        assert _tenants(_reads_agree(reader)) == before | {"cache-a", "cache-b"}  # reads pass a lock
        refused = _edit(reader, tenant_only("cache-c"))
        assert refused.errors  # type: ignore[attr-defined]
        bad = _edit(writer, f'<config xmlns="{BASE}"><esc_datamodel xmlns="{ESC_NS}"><tenants><tenant>'
                            "<no-such-leaf/></tenant></tenants></esc_datamodel></config>")
        assert bad.errors  # type: ignore[attr-defined]
        assert _tenants(_reads_agree(reader)) == before | {"cache-a", "cache-b"}

        assert _edit(writer, _delete_tenant("cache-a")).ok  # type: ignore[attr-defined]
        assert _tenants(_reads_agree(reader)) == before | {"cache-b"}
        assert _tenants(_reads_agree(reader, tenant_filter)) == before | {"cache-b"}
        assert writer.call(f'<unlock xmlns="{BASE}"><target><running/></target></unlock>'.encode()).ok
        # two commits with no read between: the running tree and its twin take turns, so the tree the
        # kept reply was made from is the running tree again, with other content
        for name in ("cache-d", "cache-e"):
            assert _edit(writer, tenant_only(name)).ok  # type: ignore[attr-defined]
        assert _tenants(_reads_agree(reader)) == before | {"cache-b", "cache-d", "cache-e"}
        for name in ("cache-b", "cache-d", "cache-e"):
            assert _edit(writer, _delete_tenant(name)).ok  # type: ignore[attr-defined]
        assert _tenants(_reads_agree(reader)) == before
    finally:
        writer.close()
        reader.close()


def test_kept_replies_echo_each_rpcs_attributes_and_count_in_statistics(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    stats = (f'<get xmlns="{BASE}"><filter type="subtree"><netconf-state xmlns="{MONITORING}"><statistics>'
             "<in-rpcs/></statistics></netconf-state></filter></get>").encode()
    try:
        def in_rpcs() -> int:
            return int(client.call(stats).element.findtext(f".//{{{MONITORING}}}in-rpcs") or "-1")

        client.call(_get_config())
        start = in_rpcs()
        for n in range(5):
            rpc = (f'<rpc xmlns="{BASE}" xmlns:t="urn:test:attr" message-id="m&amp;{n}" t:tag="v&lt;{n}">'
                   ).encode() + _get_config() + b"</rpc>"
            client.send_raw(client.session.encode(rpc))
            reply = client.reply()
            assert reply.element.get("message-id") == f"m&{n}"
            assert reply.element.get("{urn:test:attr}tag") == f"v<{n}"
        assert in_rpcs() == start + 6  # five get-configs, one get
    finally:
        client.close()
