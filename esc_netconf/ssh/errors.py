"""Errors of the SSH transport.

Only start-up problems are raised to the caller: once the server runs, a failing connection is logged
and closed on its own thread, because nobody is waiting for it.
"""

from __future__ import annotations

from pathlib import Path

from esc_netconf.errors import EscError


class SshError(EscError):
    """Root of the SSH transport's errors."""


class ListenError(SshError, OSError):
    """The listening socket could not be created or bound (port in use, no permission for <1024, ...).

    ``errno`` is kept so the caller can say "port 830 needs root" precisely; the OS error is the cause.
    """

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"cannot listen on {host}:{port}: {cause.strerror or cause}")
        self.host = host
        self.port = port


class HostKeyError(SshError):
    """A host key file exists but cannot be read or parsed; we never overwrite it silently."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"SSH host key {path}: {problem}")
        self.path = path
        self.problem = problem


class ServerStateError(SshError):
    """``start()`` was called on a server that is already running or has been stopped."""
