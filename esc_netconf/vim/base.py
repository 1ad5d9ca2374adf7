"""The VIM driver protocol: what the core may ask of a cloud, and what it gets back.

Theory of operation
-------------------
A VIM is driven the way OpenStack's own API is driven: every mutating call is an *asynchronous
request*. ``create_server`` returns a server in ``BUILD`` at once; the caller polls ``get_server``
(or, cheaper, ``list_servers(project_id)`` once per project) until it sees ``ACTIVE`` or ``ERROR``.
``stop_server`` returns while the server is still ``ACTIVE`` (Nova sets ``task_state=powering-off``)
and it becomes ``SHUTOFF`` later; ``create_server_image`` returns the new image's id while the
image is ``queued`` and Glance moves it through ``saving`` to ``active`` (or ``killed``). Nothing in
this protocol waits for a resource to settle: waiting, with its poll period and timeout, is policy
and belongs to the caller (compare openstacksdk ``resource.wait_for_status``).

Every method names, in its docstring, the openstacksdk proxy call the ``openstack`` driver maps it
to, so that the simulated cloud (``esc_netconf.vim.sim``) and the real one behave alike and one
conformance suite (``tests/vim/conformance.py``) checks both.

Values crossing this seam are frozen dataclasses and ``str`` enums spelled as OpenStack spells
them (``ServerStatus.SHUTOFF == "SHUTOFF"``, ``VolumeStatus.IN_USE == "in-use"``), so a status
read from the SDK maps one-to-one, and anything the SDK reports that we do not model becomes
``UNKNOWN`` rather than an exception.

Errors are translated at the driver boundary into the ``VimError`` subtree; each keeps the VIM's
own message verbatim (operators recognise "No valid host was found.") and an HTTP-style ``code``
that the northbound can put into ``error_code``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from esc_netconf.errors import EscError

__all__ = [
    "BlockDevice",
    "BlockDeviceDestination",
    "BlockDeviceSource",
    "Flavor",
    "Image",
    "ImageStatus",
    "Network",
    "Port",
    "PortSpec",
    "Project",
    "RebootType",
    "Server",
    "ServerAddress",
    "ServerDiagnostics",
    "ServerStatus",
    "Subnet",
    "VimCallCounter",
    "VimConflict",
    "VimDriver",
    "VimError",
    "VimFailure",
    "VimNotFound",
    "VimQuotaExceeded",
    "VimTimeout",
    "Volume",
    "VolumeAttachment",
    "VolumeSnapshot",
    "VolumeSnapshotStatus",
    "VolumeStatus",
]

_calls_log = logging.getLogger("esc_netconf.vim.calls")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class VimError(EscError):
    """A VIM refused or failed a request; ``message`` is the VIM's own wording.

    ``code`` is the HTTP-style status the VIM answered (or would have answered), so the
    northbound can report 404/409/500 without knowing which driver is in use.
    """

    default_code: int = 500

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.code: int = self.default_code if code is None else code


class VimNotFound(VimError, LookupError):
    """The resource does not exist (or is not visible to us): Nova/Glance/Cinder 404."""

    default_code = 404


class VimConflict(VimError):
    """The resource exists but is in a state that forbids the request (HTTP 409).

    Example: ``Cannot 'stop' instance <id> while it is in vm_state stopped``.
    """

    default_code = 409


class VimQuotaExceeded(VimError):
    """A project quota would be exceeded (Nova answers 403, Cinder 413)."""

    default_code = 413


class VimTimeout(VimError, TimeoutError):
    """The VIM did not answer in time; the request may or may not have taken effect."""

    default_code = 504


class VimFailure(VimError):
    """Any other VIM failure (HTTP 5xx, a broken connection, an unexpected answer)."""

    default_code = 500


# --------------------------------------------------------------------------------------------
# Statuses (OpenStack's spellings)
# --------------------------------------------------------------------------------------------


class ServerStatus(str, Enum):
    """Nova server ``status``. The core drives BUILD, ACTIVE, SHUTOFF, REBOOT, ERROR."""

    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    SHUTOFF = "SHUTOFF"
    REBOOT = "REBOOT"
    HARD_REBOOT = "HARD_REBOOT"
    ERROR = "ERROR"
    DELETED = "DELETED"
    PAUSED = "PAUSED"
    SUSPENDED = "SUSPENDED"
    SHELVED = "SHELVED"
    SHELVED_OFFLOADED = "SHELVED_OFFLOADED"
    RESCUE = "RESCUE"
    REBUILD = "REBUILD"
    RESIZE = "RESIZE"
    VERIFY_RESIZE = "VERIFY_RESIZE"
    MIGRATING = "MIGRATING"
    UNKNOWN = "UNKNOWN"


class ImageStatus(str, Enum):
    """Glance image ``status``."""

    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"
    DEACTIVATED = "deactivated"
    PENDING_DELETE = "pending_delete"
    DELETED = "deleted"
    UNKNOWN = "unknown"


class VolumeStatus(str, Enum):
    """Cinder volume ``status``."""

    CREATING = "creating"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ATTACHING = "attaching"
    DETACHING = "detaching"
    IN_USE = "in-use"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    DOWNLOADING = "downloading"
    UPLOADING = "uploading"
    RETYPING = "retyping"
    EXTENDING = "extending"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


class VolumeSnapshotStatus(str, Enum):
    """Cinder snapshot ``status``."""

    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    UNKNOWN = "unknown"


class RebootType(str, Enum):
    """Nova ``reboot`` action type."""

    SOFT = "SOFT"
    HARD = "HARD"


class BlockDeviceSource(str, Enum):
    """``source_type`` of a Nova block device mapping (v2)."""

    IMAGE = "image"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    BLANK = "blank"


class BlockDeviceDestination(str, Enum):
    """``destination_type`` of a Nova block device mapping (v2)."""

    VOLUME = "volume"
    LOCAL = "local"


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One NIC of a server to create, in order (the first is nic 0).

    ``network`` is a network name or id; ``fixed_ip`` asks for that address on the network's
    subnet (Nova ``networks=[{"uuid": ..., "fixed_ip": ...}]``), ``None`` lets the VIM allocate.
    ``port_id`` plugs a port made with ``create_port`` instead (Nova ``networks=[{"port": ...}]``);
    such a port outlives the server (Nova detaches it) and is deleted with ``delete_port``.
    """

    network: str
    fixed_ip: str | None = None
    port_id: str | None = None


