"""``mallocpolicy``: while a server serves, glibc keeps no freed blocks in fastbins (which it would later merge
all at once, holding the GIL); the last server to stop gives glibc's default back.

What it asks of glibc is recorded here; that glibc takes it is checked with the real ``mallopt``. Its effect on
the loop is measured, not tested: ``bench/deploy_scale.py --malloc-fastbins`` against the default.
"""

from __future__ import annotations

import platform

import pytest

from esc_netconf import mallocpolicy


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The ``mallopt`` calls made, none of them reaching glibc; no server counted yet."""
    calls: list[tuple[int, int]] = []

    def mallopt(parameter: int, value: int) -> int:
        calls.append((parameter, value))
        return 1

    monkeypatch.setattr(mallocpolicy, "_mallopt", lambda: mallopt)
    monkeypatch.setattr(mallocpolicy, "enabled", True)
    monkeypatch.setattr(mallocpolicy, "_servers", 0)
    return calls


def test_the_first_server_to_start_turns_the_fastbins_off_and_the_last_to_stop_turns_them_back_on(
        asked: list[tuple[int, int]]) -> None:
    mallocpolicy.serving(True)
    assert asked == [(mallocpolicy.M_MXFAST, 0)]
    mallocpolicy.serving(True)  # a second server of the process (a test run, an HA pair in one process)
    mallocpolicy.serving(False)
    assert asked == [(mallocpolicy.M_MXFAST, 0)], "one server still serves"
    mallocpolicy.serving(False)
    assert asked == [(mallocpolicy.M_MXFAST, 0), (mallocpolicy.M_MXFAST, mallocpolicy.DEFAULT_MXFAST)]
    mallocpolicy.serving(False)  # a stop without a start (a server that failed to start) changes nothing
    assert len(asked) == 2


def test_switched_off_for_a_benchmark_it_asks_nothing(asked: list[tuple[int, int]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mallocpolicy, "enabled", False)
    mallocpolicy.serving(True)
    mallocpolicy.serving(False)
    assert asked == []


def test_without_glibc_it_leaves_the_allocator_alone_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(mallocpolicy.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.setattr(mallocpolicy, "enabled", True)
    monkeypatch.setattr(mallocpolicy, "_servers", 0)
    with caplog.at_level("INFO", logger=mallocpolicy.__name__):
        mallocpolicy.serving(True)
        mallocpolicy.serving(False)
    assert "fastbins are left as they are (not glibc" in caplog.text


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_glibc_takes_both_settings() -> None:
    """The real ``mallopt`` accepts no fastbins, then its default back (it returns 0 for a value it refuses)."""
    assert mallocpolicy._set_mxfast(0)
    assert mallocpolicy._set_mxfast(mallocpolicy.DEFAULT_MXFAST)
    assert not mallocpolicy._set_mxfast(1 << 20), "a value past glibc's limit is refused, and said so"
