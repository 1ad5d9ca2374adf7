"""Request bodies to typed requests, refusing what is malformed or invalid with ``BadRequest`` (400).

Every body is read the same way first: XML (``<service_operation><operation>stop</operation>…``, any
namespace, as in the seed) or JSON (``{"operation": "stop"}``, or wrapped as ``{"service_operation":
{...}}``) becomes a flat mapping of field name to value; then one small function per payload checks the
fields it needs and builds a frozen dataclass.  Fields a payload does not know are ignored (the seed says
so for the volume payload, and the XML examples carry a namespace ESC never used).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from esc_netconf.core.states import ActionType
from esc_netconf.netconf.errors import NetconfError
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.rest.errors import BadRequest
from esc_netconf.rest.negotiate import Format, content_format

__all__ = [
    "MAX_NAME_LENGTH",
    "ServiceOperation",
    "SnapshotRequest",
    "VmOperation",
    "VolumeRequest",
    "read_fields",
    "service_operation",
    "snapshot_request",
    "vm_operation",
    "volume_request",
]

MAX_NAME_LENGTH = 255
Fields = Mapping[str, object]

_ACTIONS = {"start": ActionType.START, "stop": ActionType.STOP, "reboot": ActionType.REBOOT}


@dataclass(frozen=True, slots=True)
class ServiceOperation:
    """``<service_operation>``: start, stop or reboot every VM of a deployment."""

    action: ActionType


@dataclass(frozen=True, slots=True)
class VmOperation:
    """``<vm_operation>``: start, stop or reboot one VM; ``force`` allows stopping below ``min_active``."""

    action: ActionType
    force: bool


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """``{"operation": "snapshot", "name": ...}`` on ``snapshot-vm``."""

    name: str


@dataclass(frozen=True, slots=True)
class VolumeRequest:
    """A bootable volume from a snapshot's volume snapshot (``POST /snapshots/{id}/volumes``)."""

    name: str
    volume_type: str | None = None
    multiattach: bool = False
    bootable: bool = True


def read_fields(body: bytes, content_type: str | None, root: str) -> Fields:
    """The top-level fields of a JSON or XML body whose XML root (or JSON wrapper) is ``root``.

    :raises BadRequest: empty, neither JSON nor XML, not well-formed, or the wrong XML root element.
    """
    if not body.strip():
        raise BadRequest(f"The request needs a body: a <{root}> XML document or a JSON object.")
    kind = content_format(content_type, body)
    if kind is Format.JSON:
        return _json_fields(body, root)
    if kind is Format.XML:
        return _xml_fields(body, root)
    raise BadRequest(f"The body is neither JSON nor XML; send a <{root}> XML document or a JSON object.")


def _json_fields(body: bytes, root: str) -> Fields:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(data.get(root), dict):
        data = data[root]
    if not isinstance(data, dict):
        raise BadRequest("The JSON body must be an object, e.g. {\"operation\": \"...\"}.")
    return data


def _xml_fields(body: bytes, root: str) -> Fields:
    try:
        element = parse_xml(body)
    except NetconfError as exc:
        raise BadRequest(f"The body is not well-formed XML: {exc}") from None
    if etree_local_name(element.tag) != root:
        raise BadRequest(f"The XML root element must be <{root}>, not <{etree_local_name(element.tag)}>.")
    fields: dict[str, object] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        name = etree_local_name(child.tag)
        fields[name] = REPEATED if name in fields else (child.text or "").strip()
    return fields


class _Repeated:
    """The value of an XML field given more than once: refused if the payload uses it, else ignored."""

    def __repr__(self) -> str:
        return "given more than once"


REPEATED = _Repeated()


def etree_local_name(tag: str) -> str:
    """``{ns}name`` -> ``name``."""
    return tag.rpartition("}")[2]


def service_operation(fields: Fields) -> ServiceOperation:
    """:raises BadRequest: ``operation`` missing or not start, stop or reboot."""
    return ServiceOperation(_action(fields))


def vm_operation(fields: Fields) -> VmOperation:
    """:raises BadRequest: ``operation`` missing or not start, stop or reboot; ``force`` not a boolean."""
    return VmOperation(_action(fields), _boolean(fields, "force", default=False))


def snapshot_request(fields: Fields) -> SnapshotRequest:
    """:raises BadRequest: ``operation`` is not ``snapshot``; ``name`` missing, empty or over 255 characters."""
    operation = fields.get("operation")
    if not isinstance(operation, str) or operation.strip().lower() != "snapshot":
        raise BadRequest(f"The operation must be \"snapshot\", not {_shown(operation)}.")
    return SnapshotRequest(_name(fields, "Snapshot"))


def volume_request(fields: Fields) -> VolumeRequest:
    """:raises BadRequest: ``name`` missing, empty or over 255 characters; a non-boolean flag; a bad type."""
    volume_type = fields.get("volume_type")
    if volume_type is not None and (not isinstance(volume_type, str) or not volume_type.strip()
                                    or len(volume_type) > MAX_NAME_LENGTH or not printable(volume_type)):
        raise BadRequest(f"volume_type must be a volume type name, not {_shown(volume_type)}.")
    return VolumeRequest(
        name=_name(fields, "Volume"),
        volume_type=volume_type.strip() if isinstance(volume_type, str) else None,
        multiattach=_boolean(fields, "multiattach", default=False),
        bootable=_boolean(fields, "bootable", default=True),
    )


def _action(fields: Fields) -> ActionType:
    operation = fields.get("operation")
    action = _ACTIONS.get(operation.strip().lower()) if isinstance(operation, str) else None
    if action is None:
        raise BadRequest(f"The operation must be start, stop or reboot, not {_shown(operation)}.")
    return action


def _boolean(fields: Fields, key: str, *, default: bool) -> bool:
    value = fields.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadRequest(f"{key} must be true or false, not {_shown(value)}.")


def _name(fields: Fields, what: str) -> str:
    name = fields.get("name")
    if name is None:
        raise BadRequest(f"{what} name is missing: the payload must contain \"name\".")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"{what} name must be a non-empty string, not {_shown(name)}.")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"{what} name must be at most {MAX_NAME_LENGTH} characters long, not {len(name)}.")
    if not printable(name):
        raise BadRequest(f"{what} name must not contain control characters.")
    return name


def printable(text: str) -> bool:
    """No control characters, surrogates or non-characters: the name must survive XML and HTTP headers."""
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 or ord(c) in (0xFFFE, 0xFFFF)
                   for c in text)


def _shown(value: object) -> str:
    if value is None:
        return "missing"
    if value is REPEATED:
        return "given more than once"
    text = json.dumps(value) if not isinstance(value, str) else f"\"{value}\""
    return text if len(text) <= 60 else text[:57] + "...\""
