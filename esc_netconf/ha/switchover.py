"""What ``escadm ha switchover`` asks of the active, and how it answers (CONTRACT section 8).

The REST route (``POST /ESCManager/v0/ha/switchover``, ``esc_netconf.rest.ha``) calls the application's
``switchover``; the steps live there because they start and stop its parts:

1. refuse, changing nothing, unless this server is the active and a standby is connected;
2. stop acting (no VIM call from here on) while still holding the lease, and wind the work in flight
   down: the core and the snapshot pollers stop and leave their records for the next active, the callback
   outbox stops delivering (the undelivered stay in the shared outbox);
3. send ``ESC_OUT_OF_SERVICE`` (the last event from this server as the active);
4. hand the lease to the standby (``Leadership.hand_over``), which takes it at its next poll, sends
   ``ESC_IN_SERVICE`` and resumes the work from the shared store;
5. answer once the new active has published its address, then swap this server's listeners for a
   standby's on the same ports: it stays a member and may become the active again.

A standby does not forward the request: it refuses it (409) naming the active, where the operator sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from esc_netconf.errors import EscError
from esc_netconf.store.leadership import ActiveNode

__all__ = ["SwitchoverRefused", "SwitchoverResult"]


class SwitchoverRefused(EscError):
    """The switchover could not be done; ``status`` is the HTTP status that says why (409: nothing was
    changed; 504: the role was handed over but nobody took it in time)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SwitchoverResult:
    previous: str  # the node that was the active
    active: ActiveNode  # the one that is now

    def as_json(self) -> dict[str, object]:
        active = self.active
        return {"previous": self.previous, "node": active.node,
                "active": {"host": active.host, "netconf_port": active.netconf_port, "rest_port": active.rest_port}}
