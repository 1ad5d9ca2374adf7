"""openstacksdk resources -> the frozen values of ``esc_netconf.vim.base``.

The functions read resources by attribute (``getattr``), so they accept an SDK ``Resource`` or any
object with the same attribute names; unit tests feed them ``SimpleNamespace``s built from real
API answers. Statuses the model does not know become ``UNKNOWN`` (see ``base``), timestamps become
aware UTC datetimes whatever each service's spelling (Nova ``...Z``, Cinder naive microseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from esc_netconf.vim.base import (
    Flavor,
    Image,
    ImageStatus,
    Network,
    Project,
    Server,
    ServerAddress,
    ServerDiagnostics,
    ServerStatus,
    Subnet,
    Volume,
    VolumeAttachment,
    VolumeSnapshot,
    VolumeSnapshotStatus,
    VolumeStatus,
)

__all__ = [
    "PortInfo",
    "flavor_of",
    "image_of",
    "network_of",
    "parse_time",
    "port_info",
    "project_of",
    "server_diagnostics_of",
    "server_of",
    "status_of",
    "subnet_of",
    "volume_of",
    "volume_snapshot_of",
]

E = TypeVar("E", bound=Enum)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Image attributes that are Glance's own fields, not user properties.
_IMAGE_FIELDS = frozenset(
    {
        "id", "name", "status", "owner", "owner_id", "size", "checksum", "disk_format", "container_format",
        "min_disk", "min_ram", "visibility", "created_at", "updated_at", "tags", "protected", "is_protected",
        "os_hidden", "is_hidden", "os_hash_algo", "hash_algo", "os_hash_value", "hash_value", "virtual_size",
        "file", "schema", "self", "direct_url", "locations", "stores", "location",
    }
)


def status_of(enum: type[E], value: object) -> E:
    """``enum(value)``, or ``enum.UNKNOWN`` for a status this model does not list."""
    try:
        return enum(str(value))
    except ValueError:
        return enum["UNKNOWN"]


def parse_time(value: object) -> datetime:
    """An aware UTC datetime from an OpenStack timestamp (``None`` -> the epoch)."""
    if isinstance(value, datetime):
        parsed = value
    elif not value:
        return _EPOCH
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _get(resource: object, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(resource, name, None)
        if value is not None:
            return value
    return default


def project_of(resource: object) -> Project:
    return Project(
        id=str(resource.id),  # type: ignore[attr-defined]
        name=str(_get(resource, "name", default="")),
        description=_get(resource, "description") or None,
        enabled=bool(_get(resource, "is_enabled", "enabled", default=True)),
    )


def flavor_of(resource: object) -> Flavor:
    return Flavor(
        id=str(resource.id),  # type: ignore[attr-defined]
        name=str(_get(resource, "name", default="")),
        vcpus=int(_get(resource, "vcpus", default=0)),
        ram_mb=int(_get(resource, "ram", default=0)),
        disk_gb=int(_get(resource, "disk", default=0)),
    )


def subnet_of(resource: object) -> Subnet:
    return Subnet(
        id=str(resource.id),  # type: ignore[attr-defined]
        name=str(_get(resource, "name", default="")),
        network_id=str(_get(resource, "network_id", default="")),
        cidr=str(_get(resource, "cidr", default="")),
        gateway_ip=_get(resource, "gateway_ip"),
    )


def network_of(resource: object, subnets: Iterable[Subnet]) -> Network:
    network_id = str(resource.id)  # type: ignore[attr-defined]
    return Network(
        id=network_id,
        name=str(_get(resource, "name", default="")),
        project_id=_get(resource, "project_id"),
        shared=bool(_get(resource, "is_shared", "shared", default=False)),
        status=str(_get(resource, "status", default="UNKNOWN")),
        subnets=tuple(s for s in subnets if s.network_id == network_id),
    )


class PortInfo:
    """The Neutron facts about one port that a ``ServerAddress`` needs (``port_id``, network and subnet ids)."""

    __slots__ = ("device_id", "id", "mac", "network_id", "subnet_id")

    def __init__(self, id: str, device_id: str, mac: str, network_id: str, subnet_id: str = "") -> None:
        self.id, self.device_id, self.mac, self.network_id = id, device_id, mac, network_id
        self.subnet_id = subnet_id


def port_info(resource: object) -> PortInfo:
    return PortInfo(
        id=str(resource.id),  # type: ignore[attr-defined]
        device_id=str(_get(resource, "device_id", default="")),
        mac=str(_get(resource, "mac_address", default="")).lower(),
        network_id=str(_get(resource, "network_id", default="")),
        subnet_id=_first_subnet(_get(resource, "fixed_ips", default=None)),
    )


def _first_subnet(fixed_ips: object) -> str:
    """The subnet of a port's first fixed IP (Neutron ``fixed_ips: [{"subnet_id", "ip_address"}]``)."""
    if isinstance(fixed_ips, (list, tuple)):
        for entry in fixed_ips:
            if isinstance(entry, Mapping) and entry.get("subnet_id"):
                return str(entry["subnet_id"])
    return ""