@dataclass(frozen=True, slots=True)
class BlockDevice:
    """One entry of Nova's ``block_device_mapping_v2``: how to boot from (or attach) a volume.

    Boot from a new volume made from an image: ``BlockDevice(IMAGE, image_id, volume_size_gb=10)``;
    boot from an existing volume: ``BlockDevice(VOLUME, volume_id)``; from a volume snapshot:
    ``BlockDevice(SNAPSHOT, snapshot_id)``.
    """

    source_type: BlockDeviceSource
    uuid: str | None = None
    boot_index: int | None = 0
    volume_size_gb: int | None = None
    destination_type: BlockDeviceDestination = BlockDeviceDestination.VOLUME
    delete_on_termination: bool = False
    device_name: str | None = None
    device_type: str | None = None
    disk_bus: str | None = None
    volume_type: str | None = None

    def to_nova(self) -> dict[str, object]:
        """The dict Nova expects in ``block_device_mapping_v2`` (``None`` values left out)."""
        body: dict[str, object] = {
            "source_type": self.source_type.value,
            "destination_type": self.destination_type.value,
            "delete_on_termination": self.delete_on_termination,
        }
        optional: dict[str, object | None] = {
            "uuid": self.uuid,
            "boot_index": self.boot_index,
            "volume_size": self.volume_size_gb,
            "device_name": self.device_name,
            "device_type": self.device_type,
            "disk_bus": self.disk_bus,
            "volume_type": self.volume_type,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A server's NIC: Nova ``addresses`` joined with the Neutron port behind it (``subnet_id`` is the
    subnet of the port's fixed IP, ``""`` when unknown)."""

    nic: int
    network: str
    network_id: str
    fixed_ip: str
    mac: str
    port_id: str
    subnet_id: str = ""


@dataclass(frozen=True, slots=True)
class Port:
    """A Neutron port made ahead of its server, so its address and MAC are known before the server
    exists (ESC's day-0 tokens ``NICID_n_IP_ADDRESS``/``NICID_n_MAC_ADDRESS`` need them)."""

    id: str
    network_id: str
    fixed_ip: str
    mac: str


@dataclass(frozen=True, slots=True)
class Server:
    """A Nova server as seen through ``conn.compute.get_server``.

    ``image_id`` is ``None`` for a server booted from a volume (Nova shows an empty image).
    ``host_id`` is Nova's ``hostId`` (hash of project and compute host); ``hostname`` is the
    compute host (``OS-EXT-SRV-ATTR:hypervisor_hostname``). ``task_state`` is
    ``OS-EXT-STS:task_state`` (``powering-off``, ``rebooting``, ...), ``None`` when idle.
    ``fault`` is Nova's ``fault.message`` when the server is in ERROR.
    """

    id: str
    name: str
    status: ServerStatus
    project_id: str
    image_id: str | None
    flavor: str
    addresses: tuple[ServerAddress, ...]
    host_id: str
    hostname: str
    volumes_attached: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    fault: str | None = None
    task_state: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def address(self, nic: int) -> ServerAddress | None:
        """The address of NIC ``nic`` (0-based, the order of ``PortSpec`` at creation)."""
        return next((a for a in self.addresses if a.nic == nic), None)


@dataclass(frozen=True, slots=True)
class ServerDiagnostics:
    """What the hypervisor reports about a running server, as Nova's standardised diagnostics (compute API
    microversion 2.48, ``conn.compute.get_server_diagnostics``) give it: the only CPU and memory figures a
    VIM offers without an agent in the guest.

    ``cpu_utilisation`` holds each vCPU's utilisation in percent (Nova ``cpu_details[].utilisation``,
    ``None`` where the hypervisor does not say); ``memory_max_mb``/``memory_used_mb`` are Nova's
    ``memory_details`` ``maximum``/``used`` in MiB. ``state`` is the hypervisor's (``running``).
    """

    server_id: str
    state: str | None
    num_cpus: int | None
    cpu_utilisation: tuple[float | None, ...]
    memory_max_mb: int | None
    memory_used_mb: int | None
    uptime_secs: int | None = None
    driver: str | None = None

    def cpu_percent(self) -> float | None:
        """The mean utilisation of the vCPUs that report one (percent), ``None`` when none does."""
        known = [u for u in self.cpu_utilisation if u is not None]
        return sum(known) / len(known) if known else None

    def memory_percent(self) -> float | None:
        """Used memory as a percent of the maximum, ``None`` when either is unknown (or the maximum is 0)."""
        if self.memory_max_mb is None or self.memory_used_mb is None or self.memory_max_mb <= 0:
            return None
        return 100.0 * self.memory_used_mb / self.memory_max_mb


@dataclass(frozen=True, slots=True)
class Image:
    """A Glance image.

    ``size`` (bytes) and ``checksum`` (hex md5, as Glance) are ``None`` until the data is
    uploaded. A snapshot of a volume-backed server is recorded the way Nova records it: a
    zero-size image whose ``properties`` carry ``bdm_v2 = "True"``, ``root_device_name`` and
    ``block_device_mapping`` (a JSON list whose entries have ``source_type: "snapshot"`` and
    the Cinder ``snapshot_id``); ``volume_snapshot_ids()`` reads them.
    """

    id: str
    name: str
    status: ImageStatus
    project_id: str | None
    size: int | None
    checksum: str | None
    disk_format: str | None
    container_format: str | None
    min_disk: int
    min_ram: int
    visibility: str
    created_at: datetime
    updated_at: datetime
    properties: Mapping[str, str] = field(default_factory=dict)

    def block_device_mapping(self) -> tuple[Mapping[str, object], ...]:
        """The parsed ``block_device_mapping`` property (empty for an image-backed snapshot)."""
        raw = self.properties.get("block_device_mapping")
        if not raw:
            return ()
        try:
            entries = json.loads(raw)
        except ValueError:
            return ()
        if not isinstance(entries, list):
            return ()
        return tuple(entry for entry in entries if isinstance(entry, dict))

    def volume_snapshot_ids(self) -> tuple[str, ...]:
        """The Cinder snapshot ids behind a volume-backed snapshot image, in mapping order."""
        return tuple(
            str(entry["snapshot_id"])
            for entry in self.block_device_mapping()
            if entry.get("source_type") == "snapshot" and entry.get("snapshot_id")
        )


@dataclass(frozen=True, slots=True)
class VolumeAttachment:
    """One attachment of a Cinder volume to a Nova server (``os-volume_attachments``)."""

    id: str
    server_id: str
    volume_id: str
    device: str


@dataclass(frozen=True, slots=True)
class Volume:
    """A Cinder volume; ``size_gb`` in GiB as Cinder counts."""

    id: str
    name: str
    status: VolumeStatus
    project_id: str
    size_gb: int
    volume_type: str | None
    bootable: bool
    multiattach: bool
    source_image_id: str | None
    source_snapshot_id: str | None
    attachments: tuple[VolumeAttachment, ...]
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass(frozen=True, slots=True)
class VolumeSnapshot:
    """A Cinder volume snapshot."""

    id: str
    name: str
    status: VolumeSnapshotStatus
    project_id: str
    volume_id: str
    size_gb: int
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Flavor:
    """A Nova flavor."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True, slots=True)
class Subnet:
    """A Neutron subnet (IPv4 in the simulated cloud)."""

    id: str
    name: str
    network_id: str
    cidr: str
    gateway_ip: str | None


@dataclass(frozen=True, slots=True)
class Network:
    """A Neutron network with its subnets."""

    id: str
    name: str
    project_id: str | None
    shared: bool
    status: str
    subnets: tuple[Subnet, ...]


@dataclass(frozen=True, slots=True)
class Project:
    """A Keystone project (an ESC tenant maps to one)."""

    id: str
    name: str
    description: str | None
    enabled: bool


# --------------------------------------------------------------------------------------------
# Call accounting
# --------------------------------------------------------------------------------------------


class VimCallCounter:
    """How many times each driver method was called (``driver.calls``), for benchmarks.

    A driver calls ``record("list_servers")`` at the top of each public method. Reading is
    ``calls["list_servers"]`` (0 if never called), ``calls.total`` and ``calls.snapshot()``. Each call is
    also logged at DEBUG on ``esc_netconf.vim.calls`` (``--log-level DEBUG``): the record an operator (and
    the HA tests) read to prove that a fenced server made no VIM call.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def record(self, method: str) -> None:
        self._counts[method] += 1
        _calls_log.debug("VIM call %s", method)

    def __getitem__(self, method: str) -> int:
        return self._counts[method]

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts, so a benchmark can diff before and after."""
        return dict(self._counts)

    def reset(self) -> None:
        self._counts.clear()

    def __repr__(self) -> str:
        return f"VimCallCounter({dict(sorted(self._counts.items()))})"


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------


@runtime_checkable
class VimDriver(Protocol):
    """An OpenStack-shaped cloud. All methods are coroutines and every one may raise ``VimError``
    (``VimFailure``/``VimTimeout`` for transport trouble); the ``:raises:`` lines list the
    *specific* outcomes a caller is expected to handle. Ids are the VIM's UUIDs; where a
    parameter says ``name_or_id`` either is accepted (openstacksdk ``find_*``).
    """

    calls: VimCallCounter

    async def close(self) -> None:
        """Release connections and files. Idempotent. (``conn.close``)"""
        ...

    # ---- identity -------------------------------------------------------------------------

    async def ensure_project(self, name: str) -> Project:
        """The project called ``name``, created if it does not exist yet.

        Maps to ``conn.identity.find_project(name)`` then ``conn.identity.create_project(name=name)``.
        """
        ...

    async def get_project(self, name_or_id: str) -> Project:
        """``conn.identity.find_project(name_or_id, ignore_missing=False)``.

        :raises VimNotFound: no such project.
        """
        ...

    async def list_projects(self) -> list[Project]:
        """``conn.identity.projects()``."""
        ...

    async def delete_project(self, project_id: str) -> None:
        """``conn.identity.delete_project(project_id, ignore_missing=False)`` (a tenant ESC created is
        deleted with it).

        :raises VimNotFound: no such project.
        """
        ...

    # ---- catalog ----------------------------------------------------------------------------

    async def get_flavor(self, name_or_id: str) -> Flavor:
        """``conn.compute.find_flavor(name_or_id, ignore_missing=False)``.

        :raises VimNotFound: no such flavor.
        """
        ...

    async def list_flavors(self) -> list[Flavor]:
        """``conn.compute.flavors()``."""
        ...

    async def get_network(self, name_or_id: str) -> Network:
        """``conn.network.find_network(name_or_id, ignore_missing=False)`` plus its subnets.

        :raises VimNotFound: no such network.
        """
        ...

    async def list_networks(self) -> list[Network]:
        """``conn.network.networks()``."""
        ...

    # ---- servers ----------------------------------------------------------------------------

    async def create_server(
        self,
        name: str,
        *,
        project_id: str,
        flavor: str,
        image_id: str | None,
        networks: Sequence[PortSpec],
        block_devices: Sequence[BlockDevice] = (),
        metadata: Mapping[str, str] | None = None,
        user_data: str | None = None,
        config_drive: bool = False,
        files: Mapping[str, str] | None = None,
    ) -> Server:
        """Request a server; it comes back in ``BUILD`` and becomes ``ACTIVE`` (or ``ERROR`` with
        ``fault``) later. ``flavor`` is a name or id; ``image_id`` may be ``None`` when a
        ``BlockDevice`` with ``boot_index=0`` supplies the root disk (boot from volume).
        ``conn.compute.create_server(name=..., flavor_id=..., image_id=..., networks=[{"uuid":
        ..., "fixed_ip": ...}], block_device_mapping_v2=[...], metadata=..., user_data=...,
        config_drive=True, personality=[{"path": ..., "contents": ...}])``.

        Day-0 content: ``user_data`` (text; the driver base64-encodes it) is Nova's user data, which
        the guest reads from the metadata service or, with ``config_drive``, from the config drive
        (``openstack/latest/user_data``). ``files`` (guest path -> text) are written to the config
        drive; Nova takes them as ``personality``, which it accepts only up to compute API
        microversion 2.56, so a driver sends a create with files at that microversion (see the
        ``openstack`` driver) and a create without files at its usual one.

        :raises VimNotFound: unknown flavor, image, network, volume or snapshot.
        :raises VimConflict: a requested fixed IP is already in use, or outside the subnet
            (Neutron ``IpAddressAlreadyAllocated``/``InvalidIpForNetwork``), or a volume to boot
            from is not ``available``.
        :raises VimQuotaExceeded: the project's instance/cores/ram quota would be exceeded.
        """
        ...

    async def create_port(self, *, project_id: str, network: str, name: str, fixed_ip: str | None = None) -> Port:
        """A port on ``network`` (name or id) owned by the project, with ``fixed_ip`` or an address the
        VIM picks: ``conn.network.create_port(network_id=..., name=..., fixed_ips=[{"ip_address": ...}])``.

        :raises VimNotFound: unknown network.
        :raises VimConflict: the fixed IP is taken or outside the subnet; the subnet is full.
        """
        ...

    async def delete_port(self, port_id: str) -> None:
        """``conn.network.delete_port(port_id, ignore_missing=False)`` (a port in use is unplugged).

        :raises VimNotFound: no such port.
        """
        ...

    async def get_server(self, server_id: str) -> Server:
        """``conn.compute.get_server(server_id)``.

        :raises VimNotFound: no such server (or already deleted).
        """
        ...

    async def list_servers(self, project_id: str | None = None) -> list[Server]:
        """Every server of ``project_id`` (all projects when ``None``), in one call, for pollers.

        ``conn.compute.servers(details=True, project_id=project_id)`` (``all_projects=True``
        when ``project_id`` is ``None``).
        """
        ...

    async def get_server_diagnostics(self, server_id: str) -> ServerDiagnostics:
        """The hypervisor's view of a running server (CPU and memory use, for KPIs without a guest agent).
        ``conn.compute.get_server_diagnostics(server_id)`` (Nova answers the standardised form from compute
        microversion 2.48; its default policy allows admins only).

        :raises VimNotFound: no such server.
        :raises VimConflict: the server is not running (Nova: ``Cannot 'get_diagnostics' instance <id>
            while it is in power state shutdown``) or not on a host yet.
        """
        ...

    async def stop_server(self, server_id: str) -> None:
        """Request power-off; the server is ``SHUTOFF`` later. ``conn.compute.stop_server``.

        :raises VimNotFound: no such server.
        :raises VimConflict: not ``ACTIVE`` (e.g. ``Cannot 'stop' instance <id> while it is in
            vm_state stopped``).
        """
        ...

    async def start_server(self, server_id: str) -> None:
        """Request power-on; the server is ``ACTIVE`` later. ``conn.compute.start_server``.

        :raises VimNotFound: no such server.
        :raises VimConflict: not ``SHUTOFF``.
        """
        ...

    async def reboot_server(self, server_id: str, reboot_type: RebootType = RebootType.SOFT) -> None:
        """Request a reboot; the server shows ``REBOOT``/``HARD_REBOOT`` then ``ACTIVE``.
        ``conn.compute.reboot_server(server, reboot_type)``.

        A soft reboot needs an ``ACTIVE`` server; a hard reboot is also accepted from
        ``SHUTOFF`` and ``ERROR`` (as Nova does), and ends ``ACTIVE``.

        :raises VimNotFound: no such server.
        :raises VimConflict: the server's state forbids it.
        """
        ...

    async def delete_server(self, server_id: str) -> None:
        """Request deletion; ``get_server`` raises ``VimNotFound`` once it is gone. Volumes with
        ``delete_on_termination`` go with it; other attached volumes become ``available``.
        ``conn.compute.delete_server``.

        :raises VimNotFound: no such server.
        """
        ...

    # ---- images -----------------------------------------------------------------------------

    async def get_image(self, image_id: str) -> Image:
        """``conn.image.get_image(image_id)``.

        :raises VimNotFound: no such image.
        """
        ...

    async def list_images(
        self, *, ids: Sequence[str] | None = None, name: str | None = None
    ) -> list[Image]:
        """Visible images, optionally only those with the given ids and/or exact name; unknown
        ids are simply absent. ``conn.image.images(id="in:...", name=...)``.
        """
        ...

    async def create_server_image(
        self, server_id: str, name: str, metadata: Mapping[str, str] | None = None
    ) -> str:
        """Snapshot a server; returns the new image id at once (``queued``, then ``saving``,
        then ``active``, or ``killed``). For a volume-backed server Nova snapshots each volume
        in Cinder and records them in the image's ``block_device_mapping`` property.
        ``conn.compute.create_server_image(server, name, metadata, wait=False)``.

        :raises VimNotFound: no such server.
        :raises VimConflict: the server is in a state that cannot be snapshot (e.g. ``BUILD``).
        """
        ...

    async def delete_image(self, image_id: str) -> None:
        """``conn.image.delete_image(image_id, ignore_missing=False)``.

        :raises VimNotFound: no such image.
        """
        ...

    def download_image(self, image_id: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream an ``active`` image's data; the md5 of all chunks equals ``Image.checksum``.
        ``conn.image.download_image(image, stream=True).iter_content(chunk_size)``.

        The iterator raises (on first use) ``VimNotFound`` for no such image and
        ``VimConflict`` when the image is not ``active``.
        """
        ...

    # ---- volumes ----------------------------------------------------------------------------

    async def create_volume(
        self,
        name: str,
        *,
        project_id: str,
        size_gb: int,
        image_id: str | None = None,
        snapshot_id: str | None = None,
        volume_type: str | None = None,
        bootable: bool | None = None,
        multiattach: bool = False,
        description: str | None = None,
    ) -> Volume:
        """Request a volume (empty, from an image, or from a volume snapshot); it comes back
        ``creating`` and becomes ``available`` (or ``error``).
        ``conn.block_storage.create_volume(name=..., size=..., image_id=..., snapshot_id=...,
        volume_type=..., multiattach=...)``.

        :raises VimNotFound: unknown image or snapshot.
        :raises VimConflict: the snapshot is not ``available``; ``size_gb`` smaller than the source.
        :raises VimQuotaExceeded: the project's gigabytes/volumes quota would be exceeded.
        """
        ...

    async def get_volume(self, volume_id: str) -> Volume:
        """``conn.block_storage.get_volume(volume_id)``.

        :raises VimNotFound: no such volume.
        """
        ...

    async def list_volumes(
        self, project_id: str | None = None, *, ids: Sequence[str] | None = None
    ) -> list[Volume]:
        """``conn.block_storage.volumes(details=True, project_id=...)`` (all projects if ``None``)."""
        ...

    async def delete_volume(self, volume_id: str) -> None:
        """``conn.block_storage.delete_volume(volume_id, ignore_missing=False)``.

        :raises VimNotFound: no such volume.
        :raises VimConflict: the volume is attached (``in-use``), has snapshots, or is busy.
        """
        ...

    async def attach_volume(
        self, server_id: str, volume_id: str, device: str | None = None
    ) -> VolumeAttachment:
        """Attach a volume to a server; the volume is ``in-use`` (after ``attaching``).
        ``conn.compute.create_volume_attachment(server, volume_id=..., device=...)``.

        :raises VimNotFound: no such server or volume.
        :raises VimConflict: the volume is not ``available`` (and not multiattach).
        """
        ...

    async def detach_volume(self, server_id: str, volume_id: str) -> None:
        """Detach a volume; it becomes ``available`` (after ``detaching``).
        ``conn.compute.delete_volume_attachment(server, volume_id)``.

        :raises VimNotFound: no such server or volume, or the volume is not attached to it.
        """
        ...

    async def swap_volume(
        self, server_id: str, old_volume_id: str, new_volume_id: str, *, delete_on_termination: bool | None = None
    ) -> None:
        """Replace an attached volume by another on the same device (Nova swap-volume); the old
        one becomes ``available``, the new one ``in-use``. The new attachment keeps the old one's
        ``delete_on_termination`` unless it is given (``False`` for a volume the server must not take
        with it when it is deleted, such as an operator's restored boot volume).
        ``conn.compute.update_volume_attachment(server, old_volume_id, volume_id=new_volume_id,
        delete_on_termination=...)`` (compute microversion 2.85 for the flag).

        :raises VimNotFound: no such server or volume, or ``old`` is not attached to the server.
        :raises VimConflict: ``new`` is not ``available``.
        """
        ...

    async def upload_volume_to_image(
        self,
        volume_id: str,
        image_name: str,
        *,
        disk_format: str = "raw",
        container_format: str = "bare",
        force: bool = False,
    ) -> str:
        """Copy a volume's data into a new image (Cinder "upload to image"); returns the image id at once.

        The image belongs to the volume's project and goes ``queued``/``saving`` to ``active`` with the
        ``size`` and ``checksum`` (md5) of the data, or to ``killed`` (or away) when the copy fails. The
        volume shows ``uploading`` meanwhile and returns to ``available`` (``in-use`` with ``force``)
        when the copy ends, well or badly; deleting the image before it is ``active`` ends the copy.
        This is how a volume's bytes reach Glance: a snapshot image of a volume-backed server holds
        none (it only names Cinder snapshots).
        ``conn.block_storage.upload_volume_to_image(volume, image_name, force=..., disk_format=...,
        container_format=...)["image_id"]`` (the ``os-volume_upload_image`` action).

        :raises VimNotFound: no such volume.
        :raises VimConflict: the volume is not ``available`` (or ``in-use`` without ``force``).
        """
        ...

    # ---- volume snapshots -------------------------------------------------------------------

    async def create_volume_snapshot(
        self,
        volume_id: str,
        name: str,
        *,
        force: bool = False,
        description: str | None = None,
    ) -> VolumeSnapshot:
        """Request a snapshot of a volume (``creating``, then ``available`` or ``error``);
        ``force`` allows an ``in-use`` volume. ``conn.block_storage.create_snapshot(volume_id=...,
        name=..., force=...)``.

        :raises VimNotFound: no such volume.
        :raises VimConflict: the volume is ``in-use`` without ``force``, or is not usable.
        """
        ...

    async def get_volume_snapshot(self, snapshot_id: str) -> VolumeSnapshot:
        """``conn.block_storage.get_snapshot(snapshot_id)``.

        :raises VimNotFound: no such snapshot.
        """
        ...

    async def list_volume_snapshots(
        self, project_id: str | None = None, *, ids: Sequence[str] | None = None
    ) -> list[VolumeSnapshot]:
        """``conn.block_storage.snapshots(details=True, project_id=...)`` (all projects if ``None``)."""
        ...

    async def delete_volume_snapshot(self, snapshot_id: str) -> None:
        """Request deletion (``deleting``, then gone, or ``error_deleting``).
        ``conn.block_storage.delete_snapshot(snapshot_id, ignore_missing=False)``.

        :raises VimNotFound: no such snapshot.
        :raises VimConflict: the snapshot is busy (``creating`` or ``deleting``).
        """
        ...
