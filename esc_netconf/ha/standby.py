"""What a standby answers: reads from the shared store, and a refusal naming the active for the rest.

A standby keeps its NETCONF and REST listeners up so that clients and monitoring reach it, but it neither
writes nor calls the VIM. ``get``/``get-config`` read the running configuration the active committed to the
shared database, and ``get`` the opdata of the active's records there, at least as new as the store was when
the request arrived (``esc_netconf.ha.standby_reads``); every other operation is refused with
``operation-failed`` and a message naming the active's NETCONF address, so a client knows where to go.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from lxml import etree

from esc_netconf.ha import STANDBY_CAPABILITY
from esc_netconf.netconf.base_operations import MONITORING_NS
from esc_netconf.netconf.context import SessionContext
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, NetconfError
from esc_netconf.netconf.server import NetconfServer
from esc_netconf.netconf.session import SerializedBody
from esc_netconf.netconf.subscriptions import NotificationHub
from esc_netconf.netconf.yangmodel import YangModel

__all__ = ["ActiveMemberNetconfServer", "StandbyNetconfServer", "standby_refusal"]

_READS = {f"{{{BASE_NS}}}get", f"{{{BASE_NS}}}get-config"}
_SESSION = {f"{{{BASE_NS}}}close-session", f"{{{BASE_NS}}}kill-session",
            f"{{{MONITORING_NS}}}get-schema"}
_SUBSCRIBE = "{urn:ietf:params:xml:ns:netconf:notification:1.0}create-subscription"


def standby_refusal(active: tuple[str, int] | None) -> str:
    """The message of every refused operation: where the active's NETCONF is."""
    if active is None:
        return "This ESC is a standby and no active is known at the moment (a takeover is under way); retry shortly."
    host, port = active
    return f"This ESC is a standby; send changes and ESC RPCs to the active at {host}:{port} (NETCONF)."


class StandbyNetconfServer(NetconfServer):
    """A NETCONF server that answers reads from the shared store and refuses everything else."""

    def __init__(self, model: YangModel, datastore: Datastore, hub: NotificationHub,
                 active: Callable[[], tuple[str, int] | None],
                 reading: Callable[[], AbstractAsyncContextManager[None]]) -> None:
        """``active()``: the active's NETCONF (host, port) as last seen in the lease, or None;
        ``reading()``: around each read, brings the datastore and the opdata's records up to date with the
        shared store and keeps them as they are until the read is answered."""
        super().__init__(model, datastore, hub)
        self.active = active
        self._reading = reading

    def capabilities(self) -> list[str]:
        return [*super().capabilities(), STANDBY_CAPABILITY]

    async def run_operation(
        self, ctx: SessionContext, operation: etree._Element
    ) -> list[etree._Element] | SerializedBody | None:
        qname = operation.tag if isinstance(operation.tag, str) else ""
        if qname in _READS:
            async with self._reading():  # the active writes the shared database; our copy may be old
                return await super().run_operation(ctx, operation)
        if qname not in _SESSION:
            raise NetconfError(ErrorTag.OPERATION_FAILED, standby_refusal(self.active()))
        return await super().run_operation(ctx, operation)


class ActiveMemberNetconfServer(NetconfServer):
    """The active's NETCONF server in a group: everything while it acts; once it stopped acting (a
    switchover under way, or the lease lost) and until its listeners become a standby's, reads and
    subscriptions only, every change refused like a standby's, so nothing is accepted that no core runs."""

    def __init__(self, model: YangModel, datastore: Datastore, hub: NotificationHub,
                 active: Callable[[], tuple[str, int] | None], acting: Callable[[], bool]) -> None:
        super().__init__(model, datastore, hub)
        self.active = active
        self._acting = acting

    async def run_operation(
        self, ctx: SessionContext, operation: etree._Element
    ) -> list[etree._Element] | SerializedBody | None:
        qname = operation.tag if isinstance(operation.tag, str) else ""
        if not self._acting() and qname not in _READS | _SESSION | {_SUBSCRIBE}:
            raise NetconfError(ErrorTag.OPERATION_FAILED, standby_refusal(self.active()))
        return await super().run_operation(ctx, operation)
