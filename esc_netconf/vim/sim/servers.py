"""Simulated Nova servers.

Lifecycle (status / task_state), each arrow one scheduled timeline step:

    create:  BUILD/scheduling -> BUILD/spawning -> ACTIVE        (error: -> ERROR "No valid host")
    stop:    ACTIVE/powering-off -> SHUTOFF                       (from ACTIVE or ERROR)
    start:   SHUTOFF/powering-on -> ACTIVE
    reboot:  REBOOT/rebooting (HARD_REBOOT/rebooting_hard) -> ACTIVE
    delete:  <status>/deleting -> gone                            (error: -> ERROR with fault)

Under fault ``timeout`` the last arrow never happens. State checks follow Nova's
``check_instance_state`` for each action and fail with its 409 wording. Boot-from-volume
creates (or takes) the volumes first and the server becomes ACTIVE once they are attached; an
image that is a volume-backed snapshot (``block_device_mapping`` property) boots from new
volumes made from its Cinder snapshots, as Nova does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from esc_netconf.gilshare import breathe
from esc_netconf.vim.base import (
    BlockDevice,
    BlockDeviceDestination,
    BlockDeviceSource,
    ImageStatus,
    PortSpec,
    RebootType,
    Server,
    ServerStatus,
    VolumeStatus,
)
from esc_netconf.vim.sim import messages, ports
from esc_netconf.vim.sim.catalog import COMPUTE_HOSTS, find_flavor, find_network, find_volume_type, subnet_of
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.ipam import allocate_ip, mac_for_port
from esc_netconf.vim.sim.records import to_image, to_server
from esc_netconf.vim.sim.settings import FaultMode, SimOperation
from esc_netconf.vim.sim.store import Kind
from esc_netconf.vim.sim.timeline import GONE, Timeline
from esc_netconf.vim.sim.volumes import new_volume_fields

__all__ = [
    "BootData",
    "boot_data",
    "create_server",
    "delete_server",
    "force_server_status",
    "get_server",
    "list_servers",
    "reboot_server",
    "start_server",
    "stop_server",
]

_VM_STATE = {
    ServerStatus.BUILD.value: "building",
    ServerStatus.ACTIVE.value: "active",
    ServerStatus.SHUTOFF.value: "stopped",
    ServerStatus.REBOOT.value: "active",
    ServerStatus.HARD_REBOOT.value: "active",
    ServerStatus.ERROR.value: "error",
}


def _require(server: Mapping[str, Any], action: str, statuses: set[ServerStatus], tasks: set[str | None]) -> None:
    """Nova's ``check_instance_state``: the vm_state is checked first, then the task_state."""
    if server["status"] not in {s.value for s in statuses}:
        state = _VM_STATE.get(server["status"], server["status"].lower())
        raise messages.instance_invalid_state(action, server["id"], "vm_state", state)
    if server.get("task_state") not in tasks:
        raise messages.instance_invalid_state(action, server["id"], "task_state", str(server["task_state"]))


# ---- reads ---------------------------------------------------------------------------------


def _attached_ids(server_id: str, links: Sequence[tuple[str, str, Timeline]], now: float) -> list[str]:
    return [
        volume_id
        for linked_server, volume_id, timeline in links
        if linked_server == server_id
        and any(a["server_id"] == server_id for a in timeline.view(now).get("attachments", []))
    ]


def get_server(req: Request, server_id: str) -> Server:
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    links = req.store.linked_volumes(req.now, server_id=server_id)
    return to_server(server, _attached_ids(server_id, links, req.now))


#: Entries of ``SimStore.built`` (all listings together) past which it is emptied.
_BUILT_LIMIT = 100_000
#: Servers of a listing between two chances for the loop to take the GIL (``gilshare``).
_BREATHE_ROWS = 64


