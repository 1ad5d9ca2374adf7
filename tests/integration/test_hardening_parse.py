"""Issue 11, parse-time limits on a live server: 100,000 attributes on <rpc> (the reply echoes the
attributes of <rpc>, and lxml reads them in quadratic time: two minutes), too many elements, too deep.
Each is refused at once with too-big, and a second client is answered within 2 s meanwhile."""

from __future__ import annotations

import time

import pytest

from esc_netconf.netconf.framing import Framing, encode_message
from tests.integration.hardening import BASE, Bystander, error_messages, error_tags
from tests.integration.raw_client import RawNetconf
from tests.integration.server_process import ServerProcess

GET_CONFIG = f'<get-config xmlns="{BASE}"><source><running/></source></get-config>'


def _many_attributes(count: int) -> bytes:
    attributes = " ".join(f'a{i}="v"' for i in range(count))
    return f'<rpc xmlns="{BASE}" message-id="1" {attributes}>{GET_CONFIG}</rpc>'.encode()


@pytest.mark.parametrize(
    ("message", "what"),
    [
        (_many_attributes(100_000), "more than 64 attributes"),
        (f'<rpc xmlns="{BASE}" message-id="2"><get-config><source><running/></source>'.encode()
         + b"<filter>" + b"<a/>" * 600_000 + b"</filter></get-config></rpc>", "more than 500000 elements"),
        (f'<rpc xmlns="{BASE}" message-id="3">'.encode() + b"<a>" * 100 + b"</a>" * 100 + b"</rpc>",
         "deeper than 64 levels"),
    ],
    ids=["attributes", "elements", "depth"],
)
def test_oversized_shapes_are_refused_fast(shared_server: ServerProcess, message: bytes, what: str) -> None:
    attacker = RawNetconf(shared_server.netconf_port)
    try:
        with Bystander(shared_server.netconf_port) as bystander:
            start = time.monotonic()
            attacker.send_raw(encode_message(message, Framing.CHUNKED))
            reply = attacker.reply()
            refused_after = time.monotonic() - start
            time.sleep(0.5)  # the bystander keeps asking a little after the refusal
        assert error_tags(reply) == ["too-big"]
        assert what in error_messages(reply)
        assert refused_after < 5  # includes sending 1-2.4 MB through SSH on a loaded machine (was 119 s)
        assert reply.element.get("a99999") is None  # nothing of the attack is echoed
        bystander.check(minimum_answers=2)
        assert not error_tags(attacker.call(GET_CONFIG.encode()))  # the session goes on
    finally:
        attacker.close()
