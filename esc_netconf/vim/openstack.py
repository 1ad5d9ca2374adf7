"""The ``openstack`` VIM driver: ``VimDriver`` over openstacksdk, for a real cloud named in ``clouds.yaml``.

Theory of operation
-------------------
*Connections.* One admin-capable ``openstack.connection.Connection`` (``--os-cloud NAME``, looked up
the usual way: ``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``~/.config/openstack``,
``/etc/openstack``) does every read and every action on an existing resource. Resources that must
*belong* to an ESC tenant (servers, server snapshots, volumes, volume snapshots) are created
through a connection scoped to that tenant's project (``connect_as(project_id=...)``, cached per
project), because Nova, Glance and Cinder take the owner from the token's scope, not from the
body. ``ensure_project`` therefore grants the configured user the ``admin`` role on each project
it creates or finds.

*Threads.* openstacksdk is blocking (requests). Every call runs on this driver's own small thread
pool (``_call``), never on the event loop and never on the loop's default executor, so a slow VIM
cannot starve other users of ``asyncio.to_thread``.

*Polling cost.* ``list_servers(project_id)`` is one Nova detail list plus one Neutron port list for
the project (to give each NIC its port id); ``list_volumes``/``list_volume_snapshots`` are one
Cinder list each, filtered server-side by project and client-side by ids (Cinder has no ``id``
filter). Flavors and networks are cached by name and id and refreshed on a miss, so creating a
server costs one Nova ``POST`` once the catalog is warm.

*NICs.* Nova creates the ports (``networks=[{"uuid": net, "fixed_ip": ip}]``), so it also deletes
them with the server. Nova checks a requested fixed IP that is already taken at the API
(``FixedIpAlreadyInUse``) but an address outside the subnet only fails later, as an ERROR server;
the driver refuses that one itself with Neutron's own sentence, so both are ``VimConflict`` at once.

*Errors* are translated by ``openstack_errors.vim_error`` with the VIM's message kept verbatim.

*Explicit ``bootable``.* Cinder accepts ``bootable`` only as an action on an ``available`` volume.
A ``create_volume(bootable=...)`` that Cinder would not infer is remembered and applied
(``os-set_bootable``) the first time the volume is seen ``available`` by ``get_volume`` or
``list_volumes``; the promise lives in memory, as long as the driver.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from esc_netconf.vim.base import (
    BlockDevice,
    Flavor,
    Image,
    ImageStatus,
    Network,
    Port,
    PortSpec,
    Project,
    RebootType,
    Server,
    ServerDiagnostics,
    ServerStatus,
    VimCallCounter,
    VimConflict,
    VimError,
    VimFailure,
    Volume,
    VolumeAttachment,
    VolumeSnapshot,
    VolumeStatus,
)
from esc_netconf.vim.openstack_convert import (
    PortInfo,
    flavor_of,
    image_of,
    network_of,
    port_info,
    project_of,
    server_diagnostics_of,
    server_of,
    subnet_of,
    volume_of,
    volume_snapshot_of,
)
from esc_netconf.vim.openstack_errors import vim_error

__all__ = ["DEFAULT_API_TIMEOUT", "OpenStackDriver", "create_driver"]

T = TypeVar("T")

DEFAULT_API_TIMEOUT = 60.0
"""Seconds one HTTP request to the VIM may take before it is a ``VimTimeout``."""

_WORKERS = 8
_TENANT_ROLE = "admin"


def create_driver(os_cloud: str | None, *, api_timeout: float = DEFAULT_API_TIMEOUT) -> OpenStackDriver:
    """The driver for the ``clouds.yaml`` entry ``os_cloud`` (``None``: ``OS_CLOUD`` or the environment).

    Only reads configuration; the first request authenticates.

    :raises VimError: the cloud is not configured (``clouds.yaml`` missing or without that entry).
    """
    import openstack
    from openstack import exceptions as sdk_exceptions

    try:
        connection = openstack.connect(cloud=os_cloud, api_timeout=api_timeout)
    except sdk_exceptions.ConfigException as exc:
        raise VimFailure(
            f"Cannot configure the OpenStack cloud {os_cloud!r}: {exc} "
            "(set OS_CLIENT_CONFIG_FILE or put clouds.yaml in ~/.config/openstack/)",
            code=500,
        ) from None
    return OpenStackDriver(connection)


class OpenStackDriver:
    """``VimDriver`` for a real OpenStack; see the module docstring."""

    def __init__(self, connection: Any) -> None:
        self.calls = VimCallCounter()
        self._conn = connection
        self._executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="openstacksdk")
        self._lock = threading.Lock()
        self._project_conns: dict[str, Any] = {}
        self._flavors: dict[str, Flavor] = {}
        self._networks: dict[str, Network] = {}
        self._pending_bootable: dict[str, bool] = {}
        self._closed = False

    # ---- plumbing ----------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, subject: str | None = None, **kwargs: Any) -> T:
        """Run blocking ``fn`` on the driver's pool; SDK exceptions become ``VimError``."""
        if self._closed:
            raise VimFailure("The OpenStack driver is closed.")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        except VimError:
            raise
        except Exception as exc:  # the boundary: anything the SDK raises is translated here
            raise vim_error(exc, subject) from exc

    def _project_conn(self, project_id: str) -> Any:
        """A connection scoped to ``project_id`` (blocking; call on the pool)."""
        with self._lock:
            conn = self._project_conns.get(project_id)
        if conn is None:
            conn = self._conn.connect_as(project_id=project_id)
            with self._lock:
                conn = self._project_conns.setdefault(project_id, conn)
        return conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            conns = [*self._project_conns.values(), self._conn]
            self._project_conns.clear()
        for conn in conns:
            try:
                conn.close()
            except Exception:  # closing is best effort: the process may be shutting down
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ---- identity ----------------------------------------------------------------------------

    async def ensure_project(self, name: str) -> Project:
        self.calls.record("ensure_project")

        def work() -> Project:
            identity = self._conn.identity
            project = identity.find_project(name, ignore_missing=True)
            if project is None:
                project = identity.create_project(name=name, domain_id="default", is_enabled=True)
            role = identity.find_role(_TENANT_ROLE, ignore_missing=False)
            user_id = self._conn.current_user_id
            identity.assign_project_role_to_user(project, user_id, role)
            return project_of(project)

        return await self._call(work, subject=name)

    async def get_project(self, name_or_id: str) -> Project:
        self.calls.record("get_project")
        project = await self._call(self._conn.identity.find_project, name_or_id, ignore_missing=False, subject=name_or_id)
        return project_of(project)

    async def delete_project(self, project_id: str) -> None:
        self.calls.record("delete_project")
        await self._call(self._conn.identity.delete_project, project_id, ignore_missing=False, subject=project_id)

    async def list_projects(self) -> list[Project]:
        self.calls.record("list_projects")
        return await self._call(lambda: [project_of(p) for p in self._conn.identity.projects()])

    # ---- catalog -----------------------------------------------------------------------------

    async def get_flavor(self, name_or_id: str) -> Flavor:
        self.calls.record("get_flavor")
        return await self._call(self._flavor, name_or_id, subject=name_or_id)

    def _flavor(self, name_or_id: str) -> Flavor:
        with self._lock:
            cached = self._flavors.get(name_or_id)
        if cached is not None:
            return cached
        flavor = flavor_of(self._conn.compute.find_flavor(name_or_id, ignore_missing=False))
        with self._lock:
            self._flavors[flavor.id] = self._flavors[flavor.name] = flavor
        return flavor

    async def list_flavors(self) -> list[Flavor]:
        self.calls.record("list_flavors")
        flavors = await self._call(lambda: [flavor_of(f) for f in self._conn.compute.flavors(details=True)])
        with self._lock:
            for flavor in flavors:
                self._flavors[flavor.id] = self._flavors[flavor.name] = flavor
        return flavors

    async def get_network(self, name_or_id: str) -> Network:
        self.calls.record("get_network")
        return await self._call(self._network, name_or_id, subject=name_or_id)

    def _network(self, name_or_id: str) -> Network:
        with self._lock:
            cached = self._networks.get(name_or_id)
        if cached is not None:
            return cached
        raw = self._conn.network.find_network(name_or_id, ignore_missing=False)
        subnets = [subnet_of(s) for s in self._conn.network.subnets(network_id=raw.id)]
        network = network_of(raw, subnets)
        with self._lock:
            self._networks[network.id] = self._networks[network.name] = network
        return network

    async def list_networks(self) -> list[Network]:
        self.calls.record("list_networks")

        def work() -> list[Network]:
            subnets = [subnet_of(s) for s in self._conn.network.subnets()]
            return [network_of(n, subnets) for n in self._conn.network.networks()]

        networks = await self._call(work)
        with self._lock:
            for network in networks:
                self._networks[network.id] = self._networks[network.name] = network
        return networks

    # ---- servers -----------------------------------------------------------------------------

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
        self.calls.record("create_server")

        def work() -> Server:
            resolved_flavor = self._flavor(flavor)
            nics: list[dict[str, str]] = []
            for spec in networks:
                if spec.port_id is not None:
                    nics.append({"port": spec.port_id})
                    continue
                network = self._network(spec.network)
                nic = {"uuid": network.id}
                if spec.fixed_ip is not None:
                    _check_fixed_ip(network, spec.fixed_ip)
                    nic["fixed_ip"] = spec.fixed_ip
                nics.append(nic)
            body: dict[str, Any] = {
                "name": name,
                "flavor_id": resolved_flavor.id,
                "networks": nics or "none",
                "metadata": dict(metadata or {}),
            }
            if image_id is not None:
                body["image_id"] = image_id
            if block_devices:
                body["block_device_mapping"] = [device.to_nova() for device in block_devices]
            if user_data is not None:
                body["user_data"] = base64.b64encode(user_data.encode()).decode("ascii")
            if config_drive:
                body["config_drive"] = True
            try:
                compute = self._project_conn(project_id).compute
                if files:
                    created = _create_with_files(compute, body, files)
                else:
                    created = compute.create_server(**body)
            except Exception as exc:  # Nova's "Can not find requested image" does not say which one
                raise vim_error(exc, image_id) from exc
            now = datetime.now(UTC)
            return Server(
                id=str(created.id),
                name=name,
                status=ServerStatus.BUILD,
                project_id=project_id,
                image_id=image_id,
                flavor=resolved_flavor.name,
                addresses=(),
                host_id="",
                hostname="",
                volumes_attached=(),
                created_at=now,
                updated_at=now,
                metadata=dict(metadata or {}),
            )

        return await self._call(work)

    async def create_port(self, *, project_id: str, network: str, name: str, fixed_ip: str | None = None) -> Port:
        self.calls.record("create_port")

        def work() -> Port:
            resolved = self._network(network)
            body: dict[str, Any] = {"network_id": resolved.id, "name": name}
            if fixed_ip is not None:
                _check_fixed_ip(resolved, fixed_ip)
                body["fixed_ips"] = [{"ip_address": fixed_ip}]
            raw = self._project_conn(project_id).network.create_port(**body)
            return Port(id=str(raw.id), network_id=resolved.id, fixed_ip=str(raw.fixed_ips[0]["ip_address"]),
                        mac=str(raw.mac_address))

        return await self._call(work, subject=network)

    async def delete_port(self, port_id: str) -> None:
        self.calls.record("delete_port")
        await self._call(self._conn.network.delete_port, port_id, ignore_missing=False, subject=port_id)

    async def get_server(self, server_id: str) -> Server:
        self.calls.record("get_server")

        def work() -> Server:
            server = self._conn.compute.get_server(server_id)
            ports = [port_info(p) for p in self._conn.network.ports(device_id=server_id)]
            return server_of(server, ports)

        return await self._call(work, subject=server_id)

    async def list_servers(self, project_id: str | None = None) -> list[Server]:
        self.calls.record("list_servers")

        def work() -> list[Server]:
            query: dict[str, Any] = {"all_projects": True}
            port_query: dict[str, Any] = {}
            if project_id is not None:
                query["project_id"] = port_query["project_id"] = project_id
            servers = list(self._conn.compute.servers(details=True, **query))
            if not servers:
                return []
            ports = _ports_by_device(port_info(p) for p in self._conn.network.ports(**port_query))
            return [server_of(s, ports.get(str(s.id), ())) for s in servers]

        return await self._call(work, subject=project_id)

    async def get_server_diagnostics(self, server_id: str) -> ServerDiagnostics:
        """Through the admin connection: Nova's default policy lets admins only read diagnostics."""
        self.calls.record("get_server_diagnostics")
        raw = await self._call(self._conn.compute.get_server_diagnostics, server_id, subject=server_id)
        return server_diagnostics_of(raw, server_id)

    async def stop_server(self, server_id: str) -> None:
        self.calls.record("stop_server")
        await self._call(self._conn.compute.stop_server, server_id, subject=server_id)

    async def start_server(self, server_id: str) -> None:
        self.calls.record("start_server")
        await self._call(self._conn.compute.start_server, server_id, subject=server_id)

    async def reboot_server(self, server_id: str, reboot_type: RebootType = RebootType.SOFT) -> None:
        self.calls.record("reboot_server")
        await self._call(self._conn.compute.reboot_server, server_id, RebootType(reboot_type).value, subject=server_id)

    async def delete_server(self, server_id: str) -> None:
        self.calls.record("delete_server")
        await self._call(self._conn.compute.delete_server, server_id, ignore_missing=False, subject=server_id)

    # ---- images ------------------------------------------------------------------------------

    async def get_image(self, image_id: str) -> Image:
        self.calls.record("get_image")
        return image_of(await self._call(self._conn.image.get_image, image_id, subject=image_id))

    async def list_images(self, *, ids: Sequence[str] | None = None, name: str | None = None) -> list[Image]:
        self.calls.record("list_images")
        if ids is not None and not ids:
            return []

        def work() -> list[Image]:
            query: dict[str, Any] = {}
            if name is not None:
                query["name"] = name
            if ids is not None:
                query["id"] = "in:" + ",".join(ids)
            return [image_of(i) for i in self._conn.image.images(**query)]

        return await self._call(work)

    async def create_server_image(self, server_id: str, name: str, metadata: Mapping[str, str] | None = None) -> str:
        self.calls.record("create_server_image")

        def work() -> str:
            server = self._conn.compute.get_server(server_id)
            conn = self._project_conn(str(server.project_id))
            image_id: str = server.create_image(conn.compute, name, dict(metadata) if metadata else None)
            return image_id

        return await self._call(work, subject=server_id)

    async def delete_image(self, image_id: str) -> None:
        self.calls.record("delete_image")
        await self._call(self._conn.image.delete_image, image_id, ignore_missing=False, subject=image_id)

    def download_image(self, image_id: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self.calls.record("download_image")
        return self._download(image_id, chunk_size)

    async def _download(self, image_id: str, chunk_size: int) -> AsyncIterator[bytes]:
        from openstack import exceptions as sdk_exceptions

        image = await self.get_image(image_id)
        if image.status is not ImageStatus.ACTIVE:
            raise VimConflict(
                f"The requested image {image_id} has status {image.status.value} and cannot be downloaded.", code=403
            )

        def open_stream() -> Any:
            response = self._conn.image.get(f"/images/{image_id}/file", stream=True, raise_exc=False)
            sdk_exceptions.raise_from_response(response)
            return response

        response = await self._call(open_stream, subject=image_id)
        chunks = response.iter_content(chunk_size=chunk_size)
        done = object()
        try:
            while True:
                chunk = await self._call(next, chunks, done, subject=image_id)
                if chunk is done:
                    return
                yield chunk
        finally:
            response.close()

    # ---- volumes -----------------------------------------------------------------------------

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
        self.calls.record("create_volume")
        body: dict[str, Any] = {"name": name, "size": size_gb}
        optional = {
            "image_id": image_id,
            "snapshot_id": snapshot_id,
            "volume_type": volume_type,
            "description": description,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if multiattach:
            body["is_multiattach"] = True
        raw = await self._call(
            lambda: self._project_conn(project_id).block_storage.create_volume(**body),
            subject=snapshot_id or image_id,
        )
        volume = volume_of(raw)
        if bootable is not None and not (image_id is not None and bootable):
            with self._lock:
                self._pending_bootable[volume.id] = bootable
        return volume

    async def get_volume(self, volume_id: str) -> Volume:
        self.calls.record("get_volume")

        def work() -> Volume:
            return self._settle_bootable(volume_of(self._conn.block_storage.get_volume(volume_id)))

        return await self._call(work, subject=volume_id)

    def _settle_bootable(self, volume: Volume) -> Volume:
        """Apply a remembered ``bootable`` once Cinder allows it (blocking; on the pool)."""
        with self._lock:
            wanted = self._pending_bootable.get(volume.id)
        if wanted is None:
            return volume
        if volume.status is VolumeStatus.AVAILABLE:
            if volume.bootable != wanted:
                self._conn.block_storage.set_volume_bootable_status(volume.id, wanted)
                volume = volume_of(self._conn.block_storage.get_volume(volume.id))
            with self._lock:
                self._pending_bootable.pop(volume.id, None)
        elif volume.status in (VolumeStatus.ERROR, VolumeStatus.DELETING):
            with self._lock:
                self._pending_bootable.pop(volume.id, None)
        return volume

    async def list_volumes(self, project_id: str | None = None, *, ids: Sequence[str] | None = None) -> list[Volume]:
        self.calls.record("list_volumes")
        if ids is not None and not ids:
            return []

        def work() -> list[Volume]:
            query: dict[str, Any] = {"all_projects": True}
            if project_id is not None:
                query["project_id"] = project_id
            wanted = set(ids) if ids is not None else None
            volumes = [volume_of(v) for v in self._conn.block_storage.volumes(details=True, **query)]
            return [self._settle_bootable(v) for v in volumes if wanted is None or v.id in wanted]

        return await self._call(work, subject=project_id)

    async def delete_volume(self, volume_id: str) -> None:
        self.calls.record("delete_volume")
        await self._call(self._conn.block_storage.delete_volume, volume_id, ignore_missing=False, subject=volume_id)

    async def attach_volume(self, server_id: str, volume_id: str, device: str | None = None) -> VolumeAttachment:
        self.calls.record("attach_volume")
        attrs: dict[str, Any] = {"volume_id": volume_id}
        if device is not None:
            attrs["device"] = device
        raw = await self._call(self._conn.compute.create_volume_attachment, server_id, subject=volume_id, **attrs)
        return VolumeAttachment(
            id=str(getattr(raw, "attachment_id", None) or raw.id),
            server_id=str(getattr(raw, "server_id", None) or server_id),
            volume_id=str(getattr(raw, "volume_id", None) or volume_id),
            device=str(getattr(raw, "device", None) or ""),
        )

    async def detach_volume(self, server_id: str, volume_id: str) -> None:
        self.calls.record("detach_volume")
        await self._call(
            self._conn.compute.delete_volume_attachment, server_id, volume_id, ignore_missing=False, subject=volume_id
        )

    async def swap_volume(
        self, server_id: str, old_volume_id: str, new_volume_id: str, *, delete_on_termination: bool | None = None
    ) -> None:
        self.calls.record("swap_volume")
        attrs: dict[str, Any] = {}
        if delete_on_termination is not None:
            attrs["delete_on_termination"] = delete_on_termination
        await self._call(
            self._conn.compute.update_volume_attachment,
            server_id,
            old_volume_id,
            volume_id=new_volume_id,
            subject=old_volume_id,
            **attrs,
        )

    async def upload_volume_to_image(
        self,
        volume_id: str,
        image_name: str,
        *,
        disk_format: str = "raw",
        container_format: str = "bare",
        force: bool = False,
    ) -> str:
        """Through the volume's project, so the image belongs to the volume's owner (as with snapshots)."""
        self.calls.record("upload_volume_to_image")

        def work() -> str:
            volume = self._conn.block_storage.get_volume(volume_id)
            conn = self._project_conn(str(volume.project_id))
            answer = conn.block_storage.upload_volume_to_image(
                volume, image_name, force=force, disk_format=disk_format, container_format=container_format
            )
            image_id = answer.get("image_id") if isinstance(answer, Mapping) else None
            if not image_id:
                raise VimFailure(f"Cinder accepted the upload of volume {volume_id} but named no image: {answer!r}")
            return str(image_id)

        return await self._call(work, subject=volume_id)

    # ---- volume snapshots --------------------------------------------------------------------

    async def create_volume_snapshot(
        self, volume_id: str, name: str, *, force: bool = False, description: str | None = None
    ) -> VolumeSnapshot:
        self.calls.record("create_volume_snapshot")

        def work() -> VolumeSnapshot:
            volume = self._conn.block_storage.get_volume(volume_id)
            conn = self._project_conn(str(volume.project_id))
            body: dict[str, Any] = {"volume_id": volume_id, "name": name, "is_forced": force}
            if description is not None:
                body["description"] = description
            return volume_snapshot_of(conn.block_storage.create_snapshot(**body))

        return await self._call(work, subject=volume_id)

    async def get_volume_snapshot(self, snapshot_id: str) -> VolumeSnapshot:
        self.calls.record("get_volume_snapshot")
        raw = await self._call(self._conn.block_storage.get_snapshot, snapshot_id, subject=snapshot_id)
        return volume_snapshot_of(raw)

    async def list_volume_snapshots(
        self, project_id: str | None = None, *, ids: Sequence[str] | None = None
    ) -> list[VolumeSnapshot]:
        self.calls.record("list_volume_snapshots")
        if ids is not None and not ids:
            return []

        def work() -> list[VolumeSnapshot]:
            query: dict[str, Any] = {"all_projects": True}
            if project_id is not None:
                query["project_id"] = project_id
            wanted = set(ids) if ids is not None else None
            snapshots = [volume_snapshot_of(s) for s in self._conn.block_storage.snapshots(details=True, **query)]
            return [s for s in snapshots if wanted is None or s.id in wanted]

        return await self._call(work, subject=project_id)

    async def delete_volume_snapshot(self, snapshot_id: str) -> None:
        self.calls.record("delete_volume_snapshot")
        await self._call(self._conn.block_storage.delete_snapshot, snapshot_id, ignore_missing=False, subject=snapshot_id)


PERSONALITY_MICROVERSION = "2.56"
"""The last compute API microversion that takes ``personality`` (files for the config drive)."""


def _create_with_files(compute: Any, body: dict[str, Any], files: Mapping[str, str]) -> Any:
    """Create a server with config-drive files: Nova's ``personality``, sent at microversion 2.56.

    Why this way: microversion 2.57 removed ``personality`` from the API (files go through user data
    since), but every Nova still serves older microversions per request, and an ESC day-0 file must
    appear on the config drive at its ``dst`` path (``openstack/content/*`` listed in
    ``meta_data.json``) for VNFs that read it from there. Only creates that carry files pin the
    microversion; Nova's injected-files quotas (count, bytes per file) apply and are reported verbatim.
    """
    from openstack.compute.v2 import server as sdk_server

    resource = sdk_server.Server.new(personality=personality(files), **body)
    return resource.create(compute, microversion=PERSONALITY_MICROVERSION)


def personality(files: Mapping[str, str]) -> list[dict[str, str]]:
    """Nova's ``personality``: each file's path and its UTF-8 text, base64-encoded."""
    return [{"path": path, "contents": base64.b64encode(text.encode()).decode("ascii")} for path, text in files.items()]


def _ports_by_device(ports: Iterable[PortInfo]) -> dict[str, list[PortInfo]]:
    grouped: dict[str, list[PortInfo]] = {}
    for port in ports:
        grouped.setdefault(port.device_id, []).append(port)
    return grouped


def _check_fixed_ip(network: Network, address: str) -> None:
    """Refuse, with Neutron's sentence, a fixed IP outside every subnet of ``network``.

    Nova accepts such a request and the server only fails in the compute service; refusing it
    here makes the outcome the same as for a taken address: an immediate ``VimConflict``.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise VimConflict(f"Invalid input for operation: '{address}' is not a valid IP address.", code=400) from None
    for subnet in network.subnets:
        try:
            if ip in ipaddress.ip_network(subnet.cidr, strict=False):
                return
        except ValueError:
            continue
    raise VimConflict(
        f"Invalid input for operation: IP address {address} is not a valid IP for the specified subnet.", code=400
    )

