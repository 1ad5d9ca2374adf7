"""The commands of ``esc_nc_cli``: one class each, in the registry shape of netconf-console2.

Each class carries its name, the title the original prints above its output, the syntax line of
``esc_nc_cli help`` (the seed's ``VM Backup Action : vm-backup-action vm-name backup-name
[<action-type>] [<xmlfile>]``), the argparse arguments behind its ``--help``, and
:meth:`Command.request`, which turns the parsed arguments into a typed request or refuses them with a
:class:`UsageError` saying what was wrong. Nothing here talks to the server: every refusal happens
before a connection is opened.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import ClassVar

from lxml import etree

from esc_netconf.cli.errors import UsageError
from esc_netconf.cli.nc_requests import (
    ESC_NS,
    ActionType,
    BackupType,
    EditConfigRequest,
    GetRequest,
    NotificationsRequest,
    RecoveryActionType,
    RecoveryVmRequest,
    Request,
    ServiceActionRequest,
    SnapshotActionRequest,
    SnapshotActionType,
    VmActionRequest,
    VmBackupRequest,
    as_config,
    check_name,
    delete_deployment_config,
    parse_choice,
    read_xmlfile,
)


def _choices(enum: type[ActionType] | type[BackupType] | type[SnapshotActionType]) -> str:
    return "|".join(member.value for member in enum)


class Command:
    """One ``esc_nc_cli`` verb. Subclasses set the class attributes and implement the two methods."""

    name: ClassVar[str]
    title: ClassVar[str]
    syntax: ClassVar[str]
    notes: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the positional arguments (for parsing and for ``--help``)."""

    def request(self, args: argparse.Namespace) -> Request:
        """The typed request for these arguments.

        :raises UsageError: an argument is invalid; nothing has been sent.
        """
        raise UsageError(f"{self.name} takes no request")

    def help_lines(self) -> list[str]:
        """This command's entry in ``esc_nc_cli help``."""
        return [f"{self.title} : {self.syntax}", *(f"  {note}" for note in self.notes)]


class VmBackupAction(Command):
    name = "vm-backup-action"
    title = "VM Backup Action"
    syntax = "vm-backup-action vm-name backup-name [<action-type>] [<xmlfile>]"
    notes = (f"action-type := {_choices(BackupType)}",)
    description = (
        "Create a snapshot (SNAPSHOT, the default) or an export (EXPORT) of the VM with the given generated "
        "name. The backup name is at most 255 characters. The optional xmlfile holds further input of the "
        "vmBackupAction RPC as a <vmBackupAction> document, e.g. "
        f'<vmBackupAction xmlns="{ESC_NS}"><destination>/backups/vm1</destination></vmBackupAction>. '
        "Progress is reported by the VM_BACKUP_INIT, VM_BACKUP_CREATED and VM_BACKUP_COMPLETE events (see notif)."
    )
    _FROM_COMMAND_LINE = frozenset({"vmName", "backupName", "actionType"})

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("vm_name", metavar="vm-name", help="generated name of the VM")
        parser.add_argument("backup_name", metavar="backup-name", help="name of the snapshot (1..255 characters)")
        parser.add_argument("action_type", metavar="action-type", nargs="?", default="SNAPSHOT",
                            help=f"{_choices(BackupType)} (default SNAPSHOT)")
        parser.add_argument("xmlfile", nargs="?", type=Path, help="XML document with further RPC input")

    def request(self, args: argparse.Namespace) -> VmBackupRequest:
        vm_name = check_name("VM name", args.vm_name)
        backup_name = check_name("backup name", args.backup_name)
        action = parse_choice("action type", args.action_type, BackupType)
        extra: tuple[etree._Element, ...] = ()
        if args.xmlfile is not None:
            extra = self._extra_input(read_xmlfile(args.xmlfile), args.xmlfile)
        return VmBackupRequest(vm_name, backup_name, action, extra)

    def _extra_input(self, root: etree._Element, path: Path) -> tuple[etree._Element, ...]:
        if etree.QName(root).localname != "vmBackupAction" or etree.QName(root).namespace not in (None, ESC_NS):
            raise UsageError(
                f"The xmlfile [{path}] must hold a <vmBackupAction xmlns=\"{ESC_NS}\"> document, "
                f"not <{etree.QName(root).localname}>."
            )
        for element in root.iter():
            if isinstance(element.tag, str) and etree.QName(element).namespace is None:
                element.tag = f"{{{ESC_NS}}}{etree.QName(element).localname}"
        children = [child for child in root if isinstance(child.tag, str)]
        for child in children:
            if etree.QName(child).localname in self._FROM_COMMAND_LINE:
                raise UsageError(
                    f"The xmlfile [{path}] must not set <{etree.QName(child).localname}>: "
                    "it is given on the command line."
                )
        return tuple(children)