def _addresses(raw: Mapping[str, Any] | None, ports: Iterable[PortInfo]) -> tuple[ServerAddress, ...]:
    """NICs in creation order: Nova keeps ``addresses`` in the order of the requested networks
    (one key per network, JSON order preserved), and each entry's MAC finds its Neutron port.
    An entry per NIC is kept: its first fixed IPv4 address (floating IPs are not NICs)."""
    by_mac = {p.mac: p for p in ports}
    result: list[ServerAddress] = []
    seen: set[str] = set()
    for network_name, entries in (raw or {}).items():
        for entry in entries or []:
            mac = str(entry.get("OS-EXT-IPS-MAC:mac_addr", "")).lower()
            if entry.get("OS-EXT-IPS:type", "fixed") != "fixed" or mac in seen:
                continue
            seen.add(mac)
            port = by_mac.get(mac)
            result.append(
                ServerAddress(
                    nic=len(result),
                    network=str(network_name),
                    network_id=port.network_id if port else "",
                    fixed_ip=str(entry.get("addr", "")),
                    mac=mac,
                    port_id=port.id if port else "",
                    subnet_id=port.subnet_id if port else "",
                )
            )
    return tuple(result)


def _flavor_name(flavor: object) -> str:
    if isinstance(flavor, Mapping):
        return str(flavor.get("original_name") or flavor.get("name") or flavor.get("id") or "")
    return str(_get(flavor, "original_name", "name", "id", default=""))


def _image_id(image: object) -> str | None:
    if isinstance(image, Mapping):
        value = image.get("id")
    else:
        value = _get(image, "id")
    return str(value) if value else None


