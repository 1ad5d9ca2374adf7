"""Translate openstacksdk / keystoneauth exceptions into the ``VimError`` tree, at the driver boundary.

Why a table of phrases: Nova, Cinder and Neutron do not agree on HTTP statuses for the same kind of
refusal. A state conflict is a 409 from Nova (``Cannot 'stop' instance ... while it is in vm_state
stopped``) but a 400 from Cinder (``Invalid volume: Volume status must be available ...``); an
unknown image named in a server request is a 400 from Nova (``Image X could not be found.``). The
core only wants to know *not found / conflict / quota / timeout / other*, so the status code is read
first and the VIM's sentence second. The sentence itself is always kept verbatim as the error's
message, because that is what ends up in ``status_message`` and operators recognise it.
"""

from __future__ import annotations

import re

from esc_netconf.vim.base import (
    VimConflict,
    VimError,
    VimFailure,
    VimNotFound,
    VimQuotaExceeded,
    VimTimeout,
)

__all__ = ["CONFLICT_PHRASES", "NOT_FOUND_PHRASES", "vim_error"]

NOT_FOUND_PHRASES = re.compile(r"could not be found|not found|can ?not find|No \w+ found|does not exist", re.IGNORECASE)
"""A 400 whose message says this names a missing resource (Nova's ``ImageNotFound`` in a boot request)."""

CONFLICT_PHRASES = re.compile(
    r"Invalid volume|Invalid snapshot|status must be|while it is in|is not a valid IP|"
    r"already (?:in use|attached|allocated)|cannot be smaller|is not active|in-use|"
    r"must be available|is attached|dependent snapshots",
    re.IGNORECASE,
)
"""A 400 whose message says this is a refusal because of some resource's *state* (Cinder's way)."""

_QUOTA = re.compile(r"quota|OverLimit|exceeded", re.IGNORECASE)


def vim_error(exc: BaseException, subject: str | None = None) -> VimError:
    """The ``VimError`` for an exception raised by openstacksdk, keystoneauth or requests.

    ``subject`` is the id or name the call was about; a not-found message that does not mention
    it (the SDK's ``find_*`` wording sometimes drops it) gets it appended, so an operator can tell
    which of several resources was missing.
    """
    if isinstance(exc, VimError):
        return exc
    # Imported here: this module must stay importable without openstacksdk (unit tests, sim).
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk

    if isinstance(exc, sdk.ResourceTimeout):
        return VimTimeout(str(exc))
    if isinstance(exc, ksa.ConnectTimeout):
        return VimTimeout(f"Timed out connecting to the VIM: {exc}")
    if isinstance(exc, ksa.connection.ConnectionError):
        text = str(exc)
        if "timed out" in text.lower():
            return VimTimeout(f"The VIM did not answer in time: {text}")
        return VimFailure(f"Cannot reach the VIM: {text}", code=503)
    if isinstance(exc, sdk.HttpException):
        status = exc.status_code
        if status is None:  # raised by the SDK itself, without a response: the class says which
            for cls, code in ((sdk.BadRequestException, 400), (sdk.ForbiddenException, 403),
                              (sdk.ConflictException, 409), (sdk.PreconditionFailedException, 412)):
                if isinstance(exc, cls):
                    status = code
                    break
        message = _message(exc)
        if isinstance(exc, sdk.NotFoundException) or status == 404:
            return _not_found(message, subject)
        return classify(status, message, subject)
    if isinstance(exc, ksa.http.HttpError):
        return classify(exc.http_status, str(exc.message or exc), subject)
    if isinstance(exc, (ksa.ClientException, sdk.SDKException)):
        return VimFailure(str(exc))
    if isinstance(exc, TimeoutError):
        return VimTimeout(str(exc) or "The VIM did not answer in time.")
    return VimFailure(f"{type(exc).__name__}: {exc}")


def classify(status: int | None, message: str, subject: str | None = None) -> VimError:
    """The ``VimError`` for an HTTP ``status`` and the VIM's ``message`` (pure, for tests)."""
    if status == 404:
        return _not_found(message, subject)
    if status == 413 or (status in (403, 409) and _QUOTA.search(message)):
        return VimQuotaExceeded(message, code=status)
    if status == 409:
        return VimConflict(message, code=409)
    if status == 400:
        if NOT_FOUND_PHRASES.search(message):
            return _not_found(message, subject)
        if CONFLICT_PHRASES.search(message):
            return VimConflict(message, code=400)
        return VimFailure(message, code=400)
    if status in (408, 504):
        return VimTimeout(message, code=status)
    return VimFailure(message, code=status if status is not None and status >= 400 else 500)


def _not_found(message: str, subject: str | None) -> VimNotFound:
    if subject and subject not in message:
        message = f"{message} ({subject})"
    return VimNotFound(message, code=404)


def _message(exc: object) -> str:
    """The VIM's own sentence: the response's ``message`` field when the SDK parsed one."""
    details = getattr(exc, "details", None)
    if details:
        return str(details).strip()
    message = getattr(exc, "message", None)
    if message and message != "Error":
        return str(message).strip()
    return str(exc).strip()