def list_servers(req: Request, project_id: str | None) -> list[Server]:
    """Every visible server (of the project).

    Why the cache: the core's poller and monitor list projects of thousands of servers every few
    seconds, and parsing each server's document again cost tens of milliseconds per listing. A server
    whose timeline has no future and no volume linked to it looks the same until its document changes,
    so the ``Server`` built from it is kept with the document's text and reused while the text is equal.
    The cache of a listing (``SimStore.built[project_id]``) is replaced by what this listing saw, so a
    server deleted since drops out of it: kept until the limit, the servers of every deploy and undeploy
    stayed in memory (about 3 KiB each, 7 MiB per round of 2,500 VMs).
    """
    rows = req.store.select_documents(Kind.SERVER, req.now, project_id=project_id)
    links = req.store.linked_volumes(req.now, server_project_id=project_id)
    by_server: dict[str, list[tuple[str, str, Timeline]]] = {}
    for link in links:
        by_server.setdefault(link[0], []).append(link)
    cache = req.store.built
    if sum(len(bucket) for bucket in cache.values()) > _BUILT_LIMIT:
        cache.clear()
    built = cache.pop(project_id, {})
    kept: dict[str, tuple[str, object]] = {}
    servers: list[Server] = []
    for number, (server_id, doc) in enumerate(rows):
        if number % _BREATHE_ROWS == 0:  # a listing of thousands is tens of milliseconds of Python
            breathe()
        linked = by_server.get(server_id)
        hit = built.get(server_id) if not linked else None
        if hit is not None and hit[0] == doc and isinstance(hit[1], Server):
            kept[server_id] = hit
            servers.append(hit[1])
            continue
        timeline = Timeline.from_json(json.loads(doc))
        server = to_server(timeline.view(req.now), _attached_ids(server_id, linked or [], req.now))
        if not linked and timeline.is_settled(req.now):
            kept[server_id] = (doc, server)
        servers.append(server)
    if kept:
        cache[project_id] = kept
    return servers


# ---- create --------------------------------------------------------------------------------


def _boot_devices(req: Request, image_id: str | None, devices: Sequence[BlockDevice]) -> tuple[str | None, list[BlockDevice]]:
    """The image the server shows and its block devices, unfolding a volume-backed snapshot image.

    Like Nova, a server booted from a volume-backed snapshot image still shows that image (its
    root disk is a new volume from the image's Cinder snapshot); only a server booted with no
    ``imageRef`` at all shows none. Checked against Nova 26 (Zed).
    """
    if image_id is None:
        return None, list(devices)
    image = to_image(req.view(Kind.IMAGE, image_id, messages.boot_image_not_found))
    if image.status is not ImageStatus.ACTIVE:
        raise messages.image_not_active(image_id)
    mapping = image.block_device_mapping()
    if not mapping:
        return image_id, list(devices)
    unfolded = [
        BlockDevice(
            source_type=BlockDeviceSource.SNAPSHOT,
            uuid=str(entry["snapshot_id"]),
            boot_index=_int_or_none(entry.get("boot_index")),
            volume_size_gb=_int_or_none(entry.get("volume_size")),
            delete_on_termination=bool(entry.get("delete_on_termination", False)),
            device_name=str(entry["device_name"]) if entry.get("device_name") else None,
        )
        for entry in mapping
        if entry.get("source_type") == "snapshot" and entry.get("snapshot_id")
    ]
    return image_id, unfolded + list(devices)


def _int_or_none(value: object) -> int | None:
    return None if value is None or value == "" else int(str(value))