def server_of(resource: object, ports: Iterable[PortInfo] = ()) -> Server:
    """A ``Server`` from a Nova server (detail view, microversion >= 2.47) and its Neutron ports."""
    fault = _get(resource, "fault")
    fault_message = fault.get("message") if isinstance(fault, Mapping) else None
    volumes = _get(resource, "attached_volumes", default=[]) or []
    return Server(
        id=str(resource.id),  # type: ignore[attr-defined]
        name=str(_get(resource, "name", default="")),
        status=status_of(ServerStatus, _get(resource, "status", default="UNKNOWN")),
        project_id=str(_get(resource, "project_id", default="")),
        image_id=_image_id(_get(resource, "image")),
        flavor=_flavor_name(_get(resource, "flavor", default={})),
        addresses=_addresses(_get(resource, "addresses"), ports),
        host_id=str(_get(resource, "host_id", default="")),
        hostname=str(_get(resource, "hypervisor_hostname", "compute_host", default="")),
        volumes_attached=tuple(str(v["id"]) for v in volumes if isinstance(v, Mapping) and v.get("id")),
        created_at=parse_time(_get(resource, "created_at")),
        updated_at=parse_time(_get(resource, "updated_at", "created_at")),
        fault=str(fault_message) if fault_message else None,
        task_state=_get(resource, "task_state") or None,
        metadata={str(k): str(v) for k, v in (_get(resource, "metadata", default={}) or {}).items()},
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def server_diagnostics_of(resource: object, server_id: str) -> ServerDiagnostics:
    """Nova's standardised diagnostics (2.48): ``cpu_details[].utilisation``, ``memory_details.maximum/used``.

    Fields a hypervisor leaves out (``null`` in Nova's answer, or an older driver's free-form keys) become
    ``None``; nothing is guessed.
    """
    cpus = _get(resource, "cpu_details") or []
    memory = _get(resource, "memory_details") or {}
    if not isinstance(memory, Mapping):
        memory = {}
    return ServerDiagnostics(
        server_id=server_id,
        state=_get(resource, "state"),
        num_cpus=_whole(_get(resource, "num_cpus")),
        cpu_utilisation=tuple(_number(c.get("utilisation")) for c in cpus if isinstance(c, Mapping)),
        memory_max_mb=_whole(memory.get("maximum")),
        memory_used_mb=_whole(memory.get("used")),
        uptime_secs=_whole(_get(resource, "uptime")),
        driver=_get(resource, "driver"),
    )


def _properties(resource: object) -> dict[str, str]:
    props: dict[str, Any] = dict(_get(resource, "properties", default={}) or {})
    return {
        str(k): v if isinstance(v, str) else str(v)
        for k, v in props.items()
        if k not in _IMAGE_FIELDS and v is not None
    }


def image_of(resource: object) -> Image:
    size = _get(resource, "size")
    return Image(
        id=str(resource.id),  # type: ignore[attr-defined]
        name=str(_get(resource, "name", default="")),
        status=status_of(ImageStatus, _get(resource, "status", default="unknown")),
        project_id=_get(resource, "owner_id", "owner"),
        size=int(size) if size is not None else None,
        checksum=_get(resource, "checksum"),
        disk_format=_get(resource, "disk_format"),
        container_format=_get(resource, "container_format"),
        min_disk=int(_get(resource, "min_disk", default=0)),
        min_ram=int(_get(resource, "min_ram", default=0)),
        visibility=str(_get(resource, "visibility", default="private")),
        created_at=parse_time(_get(resource, "created_at")),
        updated_at=parse_time(_get(resource, "updated_at", "created_at")),
        properties=_properties(resource),
    )


def _attachments(resource: object, volume_id: str) -> tuple[VolumeAttachment, ...]:
    raw = _get(resource, "attachments", default=[]) or []
    return tuple(
        VolumeAttachment(
            id=str(a.get("attachment_id") or a.get("id") or ""),
            server_id=str(a.get("server_id", "")),
            volume_id=volume_id,
            device=str(a.get("device") or ""),
        )
        for a in raw
        if isinstance(a, Mapping)
    )


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def volume_of(resource: object) -> Volume:
    volume_id = str(resource.id)  # type: ignore[attr-defined]
    image_meta = _get(resource, "volume_image_metadata", default={}) or {}
    return Volume(
        id=volume_id,
        name=str(_get(resource, "name", default="") or ""),
        status=status_of(VolumeStatus, _get(resource, "status", default="unknown")),
        project_id=str(_get(resource, "project_id", default="")),
        size_gb=int(_get(resource, "size", default=0)),
        volume_type=_get(resource, "volume_type"),
        bootable=_bool(_get(resource, "is_bootable", "bootable", default=False)),
        multiattach=_bool(_get(resource, "is_multiattach", "multiattach", default=False)),
        source_image_id=image_meta.get("image_id") if isinstance(image_meta, Mapping) else None,
        source_snapshot_id=_get(resource, "snapshot_id") or None,
        attachments=_attachments(resource, volume_id),
        created_at=parse_time(_get(resource, "created_at")),
        updated_at=parse_time(_get(resource, "updated_at", "created_at")),
        description=_get(resource, "description") or None,
    )


def volume_snapshot_of(resource: object) -> VolumeSnapshot:
    return VolumeSnapshot(
        id=str(resource.id),  # type: ignore[attr-defined]
        name=str(_get(resource, "name", default="") or ""),
        status=status_of(VolumeSnapshotStatus, _get(resource, "status", default="unknown")),
        project_id=str(_get(resource, "project_id", default="")),
        volume_id=str(_get(resource, "volume_id", default="")),
        size_gb=int(_get(resource, "size", default=0)),
        created_at=parse_time(_get(resource, "created_at")),
        updated_at=parse_time(_get(resource, "updated_at", "created_at")),
        description=_get(resource, "description") or None,
    )
