"""Login back-off per address: free failures, doubling waits, a success clears, one log line per burst."""

from __future__ import annotations

import logging

import pytest

from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.limits import EdgeLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_free_failures_then_doubling_waits_up_to_the_cap() -> None:
    clock = Clock()
    throttle = AuthThrottle(EdgeLimits(auth_free_failures=2, auth_first_backoff=1.0, auth_max_backoff=4.0), clock=clock)
    assert throttle.failed("a", "x") and throttle.failed("a", "x")  # the free ones: the caller logs them
    assert throttle.wait_for("a") == 0.0
    waits = []
    for _ in range(4):
        assert not throttle.failed("a", "x")
        waits.append(throttle.wait_for("a"))
        clock.now += waits[-1]
    assert waits == [1.0, 2.0, 4.0, 4.0]
    assert throttle.wait_for("b") == 0.0  # another address is not affected


def test_a_success_ends_the_burst_and_the_burst_is_logged_twice_at_most(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = AuthThrottle(EdgeLimits(auth_free_failures=1), clock=clock)
    with caplog.at_level(logging.WARNING, logger="esc_netconf.auth"):
        for _ in range(50):
            throttle.failed("192.0.2.1", "SSH password of user 'admin'")
            throttle.wait_for("192.0.2.1")
        throttle.succeeded("192.0.2.1")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("2 failed logins from 192.0.2.1")
    assert "ended (login succeeded): 50 failed logins, 49 attempts refused while waiting" in messages[1]  # the first wait came after failure 2
    assert throttle.wait_for("192.0.2.1") == 0.0


def test_a_quiet_address_starts_afresh_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = AuthThrottle(EdgeLimits(auth_free_failures=1, auth_forget_after=10.0), clock=clock, capacity=3)
    throttle.failed("a", "x")
    throttle.failed("a", "x")
    assert throttle.wait_for("a") > 0
    clock.now += 11
    assert throttle.failed("a", "x")  # a new burst: free again
    for address in ("b", "c", "d", "e"):
        throttle.failed(address, "x")
        throttle.failed(address, "x")
    assert throttle.wait_for("a") == 0.0  # forgotten: the oldest of more than 3
