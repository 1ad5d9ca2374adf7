"""``SimCloud``: the simulated OpenStack, a first-class ``VimDriver`` (``--vim sim``, the default).

Each public coroutine records the call, takes one ``Request`` (the time now and a snapshot of the
live settings), and runs the operation in one SQLite transaction; nothing runs in the background.
Statuses are derived from persisted timelines and the wall clock (see ``timeline.py``), so
several ``SimCloud`` objects on one state directory, or one reopened after a crash, agree on
what the cloud looks like at any moment. Work is synchronous and short (milliseconds); the one
costly step, hashing a new snapshot image's pseudo-content, runs in a worker thread; every request's
SQLite work runs on the cloud's own worker thread (``_off_loop``), off the caller's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar
from pathlib import Path

from esc_netconf.gilshare import breathe
from esc_netconf.vim.base import (
    BlockDevice,
    Flavor,
    Image,
    Network,
    Port,
    PortSpec,
    Project,
    RebootType,
    Server,
    ServerDiagnostics,
    ServerStatus,
    VimCallCounter,
    VimFailure,
    Volume,
    VolumeAttachment,
    VolumeSnapshot,
)
from esc_netconf.vim.sim import attachments, diagnostics, images, messages, ports, servers, uploads, volumes
from esc_netconf.vim.sim.catalog import FLAVORS, NETWORKS, find_flavor, find_network
from esc_netconf.vim.sim.content import content_md5, iter_content
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.records import to_project, to_volume, to_volume_snapshot
from esc_netconf.vim.sim.settings import SimSettings
from esc_netconf.vim.sim.store import Kind, SimStore
from esc_netconf.vim.sim.timeline import GONE

__all__ = ["SimCloud"]

P = ParamSpec("P")
R = TypeVar("R")


def _off_loop(body: Callable[Concatenate[SimCloud, P], R]) -> Callable[Concatenate[SimCloud, P], Coroutine[Any, Any, R]]:
    """The coroutine method that runs ``body`` (synchronous: its SQLite work) on the cloud's worker thread."""

    async def call(self: SimCloud, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._on_worker(functools.partial(body, self, *args, **kwargs))

    functools.update_wrapper(call, body)  # name, docstring, and the signature inspect reports
    return call


class SimCloud:
    """The simulated cloud, persisted in ``state_dir``.

    ``settings`` is called on every request (the operator may change faults and the delay scale
    while we run). ``clock`` returns epoch seconds; tests pass a fake one to let time pass.
    """

    def __init__(
        self,
        state_dir: Path,
        settings: Callable[[], SimSettings],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.calls = VimCallCounter()
        self._settings = settings
        self._clock = clock
        self._store = SimStore(state_dir)
        images.seed_catalog(self._store, clock())
        self._closed = False
        #: Every request's SQLite work runs here, not on the caller's event loop: at thousands of VMs the
        #: simulated cloud's transactions held the controller's loop as a real cloud's HTTP calls never do.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-cloud")

    @property
    def state_file(self) -> Path:
        """The SQLite file holding the cloud (for operators and tests)."""
        return self._store.path

    def _request(self, method: str) -> Request:
        breathe()  # on the cloud's worker thread: between two requests the loop may take the GIL
        self.calls.record(method)
        if self._closed:
            raise VimFailure("The simulated cloud is closed.")
        return Request(store=self._store, settings=self._settings(), now=self._clock())

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.get_running_loop().run_in_executor(self._worker, self._store.close)  # after the rest
            self._worker.shutdown(wait=False)

    async def _on_worker(self, work: Callable[[], R]) -> R:
        """``work`` on the cloud's one worker thread (one thread: the SQLite file is used by one at a time)."""
        if self._closed:
            raise VimFailure("The simulated cloud is closed.")
        return await asyncio.get_running_loop().run_in_executor(self._worker, work)

    # ---- identity -------------------------------------------------------------------------

    @_off_loop
    def ensure_project(self, name: str) -> Project:
        req = self._request("ensure_project")
        with self._store.transaction():
            existing = self._store.select(Kind.PROJECT, req.now, name=name)
            if existing:
                return to_project(existing[0][1].view(req.now))
            fields = {"id": uuid.uuid4().hex, "name": name, "description": None, "enabled": True}
            return to_project(req.new(Kind.PROJECT, fields).view(req.now))

    @_off_loop
    def get_project(self, name_or_id: str) -> Project:
        req = self._request("get_project")
        found = self._store.get(Kind.PROJECT, name_or_id, req.now)
        if found is None:
            by_name = self._store.select(Kind.PROJECT, req.now, name=name_or_id)
            if not by_name:
                raise messages.project_not_found(name_or_id)
            found = by_name[0][1]
        return to_project(found.view(req.now))

    @_off_loop
    def delete_project(self, project_id: str) -> None:
        req = self._request("delete_project")
        with self._store.transaction():
            timeline = req.load(Kind.PROJECT, project_id, messages.project_not_found)
            timeline.replace_future(req.now, (req.now, {GONE: True}))
            req.save(Kind.PROJECT, timeline)

    @_off_loop
    def list_projects(self) -> list[Project]:
        req = self._request("list_projects")
        return [to_project(t.view(req.now)) for _, t in self._store.select(Kind.PROJECT, req.now)]

    # ---- catalog ----------------------------------------------------------------------------

    async def get_flavor(self, name_or_id: str) -> Flavor:
        self._request("get_flavor")
        return find_flavor(name_or_id)

    async def list_flavors(self) -> list[Flavor]:
        self._request("list_flavors")
        return list(FLAVORS)

    async def get_network(self, name_or_id: str) -> Network:
        self._request("get_network")
        return find_network(name_or_id)

    async def list_networks(self) -> list[Network]:
        self._request("list_networks")
        return list(NETWORKS)

    # ---- servers ----------------------------------------------------------------------------

    @_off_loop
    def create_server(
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
        req = self._request("create_server")
        with self._store.transaction():
            return servers.create_server(
                req,
                name,
                project_id=project_id,
                flavor=flavor,
                image_id=image_id,
                networks=networks,
                block_devices=block_devices,
                metadata=metadata,
                boot=servers.BootData(user_data, config_drive, dict(files or {})),
            )

    @_off_loop
    def create_port(self, *, project_id: str, network: str, name: str, fixed_ip: str | None = None) -> Port:
        req = self._request("create_port")
        with self._store.transaction():
            return ports.create_port(req, project_id=project_id, network=network, name=name, fixed_ip=fixed_ip)

    @_off_loop
    def delete_port(self, port_id: str) -> None:
        req = self._request("delete_port")
        with self._store.transaction():
            ports.delete_port(req, port_id)

    @_off_loop
    def server_boot_data(self, server_id: str) -> servers.BootData:
        """What the server was given for its guest (user data, config drive, files); sim only.

        :raises VimNotFound: no such server.
        """
        return servers.boot_data(self._request("server_boot_data"), server_id)

    @_off_loop
    def get_server(self, server_id: str) -> Server:
        return servers.get_server(self._request("get_server"), server_id)

    @_off_loop
    def list_servers(self, project_id: str | None = None) -> list[Server]:
        return servers.list_servers(self._request("list_servers"), project_id)

    @_off_loop
    def get_server_diagnostics(self, server_id: str) -> ServerDiagnostics:
        return diagnostics.get_server_diagnostics(self._request("get_server_diagnostics"), server_id)

    @_off_loop
    def stop_server(self, server_id: str) -> None:
        req = self._request("stop_server")
        with self._store.transaction():
            servers.stop_server(req, server_id)

    @_off_loop
    def start_server(self, server_id: str) -> None:
        req = self._request("start_server")
        with self._store.transaction():
            servers.start_server(req, server_id)

    @_off_loop
    def reboot_server(self, server_id: str, reboot_type: RebootType = RebootType.SOFT) -> None:
        req = self._request("reboot_server")
        with self._store.transaction():
            servers.reboot_server(req, server_id, RebootType(reboot_type))

    @_off_loop
    def delete_server(self, server_id: str) -> None:
        req = self._request("delete_server")
        with self._store.transaction():
            servers.delete_server(req, server_id)
            self._store.purge(req.now)

    @_off_loop
    def force_server_status(
        self, server_id: str, status: ServerStatus, *, fault: str | None = None
    ) -> None:
        """Out of band, as when someone kills a VM behind the controller's back: the server is
        ``status`` (ACTIVE, SHUTOFF or ERROR, with ``fault`` as Nova's fault message) from now on,
        and whatever it was doing is forgotten. Not part of ``VimDriver``; tests of recovery use it.

        :raises VimNotFound: no such server.
        """
        req = self._request("force_server_status")
        with self._store.transaction():
            servers.force_server_status(req, server_id, ServerStatus(status), fault)

    # ---- images -----------------------------------------------------------------------------

    @_off_loop
    def get_image(self, image_id: str) -> Image:
        return images.get_image(self._request("get_image"), image_id)

    @_off_loop
    def list_images(self, *, ids: Sequence[str] | None = None, name: str | None = None) -> list[Image]:
        return images.list_images(self._request("list_images"), ids, name)

    async def create_server_image(
        self, server_id: str, name: str, metadata: Mapping[str, str] | None = None
    ) -> str:
        req = self._request("create_server_image")
        image_id = str(uuid.uuid4())
        size = await self._on_worker(functools.partial(images.snapshot_size, req, server_id))
        checksum = await asyncio.to_thread(content_md5, image_id, size)
        req = Request(store=self._store, settings=req.settings, now=self._clock())

        def create() -> str:
            with self._store.transaction():
                return images.create_server_image(
                    req, server_id, name, metadata, image_id=image_id, size=size, checksum=checksum
                )

        return await self._on_worker(create)

    @_off_loop
    def delete_image(self, image_id: str) -> None:
        req = self._request("delete_image")
        with self._store.transaction():
            images.delete_image(req, image_id)

    def download_image(self, image_id: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self.calls.record("download_image")
        return self._download(image_id, chunk_size)

    async def _download(self, image_id: str, chunk_size: int) -> AsyncIterator[bytes]:
        req = Request(store=self._store, settings=self._settings(), now=self._clock())
        seed, size = await self._on_worker(functools.partial(images.download_source, req, image_id))
        for chunk in iter_content(seed, size, chunk_size):
            yield chunk
            await asyncio.sleep(0)

    # ---- volumes ----------------------------------------------------------------------------

    @_off_loop
    def create_volume(
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
        req = self._request("create_volume")
        with self._store.transaction():
            return to_volume(
                volumes.create_volume(
                    req,
                    name,
                    project_id=project_id,
                    size_gb=size_gb,
                    image_id=image_id,
                    snapshot_id=snapshot_id,
                    volume_type=volume_type,
                    bootable=bootable,
                    multiattach=multiattach,
                    description=description,
                )
            )

    @_off_loop
    def get_volume(self, volume_id: str) -> Volume:
        req = self._request("get_volume")
        return to_volume(req.view(Kind.VOLUME, volume_id, messages.volume_not_found))

    @_off_loop
    def list_volumes(self, project_id: str | None = None, *, ids: Sequence[str] | None = None) -> list[Volume]:
        req = self._request("list_volumes")
        rows = self._store.select(Kind.VOLUME, req.now, project_id=project_id, ids=ids)
        return [to_volume(t.view(req.now)) for _, t in rows]

    @_off_loop
    def delete_volume(self, volume_id: str) -> None:
        req = self._request("delete_volume")
        with self._store.transaction():
            volumes.delete_volume(req, volume_id)
            self._store.purge(req.now)

    @_off_loop
    def attach_volume(self, server_id: str, volume_id: str, device: str | None = None) -> VolumeAttachment:
        req = self._request("attach_volume")
        with self._store.transaction():
            return attachments.attach_volume(req, server_id, volume_id, device)

    @_off_loop
    def detach_volume(self, server_id: str, volume_id: str) -> None:
        req = self._request("detach_volume")
        with self._store.transaction():
            attachments.detach_volume(req, server_id, volume_id)

    @_off_loop
    def swap_volume(
        self, server_id: str, old_volume_id: str, new_volume_id: str, *, delete_on_termination: bool | None = None
    ) -> None:
        req = self._request("swap_volume")
        with self._store.transaction():
            attachments.swap_volume(req, server_id, old_volume_id, new_volume_id, delete_on_termination)

    async def upload_volume_to_image(
        self,
        volume_id: str,
        image_name: str,
        *,
        disk_format: str = "raw",
        container_format: str = "bare",
        force: bool = False,
    ) -> str:
        req = self._request("upload_volume_to_image")
        image_id = str(uuid.uuid4())
        seed, size = await self._on_worker(functools.partial(uploads.upload_source, req, volume_id, force))
        checksum = await asyncio.to_thread(content_md5, seed, size)
        req = Request(store=self._store, settings=req.settings, now=self._clock())

        def upload() -> str:
            with self._store.transaction():
                return uploads.upload_volume_to_image(
                    req, volume_id, image_name, disk_format=disk_format, container_format=container_format,
                    force=force, image_id=image_id, checksum=checksum,
                )

        return await self._on_worker(upload)

    # ---- volume snapshots -------------------------------------------------------------------

    @_off_loop
    def create_volume_snapshot(
        self, volume_id: str, name: str, *, force: bool = False, description: str | None = None
    ) -> VolumeSnapshot:
        req = self._request("create_volume_snapshot")
        with self._store.transaction():
            return to_volume_snapshot(
                volumes.create_volume_snapshot(req, volume_id, name, force=force, description=description)
            )

    @_off_loop
    def get_volume_snapshot(self, snapshot_id: str) -> VolumeSnapshot:
        req = self._request("get_volume_snapshot")
        return to_volume_snapshot(req.view(Kind.VOLUME_SNAPSHOT, snapshot_id, messages.snapshot_not_found))

    @_off_loop
    def list_volume_snapshots(
        self, project_id: str | None = None, *, ids: Sequence[str] | None = None
    ) -> list[VolumeSnapshot]:
        req = self._request("list_volume_snapshots")
        rows = self._store.select(Kind.VOLUME_SNAPSHOT, req.now, project_id=project_id, ids=ids)
        return [to_volume_snapshot(t.view(req.now)) for _, t in rows]

    @_off_loop
    def delete_volume_snapshot(self, snapshot_id: str) -> None:
        req = self._request("delete_volume_snapshot")
        with self._store.transaction():
            volumes.delete_volume_snapshot(req, snapshot_id)
            self._store.purge(req.now)
