"""The ESC RPCs over NETCONF: read the (already validated) input, call the core, translate refusals.

The server validated the input against the YANG model and filled in its defaults before calling these
handlers, so enum values, lengths and mandatory leaves are known to be good and optional leaves are present.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lxml import etree

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.errors import LifecycleError
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.states import ActionType
from esc_netconf.netconf.context import SessionContext
from esc_netconf.netconf.server import NetconfServer
from esc_netconf.northbound.errors import netconf_error
from esc_netconf.northbound.esc_xml import q


Handler = Callable[[SessionContext, etree._Element], Awaitable[None]]


def _arg(op: etree._Element, name: str) -> str | None:
    element = op.find(q(name))
    if element is None or element.text is None:
        return None
    return element.text.strip()


#: The actions ESC's developer guides send inside ``<edit-config><config>`` as well as as RPCs.
IN_EDIT_CONFIG = frozenset({"serviceAction", "vmAction", "recoveryVmAction"})


class EscRpcs:
    def __init__(self, core: EscCore, snapshots: SnapshotManager) -> None:
        self.core = core
        self.snapshots = snapshots

    async def service_action(self, ctx: SessionContext, op: etree._Element) -> None:
        action = ActionType(_arg(op, "actionType"))
        tenant, dep = _arg(op, "tenantName") or "", _arg(op, "depName") or ""
        self._call(lambda: self.core.service_action(tenant, dep, action))

    async def vm_action(self, ctx: SessionContext, op: etree._Element) -> None:
        action = ActionType(_arg(op, "actionType"))
        vm_name = _arg(op, "vmName") or ""
        force = _arg(op, "force") in ("true", "1")
        self._call(lambda: self.core.vm_action(vm_name, action, force))

    async def recovery_vm_action(self, ctx: SessionContext, op: etree._Element) -> None:
        vm_name = _arg(op, "vmName") or ""
        self._call(lambda: self.core.recovery_vm_action(vm_name))

    async def vm_backup_action(self, ctx: SessionContext, op: etree._Element) -> None:
        vm_name, name = _arg(op, "vmName") or "", _arg(op, "backupName") or ""
        export = _arg(op, "actionType") == "EXPORT"
        destination = _arg(op, "destination")
        self._call(lambda: self.snapshots.create_snapshot(vm_name, name, export=export, destination=destination))

    async def snapshot_action(self, ctx: SessionContext, op: etree._Element) -> None:
        reference = _arg(op, "snapshot") or ""
        self._call(lambda: self.snapshots.delete_snapshot(reference))

    @staticmethod
    def _call(action: Callable[[], object]) -> None:
        try:
            action()
        except LifecycleError as error:
            raise netconf_error(error) from None

    def register(self, server: NetconfServer) -> None:
        table: dict[str, Handler] = {
            "serviceAction": self.service_action,
            "vmAction": self.vm_action,
            "recoveryVmAction": self.recovery_vm_action,
            "vmBackupAction": self.vm_backup_action,
            "snapshotAction": self.snapshot_action,
        }
        for name, handler in table.items():
            server.register_rpc(q(name), handler, in_edit_config=name in IN_EDIT_CONFIG)
