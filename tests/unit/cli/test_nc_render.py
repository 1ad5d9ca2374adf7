"""What esc_nc_cli prints: the reply as netconf-console shows it, and ESC's <error> document."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_netconf.cli.nc_client import ConnectOptions
from esc_netconf.cli.nc_render import console_command, error_document, pretty, rpc_option
from esc_netconf.netconf.xmlsafe import parse_xml

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


def reply(body: str) -> bytes:
    return f'<rpc-reply xmlns="{BASE}" message-id="1">{body}</rpc-reply>'.encode()


def test_ok_reply_is_printed_as_in_the_seed() -> None:
    assert pretty(parse_xml(reply("\n   <ok/>\n"))).splitlines() == [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<rpc-reply xmlns="{BASE}" message-id="1">',
        "  <ok/>",
        "</rpc-reply>",
    ]


def test_pretty_keeps_leaf_text_and_indents_children() -> None:
    text = pretty(parse_xml(reply('<data><a xmlns="urn:x"><b> two  words </b></a></data>')))
    assert "      <b> two  words </b>" in text.splitlines()


def test_error_document_uses_the_servers_error_code() -> None:
    error = (
        "<rpc-error><error-type>application</error-type><error-tag>data-missing</error-tag>"
        "<error-severity>error</error-severity>"
        "<error-message>Snapshot image [my-snapshot-name-1] not found.</error-message>"
        '<error-info><error_code xmlns="http://www.cisco.com/esc/esc">404</error_code></error-info></rpc-error>'
    )
    assert error_document(parse_xml(reply(error))).splitlines() == [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<error xmlns="{BASE}">',
        "  <error_code>404</error_code>",
        "  <error_message>Snapshot image [my-snapshot-name-1] not found.</error_message>",
        "</error>",
    ]


@pytest.mark.parametrize("tag, code", [("invalid-value", "400"), ("data-missing", "404"), ("in-use", "409"),
                                       ("operation-failed", "500")])
def test_error_code_without_error_info_follows_the_error_tag(tag: str, code: str) -> None:
    error = f"<rpc-error><error-tag>{tag}</error-tag><error-message>why</error-message></rpc-error>"
    assert f"<error_code>{code}</error_code>" in error_document(parse_xml(reply(error)))


def test_several_errors_report_every_message() -> None:
    errors = "".join(
        f"<rpc-error><error-tag>invalid-value</error-tag><error-message>{m}</error-message></rpc-error>"
        for m in ("first.", "second.")
    )
    assert "<error_message>first. second.</error_message>" in error_document(parse_xml(reply(errors)))


def test_error_message_escapes_markup() -> None:
    error = "<rpc-error><error-tag>invalid-value</error-tag><error-message>a &lt;b&gt;</error-message></rpc-error>"
    assert "<error_message>a &lt;b&gt;</error_message>" in error_document(parse_xml(reply(error)))


def test_console_command_names_the_connection_and_request_but_never_the_password() -> None:
    options = ConnectOptions("127.0.0.1", 830, "esc-nc-admin", "secret", Path("/home/admin/.ssh/id_rsa"))
    line = console_command(options, rpc_option(Path("/tmp/tmp_esc_nc_cli.c8d9kAjcGf")))
    assert line == (
        "netconf-console2 --port=830 --host=127.0.0.1 --user=esc-nc-admin "
        "--privKeyFile=/home/admin/.ssh/id_rsa --rpc=/tmp/tmp_esc_nc_cli.c8d9kAjcGf"
    )
    assert "secret" not in line
