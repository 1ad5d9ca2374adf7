"""What ``escadm ha switchover`` asks of the active, and how it answers (CONTRACT section 8).

The REST route (``POST /ESCManager/v0/ha/switchover``, ``esc_netconf.rest.ha``) calls the application's
``switchover``, which runs :func:`switch_over` with its own way to wind the work down, then swaps its
listeners once the answer is out:

1. refuse, changing nothing, unless this server is the active and a standby is connected;
2. stop acting (no VIM call from here on) while still holding the lease, and send ``ESC_OUT_OF_SERVICE``
   (journaled with the core's last writes, so it is stored before the lease moves);
3. wind the work in flight down: the core and the snapshot pollers stop and leave their records for the
   next active, the callback outbox stops delivering (the undelivered stay in the shared outbox);
4. hand the lease to the standby (``Leadership.hand_over``), which takes it at its next poll, sends
   ``ESC_IN_SERVICE`` and resumes the work from the shared store;
5. answer once the new active has published its address, then swap this server's listeners for a
   standby's on the same ports: it stays a member and may become the active again.

A standby does not forward the request: it refuses it (409) naming the active, where the operator sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from esc_netconf.core.events import EventBus
from esc_netconf.errors import EscError
from esc_netconf.ha.member import GroupMember
from esc_netconf.ha.service_events import out_of_service
from esc_netconf.store.leadership import ActiveNode

__all__ = ["SwitchoverRefused", "SwitchoverResult", "switch_over"]

log = logging.getLogger(__name__)


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


async def switch_over(member: GroupMember, to: str | None, *, bus: EventBus | None,
                      wind_down: Callable[[], Awaitable[None]]) -> SwitchoverResult:
    """Steps 1 to 4 above, then wait for the new active's address. ``bus``: the active's event bus (None on
    a standby); ``wind_down``: stops the core, the snapshot pollers and the callback deliveries.

    :raises SwitchoverRefused: a standby, or no standby connected (nothing changed, 409); the database
        failing (503: before the handover nothing changed, after it the lease expires); the standby not
        taking the role in time (504).
    """
    if bus is None or not member.leadership.is_active():
        seen = member.active
        where = (f"http://{seen.host}:{seen.rest_port}" if seen is not None
                 else "no active is known at the moment (a takeover is under way)")
        raise SwitchoverRefused(f"This ESC is a standby; run the switchover on the active: {where}.")
    try:
        standbys = await member.standbys()
    except EscError as error:
        raise SwitchoverRefused(f"Cannot list the standbys ({error}); this ESC stays the active.", 503) from error
    if to is not None and to not in standbys:
        raise SwitchoverRefused(f"No standby named [{to}] is connected to the group's database "
                                f"(connected: {', '.join(standbys) or 'none'}); this ESC stays the active.")
    if not standbys:
        raise SwitchoverRefused("No standby is connected to the group's database: there is nobody to hand "
                                "the role to; this ESC stays the active.")
    target = to or standbys[0]
    log.info("Switchover: %s hands the role of active to %s", member.node, target)
    member.leadership.stop_acting()  # from here on changes are refused: no active to name until the new one
    member.active = None
    # published before the core winds down, so it is journaled and committed with the core's last writes
    bus.publish(out_of_service(member.node, f"it hands the role of active to {target}"))
    await wind_down()
    try:
        handed = await member.hand_over(target)
    except EscError as error:
        raise SwitchoverRefused(f"Could not hand the lease over ({error}); this ESC stopped acting and the "
                                "group takes its lease over when it expires.", 503) from error
    if not handed:
        raise SwitchoverRefused("This ESC lost its lease during the switchover; the group takes the expired "
                                "lease over as after a failure.", 409)
    wait = member.takeover_secs * 2
    new = await member.wait_for_another_active(wait)
    if new is None:
        raise SwitchoverRefused(f"Handed the role to {target}, which did not take it within {wait:g} s; the "
                                "member that takes the expired lease becomes the active.", 504)
    return SwitchoverResult(member.node, new)
