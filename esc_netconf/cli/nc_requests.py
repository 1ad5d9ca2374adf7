"""Typed requests of ``esc_nc_cli`` and the XML each one sends; pure (no I/O besides reading xmlfiles).

The command line is converted to one of these dataclasses at the edge (:mod:`esc_netconf.cli.nc_commands`
does the converting and the refusing); from then on nothing reads untyped arguments. Each request
renders itself to the operation element that goes inside ``<rpc>``, built with lxml, never by string
formatting, so a name with ``<`` or ``&`` in it is sent as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from lxml import etree

from esc_netconf.cli.errors import UsageError
from esc_netconf.netconf.errors import NetconfError
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.nsmap import default_namespace

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
ESC_NS = "http://www.cisco.com/esc/esc"
MAX_NAME_LENGTH = 255
MAX_XMLFILE_BYTES = 16 * 2**20

E = TypeVar("E", bound=Enum)


class ActionType(str, Enum):
    """``serviceAction`` / ``vmAction`` actions (``action_type`` in the YANG model)."""

    START = "START"
    STOP = "STOP"
    REBOOT = "REBOOT"
    ENABLE_MONITOR = "ENABLE_MONITOR"
    DISABLE_MONITOR = "DISABLE_MONITOR"


class BackupType(str, Enum):
    SNAPSHOT = "SNAPSHOT"
    EXPORT = "EXPORT"


class SnapshotActionType(str, Enum):
    DELETE = "DELETE"


class RecoveryActionType(str, Enum):
    DO = "DO"


def _base(name: str) -> str:
    return f"{{{BASE_NS}}}{name}"


def _esc(name: str) -> str:
    return f"{{{ESC_NS}}}{name}"


def _esc_rpc(name: str, leaves: list[tuple[str, str]]) -> etree._Element:
    element = etree.Element(_esc(name), nsmap=default_namespace(ESC_NS))
    for leaf, value in leaves:
        etree.SubElement(element, _esc(leaf)).text = value
    return element


# --- argument checks (each refusal names what was wrong) ------------------------------------------------


def check_name(what: str, value: str) -> str:
    """A name of 1..255 characters, as the model's ``esc_name`` and ``backupName`` demand.

    :raises UsageError: empty or longer than 255 characters.
    """
    if not value:
        raise UsageError(f"The {what} must not be empty.")
    if len(value) > MAX_NAME_LENGTH:
        raise UsageError(
            f"The {what} must be at most {MAX_NAME_LENGTH} characters long; [{value[:40]}...] has {len(value)}."
        )
    return value


def parse_choice(what: str, raw: str, enum: type[E]) -> E:
    """One of ``enum``'s values, case-insensitively (operators type ``delete`` as often as ``DELETE``).

    :raises UsageError: any other word; the message lists the accepted ones.
    """
    try:
        return enum(raw.upper())
    except ValueError:
        allowed = "|".join(str(member.value) for member in enum)
        raise UsageError(f"The {what} [{raw}] is not valid; it must be one of {allowed}.") from None


def read_xmlfile(path: Path) -> etree._Element:
    """The root element of the XML document in ``path`` (no DTD, no entities, no network).

    :raises UsageError: the file is missing, unreadable, too big, or not a well-formed XML document.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_XMLFILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"The xmlfile [{path}] does not exist.") from None
    except IsADirectoryError:
        raise UsageError(f"The xmlfile [{path}] is a directory, not a file.") from None
    except PermissionError:
        raise UsageError(f"The xmlfile [{path}] is not readable.") from None
    except OSError as exc:
        raise UsageError(f"The xmlfile [{path}] cannot be read: {exc.strerror or exc}.") from None
    if len(data) > MAX_XMLFILE_BYTES:
        raise UsageError(f"The xmlfile [{path}] is larger than {MAX_XMLFILE_BYTES // 2**20} MiB.")
    if not data.strip():
        raise UsageError(f"The xmlfile [{path}] is empty; it must contain a valid XML document.")
    try:
        return parse_xml(data)
    except NetconfError as exc:
        raise UsageError(f"The xmlfile [{path}] does not contain a valid XML document: {exc.message}") from None


# --- the requests -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VmBackupRequest:
    vm_name: str
    backup_name: str
    action_type: BackupType = BackupType.SNAPSHOT
    extra: tuple[etree._Element, ...] = ()

    def to_element(self) -> etree._Element:
        element = _esc_rpc(
            "vmBackupAction",
            [("vmName", self.vm_name), ("backupName", self.backup_name), ("actionType", self.action_type.value)],
        )
        for child in self.extra:
            element.append(child)
        return element


