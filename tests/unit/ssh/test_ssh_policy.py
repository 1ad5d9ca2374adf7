"""ConnectionPolicy decides auth and channels without a socket (paramiko calls it on its thread)."""

from __future__ import annotations

import logging

import paramiko
import pytest

from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.limits import EdgeLimits
from esc_netconf.ssh.logcontext import ContextLogger
from esc_netconf.ssh.policy import ConnectionPolicy
from esc_netconf.users import UserDB


class _FakeChannel:
    """Stands in for paramiko.Channel: the policy only keeps a reference to it."""


@pytest.fixture(scope="module")
def users() -> UserDB:
    return UserDB.default_admin()


def _policy(users: UserDB, max_failures: int = 3) -> ConnectionPolicy:
    return ConnectionPolicy(users, ContextLogger(logging.getLogger("esc_netconf.ssh"), {"conn": 7}),
                            max_auth_failures=max_failures)


def test_password_auth_and_failure_limit(users: UserDB, caplog: pytest.LogCaptureFixture) -> None:
    policy = _policy(users)
    assert policy.get_allowed_auths("admin") == "password,publickey"
    assert policy.check_auth_none("admin") == paramiko.AUTH_FAILED
    assert policy.check_auth_password("admin", "admin") == paramiko.AUTH_SUCCESSFUL
    with caplog.at_level(logging.WARNING, logger="esc_netconf.ssh"):
        assert policy.check_auth_password("admin", "nope") == paramiko.AUTH_FAILED
        assert policy.check_auth_publickey("admin", paramiko.ECDSAKey.generate()) == paramiko.AUTH_FAILED
        assert not policy.ready.is_set()
        assert policy.check_auth_password("ghost", "admin") == paramiko.AUTH_FAILED
    assert policy.gave_up and policy.ready.is_set()
    assert policy.check_auth_password("admin", "admin") == paramiko.AUTH_FAILED  # too late now
    messages = [r.getMessage() for r in caplog.records]
    assert sum("login failed" in m for m in messages) == 3  # the attempt after giving up is not logged
    assert sum("too many failed logins" in m for m in messages) == 1
    assert all(m.startswith("[conn=7]") for m in messages)
    assert policy.check_channel_request("session", 0) == paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


def test_only_one_netconf_subsystem_and_nothing_else(users: UserDB) -> None:
    policy = _policy(users)
    channel, other = _FakeChannel(), _FakeChannel()
    assert policy.check_channel_request("session", 0) == paramiko.OPEN_SUCCEEDED
    assert policy.check_channel_request("direct-tcpip", 1) == paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
    assert policy.check_channel_pty_request(channel, b"xterm", 80, 24, 0, 0, b"")  # type: ignore[arg-type]
    assert not policy.check_channel_shell_request(channel)  # type: ignore[arg-type]
    assert not policy.check_channel_exec_request(channel, b"ls")  # type: ignore[arg-type]
    assert not policy.check_channel_subsystem_request(channel, "sftp")  # type: ignore[arg-type]
    assert not policy.ready.is_set()
    assert policy.check_channel_subsystem_request(channel, "netconf")  # type: ignore[arg-type]
    assert policy.ready.is_set() and policy.channel is channel and not policy.gave_up
    assert not policy.check_channel_subsystem_request(other, "netconf")  # type: ignore[arg-type]
    assert policy.check_channel_request("session", 2) == paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


def test_context_logger_prefixes_and_sets_extra(caplog: pytest.LogCaptureFixture) -> None:
    log = ContextLogger(logging.getLogger("esc_netconf.ssh"), {"conn": 3, "peer": "10.0.0.1:22"})
    with caplog.at_level(logging.INFO, logger="esc_netconf.ssh"):
        log.child(user="admin").info("hello %s", "world")
    record = caplog.records[-1]
    assert record.getMessage() == "[conn=3 peer=10.0.0.1:22 user=admin] hello world"
    assert (record.conn, record.peer, record.user) == (3, "10.0.0.1:22", "admin")  # type: ignore[attr-defined]


def test_session_channels_are_capped_and_the_refusals_logged_once(users: UserDB,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    policy = ConnectionPolicy(users, ContextLogger(logging.getLogger("esc_netconf.ssh")), max_auth_failures=3,
                              max_channels=2)
    with caplog.at_level(logging.INFO, logger="esc_netconf.ssh"):
        answers = [policy.check_channel_request("session", n) for n in range(600)]
    assert answers[:2] == [paramiko.OPEN_SUCCEEDED] * 2
    assert set(answers[2:]) == {paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED}
    assert sum("refused session channel" in r.getMessage() for r in caplog.records) == 1


def test_passwords_from_a_waiting_address_are_refused_unchecked(users: UserDB, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    throttle = AuthThrottle(EdgeLimits(auth_free_failures=1, auth_first_backoff=5.0), clock=lambda: now[0])
    monkeypatch.setattr("esc_netconf.ssh.policy.time.sleep", lambda seconds: None)

    def policy(address: str) -> ConnectionPolicy:
        return ConnectionPolicy(users, ContextLogger(logging.getLogger("esc_netconf.ssh")), max_auth_failures=9,
                                address=address, throttle=throttle)

    guesser = policy("192.0.2.1")
    assert guesser.check_auth_password("admin", "x") == paramiko.AUTH_FAILED
    assert guesser.check_auth_password("admin", "y") == paramiko.AUTH_FAILED  # now it waits 5 s
    assert guesser.check_auth_password("admin", "admin") == paramiko.AUTH_FAILED  # right, but not checked
    assert policy("192.0.2.2").check_auth_password("admin", "admin") == paramiko.AUTH_SUCCESSFUL
    now[0] += 5.1
    assert policy("192.0.2.1").check_auth_password("admin", "admin") == paramiko.AUTH_SUCCESSFUL
