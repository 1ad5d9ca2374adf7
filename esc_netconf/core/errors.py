"""Errors of the domain core.

Every refusal the core makes is a ``LifecycleError`` carrying an HTTP-style ``status_code`` so that each
adapter (NETCONF ``error_code``, REST status, CLI exit) translates it in one place.  Messages are sentences
an operator understands; they are shown to them verbatim.
"""

from __future__ import annotations

from esc_netconf.errors import EscError


class LifecycleError(EscError):
    """A request the core refused or could not carry out."""

    status_code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(LifecycleError):
    """The named tenant, deployment or VM does not exist (404)."""

    status_code = 404


class InvalidRequest(LifecycleError):
    """The request is malformed or asks for something impossible (400), e.g. above ``max_active``."""

    status_code = 400


class StateConflict(LifecycleError):
    """The request is valid but not in the current state (409): busy, already running, stopped..."""

    status_code = 409


class VimOperationFailed(LifecycleError):
    """The VIM refused or failed an operation (500); the message is the VIM's own."""

    status_code = 500


class IllegalTransition(StateConflict):
    """A state machine was asked for a transition its table does not have; nothing changed.

    Raised by ``states.transition``; the orchestrator normally turns it into a ``StateConflict`` with a
    sentence of its own before it reaches an operator.
    """

    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(f"{trigger} is not allowed in state {state}.")
        self.state = state
        self.trigger = trigger
