"""escadm's argument handling that needs no server: k=v parsing, URLs, usage errors."""

from __future__ import annotations

import io

import pytest

from esc_netconf.cli.admin_client import base_url
from esc_netconf.cli.errors import UsageError
from esc_netconf.cli.escadm import main, parse_assignments


def test_assignments_keep_the_order_given() -> None:
    assert list(parse_assignments(["b=2", "a = 1"]).items()) == [("b", "2"), ("a", "1")]


def test_a_value_may_contain_equals() -> None:
    assert parse_assignments(["k=a=b"]) == {"k": "a=b"}


@pytest.mark.parametrize("words, why", [(["novalue"], "key=value"), (["=1"], "key=value"), (["a=1", "a=2"], "twice")])
def test_bad_assignments_are_refused(words: list[str], why: str) -> None:
    with pytest.raises(UsageError, match=why):
        parse_assignments(words)


@pytest.mark.parametrize(
    "url, root",
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8081/ESCManager/v0", "http://127.0.0.1:8081"),
        ("https://esc.example:8443/prefix", "https://esc.example:8443/prefix"),
    ],
)
def test_base_url(url: str, root: str) -> None:
    assert base_url(url) == root


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://x", "http://"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError):
        base_url(url)


def test_a_bad_assignment_exits_2_before_contacting_anyone() -> None:
    out, err = io.StringIO(), io.StringIO()
    # Port 1 would refuse a connection (exit 3); exit 2 shows nothing was attempted.
    assert main(["--url", "http://127.0.0.1:1", "vimmanager", "set", "--config", "oops"], out, err) == 2
    assert "[oops] is not of the form key=value" in err.getvalue()
    assert out.getvalue() == ""


def test_an_unreachable_server_exits_3() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["--url", "http://127.0.0.1:1", "--timeout", "5", "vimmanager", "show"], out, err) == 3
    assert "Cannot reach" in err.getvalue()
