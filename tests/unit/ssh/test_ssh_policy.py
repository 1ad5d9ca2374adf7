"""ConnectionPolicy decides auth and channels without a socket (paramiko calls it on its thread)."""

from __future__ import annotations

import logging

import paramiko
import pytest

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
    assert sum("login failed" in m for m in messages) == 4
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
