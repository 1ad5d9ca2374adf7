"""Errors of the ESCManager REST API, and the one place that turns any refusal into an HTTP status.

Handlers raise: ``RestError`` for what the REST layer itself refuses (a body it cannot read, a bad header),
``LifecycleError`` from the core (which already carries its 400/404/409/500), ``VimError`` if the VIM
fails while a request is being validated.  ``http_status`` maps each to a status and a sentence for
the operator (the reverse of openstacksdk's ``raise_from_response``); nothing else decides statuses.
"""

from __future__ import annotations

from esc_netconf.core.errors import LifecycleError
from esc_netconf.errors import EscError
from esc_netconf.vim.base import VimError

__all__ = ["BadRequest", "NotFoundError", "RestError", "http_status"]

#: The VIM failed: the request was fine, the upstream was not.
VIM_FAILURE_STATUS = 502


class RestError(EscError):
    """A request the REST layer refuses before the core sees it; ``status`` is the HTTP status."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RestError):
    """The body or a header is malformed or invalid (400): not JSON/XML, a wrong or missing field."""

    status = 400


class NotFoundError(RestError):
    """The tenant named in the path does not exist (404)."""

    status = 404


def http_status(error: EscError) -> tuple[int, str]:
    """The HTTP status and message for a refusal (``500`` for an ``EscError`` of no known kind)."""
    if isinstance(error, RestError):
        return error.status, error.message
    if isinstance(error, LifecycleError):
        return error.status_code, error.message
    if isinstance(error, VimError):
        status = error.code if error.code in (404, 409) else VIM_FAILURE_STATUS
        return status, f"VIM error: {error.message}"
    return 500, str(error) or type(error).__name__
