"""escadm's argument handling that needs no server: k=v parsing, URLs, usage errors."""

from __future__ import annotations

import io

import pytest

from esc_netconf.cli.admin_client import base_url
from esc_netconf.cli.errors import UsageError
from esc_netconf.cli.escadm import format_status, main, parse_assignments, status_healthy


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


def test_status_lines_name_each_part_and_its_facts() -> None:
    report = {
        "netconf": {"ok": True, "port": 830, "sessions": 2},
        "rest": {"ok": True, "port": 8080},
        "vim": {"ok": False, "driver": "openstack", "error": "Keystone unreachable"},
        "store": {"ok": True, "revision": "0002_core"},
    }
    assert format_status(report) == [
        "NETCONF OK    port=830 sessions=2",
        "REST    OK    port=8080",
        "VIM     DOWN  driver=openstack error=Keystone unreachable",
        "STORE   OK    revision=0002_core",
    ]
    assert not status_healthy(503, report)
    report["vim"] = {"ok": True}
    assert status_healthy(200, report)
    assert not status_healthy(200, {"netconf": {"ok": True}})


def test_a_part_missing_from_the_report_is_down() -> None:
    assert format_status({})[0] == "NETCONF DOWN  error=not reported"