class SnapshotAction(Command):
    name = "snapshot-action"
    title = "Snapshot Action"
    syntax = "snapshot-action [<action-type>] <snapshot-id|snapshot-name>"
    notes = (f"action-type := {_choices(SnapshotActionType)}",)
    description = (
        "Delete a snapshot taken by vm-backup-action, by its id or by its name (a name must be unique). "
        "The action type may be left out, since DELETE is the only one. Progress is reported by the "
        "VM_SNAPSHOT_DELETING and VM_SNAPSHOT_DELETED events."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("words", metavar="[action-type] snapshot", nargs="+",
                            help="DELETE (optional), then the snapshot id or name")

    def request(self, args: argparse.Namespace) -> SnapshotActionRequest:
        words: list[str] = args.words
        if len(words) == 1:
            return SnapshotActionRequest(check_name("snapshot id or name", words[0]))
        if len(words) == 2:
            action = parse_choice("action type", words[0], SnapshotActionType)
            return SnapshotActionRequest(check_name("snapshot id or name", words[1]), action)
        raise UsageError(f"snapshot-action takes an action type and one snapshot id or name, not {len(words)} words.")


class VmAction(Command):
    name = "vm-action"
    title = "VM Action"
    syntax = "vm-action <action-type> <vm-name> [force]"
    notes = (f"action-type := {_choices(ActionType)}",)
    description = (
        "Start, stop, reboot, or enable or disable the monitoring of one VM, by its generated name. "
        "Without force, stopping a VM that would leave its group below min_active is refused."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action_type", metavar="action-type", help=_choices(ActionType))
        parser.add_argument("vm_name", metavar="vm-name", help="generated name of the VM")
        parser.add_argument("force", nargs="?", help="force (also true or false)")

    def request(self, args: argparse.Namespace) -> VmActionRequest:
        action = parse_choice("action type", args.action_type, ActionType)
        vm_name = check_name("VM name", args.vm_name)
        force = False
        if args.force is not None:
            word = args.force.lower()
            if word not in ("force", "true", "false"):
                raise UsageError(f"The last argument of vm-action must be [force], not [{args.force}].")
            force = word != "false"
        return VmActionRequest(action, vm_name, force)


class ServiceAction(Command):
    name = "service-action"
    title = "Service Action"
    syntax = "service-action <action-type> <tenant> <deployment-name>"
    notes = (f"action-type := {_choices(ActionType)}",)
    description = "Start, stop, reboot, or enable or disable the monitoring of every VM of a deployment."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action_type", metavar="action-type", help=_choices(ActionType))
        parser.add_argument("tenant", help="tenant name")
        parser.add_argument("deployment", metavar="deployment-name", help="deployment name")

    def request(self, args: argparse.Namespace) -> ServiceActionRequest:
        return ServiceActionRequest(
            parse_choice("action type", args.action_type, ActionType),
            check_name("tenant name", args.tenant),
            check_name("deployment name", args.deployment),
        )


class RecoveryVmAction(Command):
    name = "recovery-vm-action"
    title = "Recovery VM Action"
    syntax = "recovery-vm-action DO <vm-name>"
    description = "Recover a VM now (reboot, then redeploy if that fails), by its generated name."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action_type", metavar="DO", help="the only recovery action")
        parser.add_argument("vm_name", metavar="vm-name", help="generated name of the VM")

    def request(self, args: argparse.Namespace) -> RecoveryVmRequest:
        action = parse_choice("action type", args.action_type, RecoveryActionType)
        return RecoveryVmRequest(check_name("VM name", args.vm_name), action)


class EditConfig(Command):
    name = "edit-config"
    title = "Edit Config"
    syntax = "edit-config <xmlfile>"
    description = (
        "Merge the XML document in xmlfile into the running configuration: an <esc_datamodel> "
        "document (a deployment to create or update) or a whole <config> element. Deleting uses "
        'nc:operation="delete" in the document, or delete-dep.'
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("xmlfile", type=Path, help="the configuration document")

    def request(self, args: argparse.Namespace) -> EditConfigRequest:
        return EditConfigRequest(as_config(read_xmlfile(args.xmlfile)))


class DeleteDeployment(Command):
    name = "delete-dep"
    title = "Delete Deployment"
    syntax = "delete-dep <tenant> <deployment-name>"
    description = "Undeploy a deployment and remove it from the configuration."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("tenant", help="tenant name")
        parser.add_argument("deployment", metavar="deployment-name", help="deployment name")

    def request(self, args: argparse.Namespace) -> EditConfigRequest:
        tenant = check_name("tenant name", args.tenant)
        deployment = check_name("deployment name", args.deployment)
        return EditConfigRequest(delete_deployment_config(tenant, deployment))


class GetConfig(Command):
    name = "get-config"
    title = "Get Config"
    syntax = "get-config [<xpath>]"
    description = (
        "Print the running configuration, or the part an XPath expression selects, e.g. "
        "esc_datamodel/tenants/tenant[name='t1']."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("xpath", nargs="?", help="XPath filter (unprefixed names match any namespace)")

    def request(self, args: argparse.Namespace) -> GetRequest:
        return GetRequest(_xpath(args.xpath) if args.xpath is not None else None, config_only=True)


class Get(Command):
    name = "get"
    title = "Get"
    syntax = "get <xpath>"
    description = (
        "Print configuration and operational data selected by an XPath expression, e.g. "
        "esc_datamodel/opdata/tenants/tenant[name='t1']/deployments."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("xpath", help="XPath filter (unprefixed names match any namespace)")

    def request(self, args: argparse.Namespace) -> GetRequest:
        return GetRequest(_xpath(args.xpath), config_only=False)


class Notifications(Command):
    name = "notif"
    title = "Notifications"
    syntax = "notif"
    description = "Subscribe to the escEvent stream and print every event as it arrives, until Ctrl-C."

    def request(self, args: argparse.Namespace) -> NotificationsRequest:
        return NotificationsRequest()


class Help(Command):
    name = "help"
    title = "Help"
    syntax = "help"
    description = "List the commands with their syntax."


def _xpath(raw: str) -> str:
    if not raw.strip():
        raise UsageError("The XPath expression must not be empty.")
    return raw


COMMANDS: tuple[Command, ...] = (
    GetConfig(),
    Get(),
    EditConfig(),
    DeleteDeployment(),
    ServiceAction(),
    VmAction(),
    RecoveryVmAction(),
    VmBackupAction(),
    SnapshotAction(),
    Notifications(),
    Help(),
)
BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}
