"""ServerSession and ClientSession: hello exchange, framing switch, rpc parsing, replies, closing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from esc_netconf.netconf.client_session import ClientSession
from esc_netconf.netconf.errors import (
    ErrorTag,
    ErrorType,
    LocalProtocolError,
    NetconfError,
)
from esc_netconf.netconf.framing import Framing, encode_message
from esc_netconf.netconf.messages import (
    BASE_NS,
    CAP_BASE_10,
    CAP_BASE_11,
    NEED_DATA,
    BadRpc,
    Closed,
    Hello,
    Notification,
    Rpc,
    RpcReply,
)
from esc_netconf.netconf.session import ServerSession, SessionState, build_hello

from .helpers import BOTH, ConnectionPair, drain

NS = {"nc": BASE_NS}
DECL = b'<?xml version="1.0" encoding="UTF-8"?>'


def established(client_caps: tuple[str, ...] = BOTH) -> ConnectionPair:
    pair = ConnectionPair(client_capabilities=client_caps)
    pair.handshake()
    return pair


def chunked(xml: bytes) -> bytes:
    return encode_message(xml, Framing.CHUNKED)


def rpc_bytes(inner: str = "<get/>", attrs: str = 'message-id="101"') -> bytes:
    return f'<rpc xmlns="{BASE_NS}" {attrs}>{inner}</rpc>'.encode()


# -- hello exchange ---------------------------------------------------------------------------


def test_server_hello_carries_session_id_and_capabilities() -> None:
    server = ServerSession(42, [CAP_BASE_10, CAP_BASE_11, "urn:x:cap"])
    data = server.start()
    assert data.startswith(DECL) and data.endswith(b"]]>]]>")
    hello = etree.fromstring(data[: -len(b"]]>]]>")])
    assert hello.findtext("nc:session-id", namespaces=NS) == "42"
    caps = [c.text for c in hello.iterfind("nc:capabilities/nc:capability", NS)]
    assert caps == [CAP_BASE_10, CAP_BASE_11, "urn:x:cap"]
    assert server.state is SessionState.HELLO_SENT


@pytest.mark.parametrize(
    ("client_caps", "framing"),
    [(BOTH, Framing.CHUNKED), ((CAP_BASE_10,), Framing.EOM), ((CAP_BASE_11,), Framing.CHUNKED)],
)
def test_framing_is_negotiated(client_caps: tuple[str, ...], framing: Framing) -> None:
    pair = ConnectionPair(client_capabilities=client_caps)
    seen_by_client, seen_by_server = pair.handshake()
    assert seen_by_client.session_id == 1 and seen_by_server.session_id is None
    assert pair.server.client_capabilities == client_caps
    assert pair.client.server_capabilities == BOTH
    assert pair.server.framing is framing and pair.client.framing is framing
    assert pair.server.state is SessionState.ESTABLISHED and pair.client.state is SessionState.ESTABLISHED


def test_server_without_base11_stays_in_eom() -> None:
    pair = ConnectionPair(server_capabilities=(CAP_BASE_10,))
    pair.handshake()
    assert pair.server.framing is Framing.EOM and pair.client.framing is Framing.EOM


def test_hello_and_first_chunked_rpc_in_one_read() -> None:
    server = ServerSession(3, BOTH)
    server.start()
    hello = b"\r\n  " + build_hello(BOTH, None) + b"]]>]]>"
    server.receive_data(hello + chunked(b"\n" + DECL + rpc_bytes()))
    first, second = drain(server)
    assert isinstance(first, Hello) and isinstance(second, Rpc)
    assert second.message_id == "101"
    assert etree.QName(second.operation).localname == "get"


def test_client_hello_in_chunked_framing_is_accepted() -> None:
    server = ServerSession(3, BOTH)
    server.start()
    server.receive_data(chunked(build_hello(BOTH, None)) + chunked(rpc_bytes()))
    events = drain(server)
    assert [type(e) for e in events] == [Hello, Rpc]


def test_client_hello_read_before_our_hello_is_sent() -> None:
    server = ServerSession(3, BOTH)
    server.receive_data(build_hello(BOTH, None) + b"]]>]]>")
    assert isinstance(server.next_event(), Hello)
    assert server.state is SessionState.HELLO_RECEIVED
    assert server.next_event() is NEED_DATA
    server.start()
    assert server.state is SessionState.ESTABLISHED and server.framing is Framing.CHUNKED


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        (build_hello(BOTH, 5), "session-id"),
        (build_hello(["urn:x:only"], None), "neither base:1.0 nor base:1.1"),
        (b"<hello", "bad hello"),
        (rpc_bytes(), "expected <hello>"),
        (b'<hello xmlns="urn:wrong"/>', "expected <hello>"),
    ],
)
def test_bad_client_hello_closes(hello: bytes, reason: str) -> None:
    server = ServerSession(3, BOTH)
    server.start()
    server.receive_data(hello + b"]]>]]>")
    event = server.next_event()
    assert isinstance(event, Closed) and reason in event.reason
    assert server.state is SessionState.CLOSED and server.close_error is not None
    assert server.next_event() == event


def test_client_reads_the_server_hello_before_sending_its_own() -> None:
    server = ServerSession(9, BOTH)
    client = ClientSession()
    client.receive_data(server.start())
    hello = client.next_event()
    assert isinstance(hello, Hello) and hello.session_id == 9 and client.session_id == 9
    assert client.state is SessionState.HELLO_RECEIVED
    with pytest.raises(LocalProtocolError):
        client.rpc(b"<get/>")
    server.receive_data(client.start((CAP_BASE_10,)))
    assert client.state is SessionState.ESTABLISHED and client.framing is Framing.EOM
    assert isinstance(server.next_event(), Hello) and server.framing is Framing.EOM
    assert drain(server) == []
    server.receive_data(client.rpc(b"<get/>"))
    rpc = server.next_event()
    assert isinstance(rpc, Rpc) and rpc.message_id == "1"


def test_server_hello_without_session_id_closes_the_client() -> None:
    client = ClientSession()
    client.start()
    client.receive_data(build_hello(BOTH, None) + b"]]>]]>")
    event = client.next_event()
    assert isinstance(event, Closed) and "session-id" in event.reason


# -- rpc parsing -------------------------------------------------------------------------------


def test_rpc_attributes_and_operation() -> None:
    pair = established()
    xml = rpc_bytes('<get-config><source><running/></source></get-config>',
                    'message-id="7" xmlns:x="urn:x" x:trace="abc" user="me"')
    (event,) = pair.server_events(chunked(xml))
    assert isinstance(event, Rpc)
    assert event.attributes == {"message-id": "7", "{urn:x}trace": "abc", "user": "me"}
    assert event.operation.tag == f"{{{BASE_NS}}}get-config"
    assert event.element.tag == f"{{{BASE_NS}}}rpc"


def test_rpc_without_message_id_is_a_bad_rpc_and_the_session_goes_on() -> None:
    pair = established()
    (event,) = pair.server_events(chunked(rpc_bytes(attrs='x="1"')))
    assert isinstance(event, BadRpc)
    assert event.message_id is None and event.attributes == {"x": "1"}
    assert event.error.tag is ErrorTag.MISSING_ATTRIBUTE and event.error.error_type is ErrorType.RPC
    assert event.error.info == {"bad-attribute": "message-id", "bad-element": "rpc"}
    reply = pair.server.reply_error(event.attributes, event.error)
    (answer,) = pair.client_events(reply)
    assert isinstance(answer, RpcReply) and answer.message_id is None
    info = answer.element.find("nc:rpc-error/nc:error-info", NS)
    assert info is not None and info.findtext("nc:bad-attribute", namespaces=NS) == "message-id"
    (next_event,) = pair.server_events(chunked(rpc_bytes()))
    assert isinstance(next_event, Rpc)


@pytest.mark.parametrize("inner", ["", "<get/><get-config/>", "text only"])
def test_rpc_without_exactly_one_operation_is_a_bad_rpc(inner: str) -> None:
    pair = established()
    (event,) = pair.server_events(chunked(rpc_bytes(inner)))
    assert isinstance(event, BadRpc) and event.message_id == "101"
    assert event.error.tag is ErrorTag.MALFORMED_MESSAGE


def test_operation_child_ignores_comments_and_whitespace() -> None:
    pair = established()
    (event,) = pair.server_events(chunked(rpc_bytes("\n  <!-- c --> <get/>\n")))
    assert isinstance(event, Rpc) and event.operation.tag == f"{{{BASE_NS}}}get"


@pytest.mark.parametrize(
    "xml",
    [b"<rpc message-id='1'", b'<!DOCTYPE r [<!ENTITY e "x">]><rpc message-id="1"><get/></rpc>', b"\xff\xfe"],
)
def test_unparsable_message_is_malformed_and_the_session_goes_on(xml: bytes) -> None:
    pair = established()
    events = pair.server_events(chunked(xml) + chunked(rpc_bytes()))
    assert isinstance(events[0], BadRpc) and events[0].error.tag is ErrorTag.MALFORMED_MESSAGE
    assert isinstance(events[1], Rpc)


def test_non_rpc_message_is_a_bad_rpc_echoing_message_id() -> None:
    pair = established()
    (event,) = pair.server_events(chunked(b'<foo xmlns="urn:x" message-id="9"/>'))
    assert isinstance(event, BadRpc) and event.message_id == "9"
    assert event.error.tag is ErrorTag.MALFORMED_MESSAGE


def test_rpc_in_wrong_namespace_is_a_bad_rpc() -> None:
    pair = established()
    (event,) = pair.server_events(chunked(b'<rpc message-id="3"><get/></rpc>'))
    assert isinstance(event, BadRpc) and event.message_id == "3"


def test_second_hello_closes_the_session() -> None:
    pair = established()
    (event,) = pair.server_events(chunked(build_hello(BOTH, None)))
    assert isinstance(event, Closed) and "second <hello>" in event.reason


# -- replies and notifications ------------------------------------------------------------------


def test_reply_copies_every_attribute_including_namespaced_ones() -> None:
    pair = established()
    attrs = {"message-id": "7", "{urn:x}trace": "abc", "user": "me"}
    data = pair.server.reply(attrs, None)
    assert data.startswith(b"\n#") and DECL in data
    (reply,) = pair.client_events(data)
    assert isinstance(reply, RpcReply) and reply.message_id == "7" and reply.ok
    assert dict(reply.element.attrib) == attrs


def test_reply_body_in_order_and_foreign_nodes_are_copied() -> None:
    pair = established()
    source = etree.fromstring(b'<data xmlns="urn:d"><a>1</a></data>')
    inner = source[0]
    loose = etree.Element("{urn:e}b")
    data = pair.server.reply({"message-id": "1"}, [inner, loose])
    assert inner.getparent() is source  # the caller's tree is left intact
    (reply,) = pair.client_events(data)
    assert isinstance(reply, RpcReply) and not reply.ok
    assert [c.tag for c in reply.element] == ["{urn:d}a", "{urn:e}b"]
    empty = pair.server.reply({"message-id": "2"}, [])
    (reply2,) = pair.client_events(empty)
    assert isinstance(reply2, RpcReply) and len(reply2.element) == 0


def test_reply_error_renders_every_error() -> None:
    from esc_netconf.netconf.errors import NetconfErrors

    pair = established((CAP_BASE_10,))
    errors = NetconfErrors([NetconfError(ErrorTag.DATA_MISSING, "a"), NetconfError(ErrorTag.IN_USE, "b")])
    data = pair.server.reply_error({"message-id": "5"}, errors)
    assert data.endswith(b"]]>]]>")
    (reply,) = pair.client_events(data)
    assert isinstance(reply, RpcReply)
    assert [e.findtext("nc:error-tag", namespaces=NS) for e in reply.errors] == ["data-missing", "in-use"]


def test_notification_round_trip() -> None:
    pair = established()
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone(timedelta(hours=2)))
    payload = etree.fromstring(b'<escEvent xmlns="http://www.cisco.com/esc/esc"><status>SUCCESS</status></escEvent>')
    data = pair.server.notification(when, payload)
    assert b"<eventTime>2024-05-06T07:08:09.123000+02:00</eventTime>" in data
    (event,) = pair.client_events(data)
    assert isinstance(event, Notification) and event.event_time == when
    assert event.payload is not None and event.payload.findtext("{http://www.cisco.com/esc/esc}status") == "SUCCESS"
    utc = pair.server.notification(datetime(2024, 1, 1, tzinfo=UTC), etree.Element("x"))
    assert b"<eventTime>2024-01-01T00:00:00Z</eventTime>" in utc


def test_encode_uses_the_negotiated_framing() -> None:
    assert established().server.encode(b"<x/>") == b"\n#4\n<x/>\n##\n"
    assert established((CAP_BASE_10,)).server.encode(b"<x/>") == b"<x/>]]>]]>"


# -- illegal calls and closing ----------------------------------------------------------------


def test_illegal_calls_raise_and_change_nothing() -> None:
    server = ServerSession(1, BOTH)
    with pytest.raises(LocalProtocolError):
        server.reply({"message-id": "1"}, None)
    with pytest.raises(LocalProtocolError):
        server.encode(b"<x/>")
    server.start()
    with pytest.raises(LocalProtocolError):
        server.start()
    with pytest.raises(LocalProtocolError):
        server.notification(datetime.now(UTC), etree.Element("x"))
    assert server.state is SessionState.HELLO_SENT
    client = ClientSession()
    with pytest.raises(LocalProtocolError):
        client.rpc(b"<get/>")
    assert client.state is SessionState.IDLE


def test_eof_closes() -> None:
    pair = established()
    pair.server.receive_data(b"")
    event = pair.server.next_event()
    assert event == Closed("EOF", eof=True) and pair.server.state is SessionState.CLOSED
    with pytest.raises(LocalProtocolError):
        pair.server.reply({"message-id": "1"}, None)
    pair.server.receive_data(b"more bytes after close are dropped")
    assert pair.server.next_event() == event


def test_eof_in_the_middle_of_a_message() -> None:
    pair = established()
    pair.server.receive_data(b"\n#100\n<rpc")
    assert pair.server.next_event() is NEED_DATA
    pair.server.receive_data(b"")
    event = pair.server.next_event()
    assert isinstance(event, Closed) and "middle" in event.reason


def test_messages_before_eof_are_still_delivered() -> None:
    pair = established()
    pair.server.receive_data(chunked(rpc_bytes()))
    pair.server.receive_data(b"")
    events = drain(pair.server)
    assert [type(e) for e in events] == [Rpc, Closed]


def test_close_after_close_session() -> None:
    pair = established()
    reply = pair.server.reply({"message-id": "1"}, None)
    pair.server.close("close-session")
    assert pair.server.next_event() == Closed("close-session")
    assert reply.endswith(b"\n##\n")


def test_framing_error_and_too_big_close_with_the_cause_kept() -> None:
    pair = ConnectionPair(max_message_size=400)
    pair.handshake()
    (event,) = pair.server_events(b"\n#401\n")
    assert isinstance(event, Closed) and "framing error" in event.reason
    assert pair.server.close_error is not None and pair.server.close_error.error_tag is ErrorTag.TOO_BIG
    bad = established()
    (event2,) = bad.server_events(b"\n#0\n")
    assert isinstance(event2, Closed)


def test_pipelined_rpcs_through_a_connection_pair() -> None:
    pair = established()
    op = etree.fromstring(f'<get-config xmlns="{BASE_NS}"><source><running/></source></get-config>'.encode())
    wire = b"".join(pair.client.rpc(op if i % 2 else etree.tostring(op)) for i in range(64))
    rpcs = pair.server_events(wire)
    assert [r.message_id for r in rpcs if isinstance(r, Rpc)] == [str(i) for i in range(1, 65)]
    answers = b"".join(pair.server.reply(r.attributes, [etree.Element(f"{{{BASE_NS}}}data")]) for r in rpcs
                       if isinstance(r, Rpc))
    replies = pair.client_events(answers)
    assert [r.message_id for r in replies if isinstance(r, RpcReply)] == [str(i) for i in range(1, 65)]


def test_client_message_id_is_escaped_and_explicit() -> None:
    pair = established()
    (event,) = pair.server_events(pair.client.rpc(b"<get/>", message_id='a"<&b'))
    assert isinstance(event, Rpc) and event.message_id == 'a"<&b'


def test_client_closes_on_unexpected_server_message() -> None:
    pair = established()
    (event,) = pair.client_events(pair.server.encode(b"<surprise/>"))
    assert isinstance(event, Closed)


@settings(max_examples=200, deadline=None)
@given(garbage=st.lists(st.binary(max_size=60), max_size=6), framing_11=st.booleans())
def test_fuzz_server_only_produces_events(garbage: list[bytes], framing_11: bool) -> None:
    pair = established(BOTH if framing_11 else (CAP_BASE_10,))
    allowed = (Rpc, BadRpc, Closed)
    for piece in [*garbage, b""]:
        for event in pair.server_events(piece) if piece else drain_after_eof(pair.server):
            assert isinstance(event, allowed)
    assert pair.server.state is SessionState.CLOSED


def drain_after_eof(server: ServerSession) -> list[object]:
    server.receive_data(b"")
    return list(drain(server))
