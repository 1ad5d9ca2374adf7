"""What a client may do on one connection: paramiko's ``ServerInterface``, asyncssh's ``SSHServer``.

paramiko calls these methods on the connection's transport thread. The policy is deliberately
narrow: password or public key login (a bounded number of failures per connection; wrong passwords
also feed the per-address ``AuthThrottle``, which makes a guesser wait and logs its burst once), at
most ``max_channels`` ``session`` channels in a connection's life (one suffices for NETCONF; a client
opening hundreds is refused each time and logged once), a pty if the client insists (``ssh -tt``),
and the ``netconf`` subsystem; shell, exec, other subsystems, port forwarding and agent forwarding
are refused. When the ``netconf`` subsystem is granted, or the client used up its login attempts,
``ready`` is set so the connection thread stops waiting.

Public keys are not throttled: they cannot be guessed, and clients offer each key of their agent in
turn, which would look like a burst of failures.
"""

from __future__ import annotations

import threading
import time

import paramiko
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_SUCCEEDED

from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.ssh.logcontext import ContextLogger
from esc_netconf.users import UserDB

NETCONF_SUBSYSTEM = "netconf"
#: The most a refused-while-waiting password attempt is held before its answer.
_TARPIT_SECONDS = 1.0


class ConnectionPolicy(paramiko.ServerInterface):
    """Authentication and channel policy for one SSH connection."""

    def __init__(self, users: UserDB, log: ContextLogger, *, max_auth_failures: int,
                 banner: str | None = None, address: str = "", throttle: AuthThrottle | None = None,
                 max_channels: int = 2) -> None:
        self._users = users
        self._log = log
        self._max_auth_failures = max_auth_failures
        self._banner = banner
        self._address = address
        self._throttle = throttle
        self._max_channels = max_channels
        self._channels = 0
        self._refused_channels = 0
        self._failures = 0
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.channel: paramiko.Channel | None = None
        self.gave_up = False

    # -- authentication ------------------------------------------------------------------------

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def get_banner(self) -> tuple[str | None, str | None]:
        return (self._banner, "en-US") if self._banner else (None, None)

    def check_auth_none(self, username: str) -> int:
        return AUTH_FAILED

    def check_auth_password(self, username: str, password: str | bytes) -> int:
        if self.gave_up:
            return self._failed(username, "password", logged=False)
        throttle = self._throttle
        if throttle is not None:
            wait = throttle.wait_for(self._address)
            if wait > 0:  # refused unchecked: a guesser learns nothing and costs no key derivation
                self._log.debug("login of user %r refused unchecked: this address waits %.1f s", username, wait)
                time.sleep(min(wait, _TARPIT_SECONDS))  # this connection's own thread: slows the guesser only
                return self._failed(username, "password", logged=False)
        if self._users.check_password(username, password):
            if throttle is not None:
                throttle.succeeded(self._address)
            return AUTH_SUCCESSFUL
        logged = throttle is None or throttle.failed(self._address, f"SSH password of user {username!r}")
        return self._failed(username, "password", logged=logged)

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        # Called once to ask whether the key would do, then again with the signature verified by
        # paramiko; only the second success logs the user in.
        if not self.gave_up and self._users.check_public_key(username, key):
            return AUTH_SUCCESSFUL
        return self._failed(username, f"publickey {key.get_name()} {key.fingerprint}")

    def _failed(self, username: str, method: str, *, logged: bool = True) -> int:
        with self._lock:
            self._failures += 1
            exhausted = self._failures >= self._max_auth_failures
        if logged:
            self._log.warning("login failed for user %r (%s), attempt %d", username, method, self._failures)
        if exhausted and not self.gave_up:
            (self._log.warning if logged else self._log.debug)("too many failed logins; disconnecting")
            self.gave_up = True
            self.ready.set()
        return AUTH_FAILED

    # -- channels ------------------------------------------------------------------------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        with self._lock:
            allowed = (kind == "session" and self.channel is None and not self.gave_up
                       and self._channels < self._max_channels)
            if allowed:
                self._channels += 1
                return OPEN_SUCCEEDED
            self._refused_channels += 1
            first = self._refused_channels == 1
        if first:  # a client asking for 600 channels gets 600 refusals and one log line
            self._log.info("refused %s channel (a connection may open %d session channel(s); "
                           "further refusals are not logged)", kind, self._max_channels)
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, channel: paramiko.Channel, term: bytes, width: int, height: int,
                                  pixelwidth: int, pixelheight: int, modes: bytes) -> bool:
        # OpenSSH's `ssh -tt -s netconf` (scrapli-netconf) aborts if the pty is refused; the pty
        # changes nothing here, bytes still pass through untouched.
        return True

    def check_channel_window_change_request(self, channel: paramiko.Channel, width: int, height: int,
                                            pixelwidth: int, pixelheight: int) -> bool:
        return True

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        if name == NETCONF_SUBSYSTEM and self.channel is None:
            self.channel = channel
            self.ready.set()
            return True
        self._log.info("refused subsystem %r", name)
        return False

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self._log.info("refused shell request")
        return False

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self._log.info("refused exec request")
        return False
