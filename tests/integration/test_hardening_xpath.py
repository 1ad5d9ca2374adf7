"""Issue 11, bounded work per request: XPath filters that would run for minutes, or call EXSLT, on a live
server. The attacker gets an rpc-error; a second client is answered within 2 s meanwhile."""

from __future__ import annotations

import time

from tests.integration.hardening import BASE, Bystander, error_messages, error_tags
from tests.integration.raw_client import RawNetconf
from tests.integration.server_process import ServerProcess

# count(//*) nested five deep: N^5 node visits for the N nodes of <get> (about 10^10 here: minutes).
NESTED_COUNT = "//*[count(//*[count(//*[count(//*[count(//*) > 0]) > 0]) > 0]) > 0]"


def _get(select: str) -> bytes:
    return f'<get xmlns="{BASE}"><filter type="xpath" select="{select}"/></get>'.encode()


def test_runaway_xpath_is_stopped_and_others_are_served(shared_server: ServerProcess) -> None:
    attacker = RawNetconf(shared_server.netconf_port)
    try:
        with Bystander(shared_server.netconf_port) as bystander:
            start = time.monotonic()
            reply = attacker.call(_get(NESTED_COUNT))
            refused_after = time.monotonic() - start
        assert error_tags(reply) == ["too-big"]
        assert "exceeded its budget" in error_messages(reply)
        assert refused_after < 10
        bystander.check()
        assert not error_tags(attacker.call(_get("netconf-state/statistics")))  # the session goes on
    finally:
        attacker.close()


def test_exslt_and_extension_functions_are_refused_by_name(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    try:
        for function, select in (
            ("re:test", "//*[re:test(name(), '(a+)+$')]"),
            ("str:tokenize", "str:tokenize('a b')"),
            ("document", "document('/etc/passwd')"),
        ):
            start = time.monotonic()
            reply = client.call(_get(select))
            assert time.monotonic() - start < 2
            assert error_tags(reply) == ["invalid-value"], select
            assert f"'{function}'" in error_messages(reply)
    finally:
        client.close()


def test_core_functions_still_work(shared_server: ServerProcess) -> None:
    client = RawNetconf(shared_server.netconf_port)
    try:
        reply = client.call(_get("netconf-state/statistics[count(*) > 0 and starts-with(name(), 'stat')]"))
        assert not error_tags(reply)
        assert reply.element.xpath("//*[local-name()='in-rpcs']")
    finally:
        client.close()