def _attach_boot_volumes(
    req: Request, server_id: str, project_id: str, devices: Sequence[BlockDevice], mode: FaultMode
) -> float:
    """Create or reserve the server's volumes; returns when the last one is attached."""
    ready = req.now
    ordered = sorted(devices, key=lambda d: (d.boot_index is None, d.boot_index or 0))
    taken = {d.device_name for d in ordered if d.device_name}
    free = (f"/dev/vd{c}" for c in "abcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in taken)
    for device in ordered:
        if device.destination_type is not BlockDeviceDestination.VOLUME:
            continue
        attachment = {
            "id": str(uuid.uuid4()),
            "server_id": server_id,
            "device": device.device_name or next(free),
            "delete_on_termination": device.delete_on_termination,
        }
        if device.source_type is BlockDeviceSource.VOLUME:
            timeline = req.load(Kind.VOLUME, str(device.uuid), messages.volume_not_found)
            volume = timeline.view(req.now)
            if volume["status"] != VolumeStatus.AVAILABLE.value:
                raise messages.volume_invalid_status(volume["id"], volume["status"], "available")
            attached = req.delay("volume.attach")
            final = _boot_volume_outcome(attachment, mode)
            timeline.replace_future(req.now, (req.now, {"status": VolumeStatus.ATTACHING.value}), (attached, final))
            req.save(Kind.VOLUME, timeline)
        else:
            fields = new_volume_fields(
                req,
                "",
                project_id=project_id,
                size_gb=_boot_volume_size(req, device),
                image_id=device.uuid if device.source_type is BlockDeviceSource.IMAGE else None,
                snapshot_id=device.uuid if device.source_type is BlockDeviceSource.SNAPSHOT else None,
                volume_type=device.volume_type,
                bootable=None,
            )
            created = req.delay("volume.create")
            attached = req.after(created, "volume.attach")
            req.new(
                Kind.VOLUME,
                fields,
                (created, {"status": VolumeStatus.AVAILABLE.value}),
                (attached, _boot_volume_outcome(attachment, mode)),
            )
        ready = max(ready, attached)
    return ready


def _boot_volume_outcome(attachment: dict[str, Any], mode: FaultMode) -> dict[str, Any]:
    """A server that fails to build leaves its volumes available, unattached."""
    if mode is FaultMode.ERROR:
        return {"status": VolumeStatus.AVAILABLE.value, "attachments": []}
    return {"status": VolumeStatus.IN_USE.value, "attachments": [attachment]}


def _boot_volume_size(req: Request, device: BlockDevice) -> int:
    if device.volume_size_gb is not None:
        return device.volume_size_gb
    if device.source_type is BlockDeviceSource.SNAPSHOT:
        return int(req.view(Kind.VOLUME_SNAPSHOT, str(device.uuid), messages.snapshot_not_found)["size_gb"])
    raise messages.bad_request(
        f"Images with destination_type 'volume' need to have a non-zero size specified ({device.source_type.value})"
    )


@dataclass(frozen=True, slots=True)
class BootData:
    """What a server was created with for its guest: Nova user data, config drive, files on the drive.

    The simulated cloud keeps it with the server so tests (and operators, through the admin REST
    route) can read back what each VM received, as ``openstack server show`` shows ``config_drive``
    and ``OS-EXT-SRV-ATTR:user_data`` on a real cloud.
    """

    user_data: str | None = None
    config_drive: bool = False
    files: dict[str, str] = field(default_factory=dict)


def boot_data(req: Request, server_id: str) -> BootData:
    """The boot data of a server (deleted servers are not found, as in Nova)."""
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    return BootData(server.get("user_data"), bool(server.get("config_drive")), dict(server.get("files") or {}))


def create_server(
    req: Request,
    name: str,
    *,
    project_id: str,
    flavor: str,
    image_id: str | None,
    networks: Sequence[PortSpec],
    block_devices: Sequence[BlockDevice],
    metadata: Mapping[str, str] | None,
    boot: BootData,
) -> Server:
    flavor_entry = find_flavor(flavor)
    shown_image, devices = _boot_devices(req, image_id, block_devices)
    for device in devices:
        if device.volume_type is not None:
            find_volume_type(device.volume_type, via_nova=True)
    if shown_image is None and not any(d.boot_index == 0 for d in devices):
        raise messages.bad_request(
            "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device "
            "mapping combination is not valid."
        )
    resolved = [(spec, find_network(spec.network) if spec.port_id is None else None) for spec in networks]
    server_id = str(uuid.uuid4())
    addresses = []
    for nic, (spec, network) in enumerate(resolved):
        if spec.port_id is not None or network is None:
            assert spec.port_id is not None
            addresses.append(ports.plug(req, spec.port_id, server_id, nic))
            continue
        port_id = str(uuid.uuid4())
        addresses.append(
            {
                "nic": nic,
                "network": network.name,
                "network_id": network.id,
                "fixed_ip": allocate_ip(req.store, network, spec.fixed_ip, server_id),
                "mac": mac_for_port(port_id),
                "port_id": port_id,
                "subnet_id": subnet_of(network).id,
            }
        )
    mode = req.fault(SimOperation.SERVER_CREATE)
    volumes_ready = _attach_boot_volumes(req, server_id, project_id, devices, mode)
    active_at = req.after(volumes_ready, "server.build")
    spawning_at = req.now + (active_at - req.now) * 0.3
    host = COMPUTE_HOSTS[int(server_id[:8], 16) % len(COMPUTE_HOSTS)]
    fields = {
        "id": server_id,
        "name": name,
        "status": ServerStatus.BUILD.value,
        "task_state": "scheduling",
        "fault": None,
        "project_id": project_id,
        "image_id": shown_image,
        "flavor": flavor_entry.name,
        "addresses": addresses,
        "host_id": hashlib.sha224((project_id + host).encode()).hexdigest(),
        "hostname": host,
        "metadata": dict(metadata or {}),
        "user_data": boot.user_data,
        "config_drive": boot.config_drive,
        "files": dict(boot.files),
    }
    steps: list[tuple[float, dict[str, Any]]] = []
    if mode is FaultMode.NONE:
        steps += [(spawning_at, {"task_state": "spawning"}), (active_at, {"status": "ACTIVE", "task_state": None})]
    elif mode is FaultMode.ERROR:
        steps.append((spawning_at, {"status": "ERROR", "task_state": None, "fault": messages.NO_VALID_HOST}))
    timeline = req.new(Kind.SERVER, fields, *steps)
    return to_server(timeline.view(req.now), [])


# ---- power actions -------------------------------------------------------------------------


def _act(
    req: Request,
    server_id: str,
    operation: SimOperation,
    transitional: Mapping[str, Any],
    delay: str,
    final: Mapping[str, Any],
    fault: str,
) -> None:
    """Write ``transitional`` now and, per the operation's fault mode, ``final`` or ERROR later."""
    timeline = req.load(Kind.SERVER, server_id, messages.server_not_found)
    mode = req.fault(operation)
    steps: list[tuple[float, Mapping[str, Any]]] = [(req.now, transitional)]
    if mode is FaultMode.NONE:
        steps.append((req.delay(delay), {"task_state": None, **final}))
    elif mode is FaultMode.ERROR:
        steps.append((req.delay(delay), {"status": "ERROR", "task_state": None, "fault": fault}))
    timeline.replace_future(req.now, *steps)
    req.save(Kind.SERVER, timeline)


def stop_server(req: Request, server_id: str) -> None:
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    _require(server, "stop", {ServerStatus.ACTIVE, ServerStatus.ERROR}, {None})
    _act(req, server_id, SimOperation.SERVER_STOP, {"task_state": "powering-off"}, "server.stop",
         {"status": "SHUTOFF", "fault": None}, messages.stop_failed(server_id))


def start_server(req: Request, server_id: str) -> None:
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    _require(server, "start", {ServerStatus.SHUTOFF}, {None})
    _act(req, server_id, SimOperation.SERVER_START, {"task_state": "powering-on"}, "server.start",
         {"status": "ACTIVE"}, messages.start_failed(server_id))


def reboot_server(req: Request, server_id: str, reboot_type: RebootType) -> None:
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    if reboot_type is RebootType.SOFT:
        _require(server, "reboot", {ServerStatus.ACTIVE}, {None})
        transitional = {"status": "REBOOT", "task_state": "rebooting"}
        delay = "server.reboot.soft"
    else:
        hard_tasks: set[str | None] = {None, "rebooting", "rebooting_hard"}
        _require(server, "reboot", {ServerStatus.ACTIVE, ServerStatus.SHUTOFF, ServerStatus.ERROR,
                                    ServerStatus.REBOOT, ServerStatus.HARD_REBOOT}, hard_tasks)
        transitional = {"status": "HARD_REBOOT", "task_state": "rebooting_hard"}
        delay = "server.reboot.hard"
    _act(req, server_id, SimOperation.SERVER_REBOOT, transitional, delay,
         {"status": "ACTIVE", "fault": None}, messages.reboot_failed(server_id))


# ---- delete ----------------------------------------------------------------------------------


def delete_server(req: Request, server_id: str) -> None:
    timeline = req.load(Kind.SERVER, server_id, messages.server_not_found)
    if timeline.view(req.now).get("task_state") == "deleting":
        return  # Nova accepts a repeated delete
    mode = req.fault(SimOperation.SERVER_DELETE)
    done = req.delay("server.delete")
    if mode is FaultMode.NONE:
        timeline.replace_future(req.now, (req.now, {"task_state": "deleting"}), (done, {GONE: True}))
        req.store.release_ports(server_id)
        ports.unplug(req, timeline.view(req.now))
        _release_volumes(req, server_id, done)
    elif mode is FaultMode.ERROR:
        timeline.replace_future(
            req.now,
            (req.now, {"task_state": "deleting"}),
            (done, {"status": "ERROR", "task_state": None, "fault": messages.delete_failed(server_id)}),
        )
    else:
        timeline.replace_future(req.now, (req.now, {"task_state": "deleting"}))
    req.save(Kind.SERVER, timeline)


def _release_volumes(req: Request, server_id: str, at: float) -> None:
    """At ``at`` the server's volumes are detached; ``delete_on_termination`` ones are deleted."""
    for _, _, timeline in req.store.linked_volumes(req.now, server_id=server_id):
        # what is attached now or is about to be (an attach in flight), not what was attached once: a
        # volume swapped out earlier is no longer the server's and must not go with it
        fields = [timeline.view(req.now), *(changes for when, changes in timeline.steps if when > req.now)]
        mine = [a for f in fields for a in f.get("attachments", []) if a["server_id"] == server_id]
        if not mine:
            continue
        others = [a for a in timeline.view(req.now).get("attachments", []) if a["server_id"] != server_id]
        if any(a.get("delete_on_termination") for a in mine) and not others:
            timeline.replace_future(
                req.now,
                (at, {"status": VolumeStatus.DELETING.value, "attachments": []}),
                (req.after(at, "volume.delete"), {GONE: True}),
            )
        else:
            status = VolumeStatus.IN_USE.value if others else VolumeStatus.AVAILABLE.value
            timeline.replace_future(req.now, (at, {"status": status, "attachments": others}))
        req.save(Kind.VOLUME, timeline)


# ---- out of band -------------------------------------------------------------------------------


def force_server_status(req: Request, server_id: str, status: ServerStatus, fault: str | None) -> None:
    allowed = {ServerStatus.ACTIVE, ServerStatus.SHUTOFF, ServerStatus.ERROR}
    if status not in allowed:
        raise messages.bad_request(f"cannot force a server into {status.value}; use one of ACTIVE, SHUTOFF, ERROR")
    timeline = req.load(Kind.SERVER, server_id, messages.server_not_found)
    message = (fault or messages.FORCED_ERROR) if status is ServerStatus.ERROR else None
    timeline.replace_future(req.now, (req.now, {"status": status.value, "task_state": None, "fault": message}))
    req.save(Kind.SERVER, timeline)
