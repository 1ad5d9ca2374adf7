"""The errors of the operator's command lines, each carrying the exit status it ends the command with.

Scripts that wrap ``esc_nc_cli`` and ``escadm`` tell outcomes apart by exit status, so the status is a
property of the error type rather than something each call site picks:

* 1 (:class:`RequestRefused`): the server understood the request and said no (an ``<rpc-error>``, an
  HTTP 4xx/5xx from the admin API, a backup that cannot be written);
* 2 (:class:`UsageError`): the command line itself is wrong; nothing was sent;
* 3 (:class:`ServerUnreachable`): no conversation with the server was possible (connection refused,
  authentication failed, the session dropped, a timeout).
"""

from __future__ import annotations

from esc_netconf.errors import EscError


class CliError(EscError):
    """Base of the command-line errors; ``exit_status`` is what the process exits with."""

    exit_status = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestRefused(CliError):
    """The server (or the store) refused what was asked; the message says why."""

    exit_status = 1


class UsageError(CliError):
    """A bad argument, found before anything was sent to the server."""

    exit_status = 2


class ServerUnreachable(CliError):
    """No usable session with the server: refused, unauthenticated, dropped or timed out."""

    exit_status = 3