@dataclass(frozen=True, slots=True)
class SnapshotActionRequest:
    snapshot: str
    action_type: SnapshotActionType = SnapshotActionType.DELETE

    def to_element(self) -> etree._Element:
        return _esc_rpc("snapshotAction", [("actionType", self.action_type.value), ("snapshot", self.snapshot)])


@dataclass(frozen=True, slots=True)
class VmActionRequest:
    action_type: ActionType
    vm_name: str
    force: bool = False

    def to_element(self) -> etree._Element:
        return _esc_rpc(
            "vmAction",
            [("actionType", self.action_type.value), ("vmName", self.vm_name), ("force", str(self.force).lower())],
        )


@dataclass(frozen=True, slots=True)
class ServiceActionRequest:
    action_type: ActionType
    tenant: str
    deployment: str

    def to_element(self) -> etree._Element:
        return _esc_rpc(
            "serviceAction",
            [("actionType", self.action_type.value), ("tenantName", self.tenant), ("depName", self.deployment)],
        )


@dataclass(frozen=True, slots=True)
class RecoveryVmRequest:
    vm_name: str
    action_type: RecoveryActionType = RecoveryActionType.DO

    def to_element(self) -> etree._Element:
        return _esc_rpc("recoveryVmAction", [("actionType", self.action_type.value), ("vmName", self.vm_name)])


@dataclass(frozen=True, slots=True)
class EditConfigRequest:
    """``<edit-config>`` of running with ``config`` (already a ``<config>`` element)."""

    config: etree._Element

    def to_element(self) -> etree._Element:
        element = etree.Element(_base("edit-config"), nsmap=default_namespace(BASE_NS))
        etree.SubElement(etree.SubElement(element, _base("target")), _base("running"))
        element.append(self.config)
        return element


def delete_deployment_config(tenant: str, deployment: str) -> etree._Element:
    """The ``<config>`` that deletes one deployment (``nc:operation="delete"`` on it)."""
    config = etree.Element(_base("config"), nsmap=default_namespace(BASE_NS, nc=BASE_NS))
    datamodel = etree.SubElement(config, _esc("esc_datamodel"), nsmap=default_namespace(ESC_NS))
    tenants = etree.SubElement(datamodel, _esc("tenants"))
    tenant_element = etree.SubElement(tenants, _esc("tenant"))
    etree.SubElement(tenant_element, _esc("name")).text = tenant
    dep = etree.SubElement(etree.SubElement(tenant_element, _esc("deployments")), _esc("deployment"))
    dep.set(_base("operation"), "delete")
    etree.SubElement(dep, _esc("name")).text = deployment
    return config


def as_config(root: etree._Element) -> etree._Element:
    """An edit-config payload: a ``<config>`` as given, anything else (``<esc_datamodel>``) wrapped in one."""
    if root.tag == _base("config"):
        return root
    config = etree.Element(_base("config"), nsmap=default_namespace(BASE_NS))
    config.append(root)
    return config


@dataclass(frozen=True, slots=True)
class GetRequest:
    """``<get>`` (operational data too) or ``<get-config>`` of running, optionally XPath-filtered."""

    xpath: str | None
    config_only: bool

    def to_element(self) -> etree._Element:
        element = etree.Element(_base("get-config" if self.config_only else "get"), nsmap=default_namespace(BASE_NS))
        if self.config_only:
            etree.SubElement(etree.SubElement(element, _base("source")), _base("running"))
        if self.xpath is not None:
            # The esc prefix is declared so that both "esc_datamodel/..." and "esc:esc_datamodel/..." work.
            filter_ = etree.SubElement(element, _base("filter"), nsmap={"esc": ESC_NS})
            filter_.set("type", "xpath")
            filter_.set("select", self.xpath)
        return element


@dataclass(frozen=True, slots=True)
class NotificationsRequest:
    """Subscribe to ``stream`` and print its events until interrupted."""

    stream: str = "escEvent"


RpcRequest = (
    VmBackupRequest
    | SnapshotActionRequest
    | VmActionRequest
    | ServiceActionRequest
    | RecoveryVmRequest
    | EditConfigRequest
    | GetRequest
)
Request = RpcRequest | NotificationsRequest
