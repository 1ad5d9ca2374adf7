"""Which callback URLs a request may name: well-formed, few, allowed, and never the server itself."""

from __future__ import annotations

import pytest

from esc_netconf.rest.callback_urls import CallbackUrlError, CallbackUrlPolicy


def test_well_formed_urls_pass_and_are_returned_in_order() -> None:
    policy = CallbackUrlPolicy()
    urls = policy.urls([("callback", "http://a.example/x, https://10.0.0.1:8443/y"),
                        ("Callback-ESC-Events", "http://[::1]:9009/e")])
    assert urls == ("http://a.example/x", "https://10.0.0.1:8443/y", "http://[::1]:9009/e")


@pytest.mark.parametrize("url", [
    "http://[::1/", "http://a..b/x", "http://-a.example/", "http://" + "a" * 64 + ".example/", "ftp://a.example/",
    "http:///path", "http://a.example:0/", "http://a.example:70000/", "http://a b/", "http://a.example/\x00",
    "javascript:alert(1)", "http://exa_mple.com/", "http://a.example:port/",
])
def test_malformed_urls_are_refused_with_the_reason(url: str) -> None:
    with pytest.raises(CallbackUrlError, match="unusable URL"):
        CallbackUrlPolicy().urls([("callback", url)])


def test_at_most_max_urls_in_all_headers_together() -> None:
    policy = CallbackUrlPolicy(max_urls=2)
    with pytest.raises(CallbackUrlError, match="At most 2"):
        policy.urls([("callback", "http://a.example/1"), ("Callback-ESC-Events", "http://a.example/2,http://c.example/")])


def test_own_ports_on_loopback_or_the_listening_host_are_refused_unless_allowed_explicitly() -> None:
    policy = CallbackUrlPolicy(own_host="192.0.2.7", own_ports=lambda: (830, 8080, None))
    for url in ("http://127.0.0.1:830/", "http://localhost:8080/", "http://192.0.2.7:8080/", "http://[::1]:830/"):
        assert policy.undeliverable(url) == "it points at one of this server's own ports", url
    assert policy.undeliverable("http://127.0.0.1:9009/") is None
    assert policy.undeliverable("http://198.51.100.1:8080/") is None  # another machine's 8080
    explicit = CallbackUrlPolicy(allowed_hosts=["127.0.0.1:8080"], own_ports=lambda: (8080,))
    assert explicit.undeliverable("http://127.0.0.1:8080/") is None


def test_the_allow_list() -> None:
    policy = CallbackUrlPolicy(allowed_hosts=["receiver.example", "*.ops.example", "10.0.0.0/8", "[::1]:9009",
                                              "127.0.0.1:9009"])
    for allowed in ("http://receiver.example/", "https://a.b.ops.example/", "http://10.9.8.7:1234/",
                    "http://[::1]:9009/", "http://127.0.0.1:9009/x"):
        assert policy.undeliverable(allowed) is None, allowed
    for refused in ("http://other.example/", "http://ops.example/", "http://11.0.0.1/", "http://[::1]:9010/",
                    "http://127.0.0.1:9010/"):
        assert "not in callback_allowed_hosts" in (policy.undeliverable(refused) or ""), refused


@pytest.mark.parametrize("entry", ["", "a..b", "10.0.0.0/33", "host:notaport", "host:0", "[::1"])
def test_a_bad_allow_list_entry_is_an_error_naming_it(entry: str) -> None:
    with pytest.raises(CallbackUrlError, match="callback_allowed_hosts entry"):
        CallbackUrlPolicy(allowed_hosts=[entry])
