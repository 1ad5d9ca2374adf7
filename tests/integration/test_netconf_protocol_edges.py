"""What a hostile or sloppy client sends, on a live server: it must answer and stay healthy."""

from __future__ import annotations

from esc_netconf.netconf.framing import Framing, encode_message
from tests.integration.raw_client import BASE_10, RawNetconf
from tests.integration.server_process import ServerProcess

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
GET_CONFIG = f'<get-config xmlns="{BASE}"><source><running/></source></get-config>'.encode()


def _error_tags(reply: object) -> list[str]:
    element = reply.element  # type: ignore[attr-defined]
    return element.xpath("//nc:rpc-error/nc:error-tag/text()", namespaces={"nc": BASE})


def test_base_10_framing_works(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port, capabilities=BASE_10)
    try:
        assert client.session.framing is Framing.EOM
        reply = client.call(GET_CONFIG)
        assert reply.element.find(f"{{{BASE}}}data") is not None
    finally:
        client.close()


def test_base_11_chunked_framing_is_negotiated(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    try:
        assert client.session.framing is Framing.CHUNKED
        reply = client.call(GET_CONFIG)
        assert reply.element.find(f"{{{BASE}}}data") is not None
    finally:
        client.close()


def test_malformed_xml_gets_an_rpc_error_and_the_session_goes_on(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    try:
        client.send_raw(encode_message(b"<rpc message-id='9' xmlns='" + BASE.encode() + b"'><get-config>", Framing.CHUNKED))
        reply = client.reply()
        assert _error_tags(reply) == ["malformed-message"]
        assert client.call(GET_CONFIG).element.find(f"{{{BASE}}}data") is not None
    finally:
        client.close()


def test_rpc_without_message_id_is_missing_attribute(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    try:
        client.send_raw(encode_message(b"<rpc xmlns='" + BASE.encode() + b"'>" + GET_CONFIG + b"</rpc>", Framing.CHUNKED))
        assert _error_tags(client.reply()) == ["missing-attribute"]
    finally:
        client.close()


def test_entity_bomb_is_refused(shared_server: ServerProcess) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b"<rpc message-id='1' xmlns='" + BASE.encode() + b"'><get-config><source><running/></source>"
        b"<filter>&lol3;</filter></get-config></rpc>"
    )
    client = RawNetconf(shared_server.netconf_port)
    try:
        client.send_raw(encode_message(bomb, Framing.CHUNKED))
        assert _error_tags(client.reply()) == ["malformed-message"]
        assert client.call(GET_CONFIG).element.find(f"{{{BASE}}}data") is not None
    finally:
        client.close()


def test_reply_copies_every_rpc_attribute(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    try:
        rpc = (
            b"<rpc message-id='77' xmlns='" + BASE.encode() + b"' xmlns:ex='urn:example' ex:user-id='fred'>"
            + GET_CONFIG + b"</rpc>"
        )
        client.send_raw(encode_message(rpc, Framing.CHUNKED))
        reply = client.reply()
        assert reply.element.get("message-id") == "77"
        assert reply.element.get("{urn:example}user-id") == "fred"
    finally:
        client.close()


def test_hello_and_first_rpc_in_one_write(shared_server: ServerProcess) -> None:
    import socket

    import paramiko

    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", shared_server.netconf_port)))
    transport.connect(username="admin", password="admin")
    channel = transport.open_session()
    channel.settimeout(10)
    channel.invoke_subsystem("netconf")
    hello = (
        b'  \n<?xml version="1.0" encoding="UTF-8"?><hello xmlns="' + BASE.encode() + b'"><capabilities>'
        b"<capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>]]>]]>"
    )
    rpc = b"<rpc message-id='1' xmlns='" + BASE.encode() + b"'>" + GET_CONFIG + b"</rpc>"
    channel.sendall(hello + encode_message(rpc, Framing.CHUNKED))
    received = b""
    while b"\n##\n" not in received:
        chunk = channel.recv(65536)
        assert chunk, "server closed"
        received += chunk
    assert b"rpc-reply" in received and b'message-id="1"' in received
    transport.close()


def test_close_session_replies_ok_then_ends(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    reply = client.call(f'<close-session xmlns="{BASE}"/>'.encode())
    assert reply.ok
    data = client.channel.recv(1024)
    assert data == b""
    client.close()


def test_unparseable_hello_closes_the_session(shared_server: ServerProcess) -> None:
    import socket

    import paramiko

    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", shared_server.netconf_port)))
    transport.connect(username="admin", password="admin")
    channel = transport.open_session()
    channel.settimeout(10)
    channel.invoke_subsystem("netconf")
    channel.sendall(b"<hello xmlns='" + BASE.encode() + b"'><capabilities></capabilities></hello>]]>]]>")
    data = b""
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            break
        data += chunk
    assert b"<hello" in data  # our hello went out; then the session ended
    transport.close()
