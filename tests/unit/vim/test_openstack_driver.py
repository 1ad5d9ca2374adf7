"""The openstack driver's own logic, on a recording stand-in for ``openstack.connection.Connection``.

No sockets: the stand-in answers like the SDK proxies (attribute bags shaped as Zed's answers) and
records each call, so these tests pin what is sent (bodies, filters, scoping) and how answers and
errors come back; the real cloud is the functional tier's job (tests/functional).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from types import SimpleNamespace as NS
from typing import Any

import pytest

from esc_netconf.vim.base import (
    BlockDevice,
    BlockDeviceSource,
    PortSpec,
    ServerStatus,
    VimConflict,
    VimFailure,
    VimNotFound,
    VolumeStatus,
)
from esc_netconf.vim.openstack import OpenStackDriver, personality

NET = NS(id="net-1", name="net-mgmt", project_id="admin", is_shared=True, status="ACTIVE")
SUBNET = NS(id="sub-1", name="net-mgmt-subnet", network_id="net-1", cidr="10.10.0.0/16", gateway_ip="10.10.0.1")
FLAVOR = NS(id="f1", name="m1.tiny", vcpus=1, ram=512, disk=1)


class Recorder:
    """One proxy (``conn.compute``, ...): records ``(name, args, kwargs)`` and answers from ``answers``."""

    def __init__(self, log: list[tuple[str, tuple[Any, ...], dict[str, Any]]], answers: dict[str, Any]) -> None:
        self._log, self._answers = log, answers

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._log.append((name, args, kwargs))
            answer = self._answers.get(name)
            if isinstance(answer, BaseException):
                raise answer
            return answer(*args, **kwargs) if callable(answer) else answer
        return call


class FakeConnection:
    def __init__(self, **answers: Any) -> None:
        self.log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.scoped: list[str] = []
        self.answers = {
            "find_flavor": FLAVOR,
            "find_network": NET,
            "subnets": lambda **_: [SUBNET],
            "create_server": NS(id="srv-1"),
            "ports": lambda **_: [],
            **answers,
        }
        for proxy in ("compute", "network", "image", "block_storage", "identity"):
            setattr(self, proxy, Recorder(self.log, self.answers))
        self.closed = False

    def connect_as(self, *, project_id: str) -> FakeConnection:
        self.scoped.append(project_id)
        return self

    def close(self) -> None:
        self.closed = True

    def calls(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for n, a, k in self.log if n == name]


@pytest.fixture
def conn() -> FakeConnection:
    return FakeConnection()


@pytest.fixture
async def driver(conn: FakeConnection) -> Iterator[OpenStackDriver]:
    driver = OpenStackDriver(conn)
    yield driver  # type: ignore[misc]
    await driver.close()


async def test_create_server_body_and_scope(driver: OpenStackDriver, conn: FakeConnection) -> None:
    server = await driver.create_server(
        "vm", project_id="p1", flavor="m1.tiny", image_id="img-1",
        networks=[PortSpec("net-mgmt", "10.10.0.5"), PortSpec("net-mgmt")], metadata={"esc": "yes"}, user_data="#cloud",
    )
    assert (server.id, server.status, server.flavor, server.project_id) == ("srv-1", ServerStatus.BUILD, "m1.tiny", "p1")
    (_, body), = conn.calls("create_server")
    assert body["flavor_id"] == "f1" and body["image_id"] == "img-1" and body["metadata"] == {"esc": "yes"}
    assert body["networks"] == [{"uuid": "net-1", "fixed_ip": "10.10.0.5"}, {"uuid": "net-1"}]
    assert base64.b64decode(body["user_data"]) == b"#cloud" and conn.scoped == ["p1"]
    # the catalog is cached: a second server costs only the POST
    before = len(conn.log)
    await driver.create_server("vm2", project_id="p1", flavor="m1.tiny", image_id="img-1", networks=[PortSpec("net-1")])
    assert [n for n, _, _ in conn.log[before:]] == ["create_server"]


async def test_day0_user_data_and_config_drive(driver: OpenStackDriver, conn: FakeConnection) -> None:
    await driver.create_server("vm", project_id="p1", flavor="m1.tiny", image_id="img-1", networks=[],
                               user_data="#cloud-config\nhostname: caf\u00e9\n", config_drive=True)
    (_, body), = conn.calls("create_server")
    assert body["config_drive"] is True and base64.b64decode(body["user_data"]).decode() == "#cloud-config\nhostname: caf\u00e9\n"
    await driver.create_server("vm2", project_id="p1", flavor="m1.tiny", image_id="img-1", networks=[])
    assert "config_drive" not in conn.calls("create_server")[1][1]


def test_personality_carries_each_file_base64() -> None:
    files = personality({"iosxe_config.txt": "hostname r1\n", "/etc/motd": "hi"})
    assert files == [{"path": "iosxe_config.txt", "contents": base64.b64encode(b"hostname r1\n").decode()},
                     {"path": "/etc/motd", "contents": "aGk="}]


async def test_boot_from_volume_sends_no_image_and_none_networks(driver: OpenStackDriver, conn: FakeConnection) -> None:
    root = BlockDevice(BlockDeviceSource.IMAGE, "img-1", volume_size_gb=1, delete_on_termination=True)
    await driver.create_server("vm", project_id="p1", flavor="m1.tiny", image_id=None, networks=[], block_devices=[root])
    (_, body), = conn.calls("create_server")
    assert "image_id" not in body and body["networks"] == "none"
    assert body["block_device_mapping"] == [root.to_nova()]


async def test_fixed_ip_outside_the_subnet_is_refused_before_nova(driver: OpenStackDriver, conn: FakeConnection) -> None:
    with pytest.raises(VimConflict, match=r"IP address 192\.168\.1\.5 is not a valid IP for the specified subnet") as info:
        await driver.create_server("vm", project_id="p1", flavor="m1.tiny", image_id="i",
                                   networks=[PortSpec("net-mgmt", "192.168.1.5")])
    assert info.value.code == 400 and conn.calls("create_server") == []


async def test_sdk_errors_are_translated(conn: FakeConnection) -> None:
    from openstack import exceptions as sdk

    conn.answers["stop_server"] = sdk.ConflictException(details="Cannot 'stop' instance s1 while it is in vm_state stopped")
    conn.answers["get_volume"] = sdk.NotFoundException(details="Volume v9 could not be found.")
    conn.answers["find_flavor"] = sdk.NotFoundException("No Flavor found for m1.huge")
    driver = OpenStackDriver(conn)
    try:
        with pytest.raises(VimConflict, match="vm_state stopped"):
            await driver.stop_server("s1")
        with pytest.raises(VimNotFound, match="Volume v9 could not be found"):
            await driver.get_volume("v9")
        with pytest.raises(VimNotFound, match="m1.huge"):
            await driver.get_flavor("m1.huge")
        assert driver.calls["stop_server"] == 1 and driver.calls.total == 3
    finally:
        await driver.close()


def _volume(status: str, bootable: bool) -> NS:
    return NS(id="v1", name="v", status=status, project_id="p1", size=1, volume_type="LVM", is_bootable=bootable,
              is_multiattach=False, volume_image_metadata={}, snapshot_id=None, attachments=[],
              created_at="2026-11-25T13:00:00.000000", updated_at=None, description=None)


async def test_explicit_bootable_is_applied_once_available(driver: OpenStackDriver, conn: FakeConnection) -> None:
    states = iter([_volume("creating", False), _volume("available", False), _volume("available", True)])
    conn.answers["create_volume"] = _volume("creating", False)
    conn.answers["get_volume"] = lambda *_: next(states)
    created = await driver.create_volume("v", project_id="p1", size_gb=1, bootable=True)
    assert created.status is VolumeStatus.CREATING and conn.calls("set_volume_bootable_status") == []
    assert not (await driver.get_volume("v1")).bootable  # still creating: Cinder would refuse the action
    shown = await driver.get_volume("v1")
    assert shown.bootable and conn.calls("set_volume_bootable_status") == [(("v1", True), {})]
    conn.answers["get_volume"] = _volume("available", True)
    await driver.get_volume("v1")
    assert len(conn.calls("set_volume_bootable_status")) == 1  # applied once


async def test_list_volumes_filters_by_project_then_ids(driver: OpenStackDriver, conn: FakeConnection) -> None:
    other = _volume("available", False)
    other.id = "v2"
    conn.answers["volumes"] = lambda **_: [_volume("available", False), other]
    assert [v.id for v in await driver.list_volumes("p1", ids=["v2"])] == ["v2"]
    assert conn.calls("volumes") == [((), {"details": True, "all_projects": True, "project_id": "p1"})]
    assert await driver.list_volumes(ids=[]) == [] and len(conn.calls("volumes")) == 1


async def test_download_streams_active_images_only(driver: OpenStackDriver, conn: FakeConnection) -> None:
    image = NS(id="i1", name="x", status="active", owner_id="p1", size=6, checksum="c", disk_format="raw",
               container_format="bare", min_disk=0, min_ram=0, visibility="private", created_at=None,
               updated_at=None, properties={})
    response = NS(status_code=200, iter_content=lambda chunk_size: iter([b"abc", b"def"]), close=lambda: None)
    conn.answers["get_image"] = image
    conn.answers["get"] = response
    assert [c async for c in driver.download_image("i1", chunk_size=3)] == [b"abc", b"def"]
    image.status = "queued"
    with pytest.raises(VimConflict, match="has status queued"):
        assert [chunk async for chunk in driver.download_image("i1")] == []


async def test_closed_driver_refuses(conn: FakeConnection) -> None:
    driver = OpenStackDriver(conn)
    await driver.close()
    await driver.close()  # idempotent
    assert conn.closed
    with pytest.raises(VimFailure, match="closed"):
        await driver.list_flavors()


async def test_upload_volume_to_image_goes_through_the_volume_project(driver: OpenStackDriver,
                                                                      conn: FakeConnection) -> None:
    volume = _volume("available", True)
    conn.answers["get_volume"] = volume
    conn.answers["upload_volume_to_image"] = {"id": "v1", "status": "uploading", "image_id": "img-9",
                                              "image_name": "esc-export-x", "disk_format": "raw"}
    assert await driver.upload_volume_to_image("v1", "esc-export-x") == "img-9"
    assert conn.scoped == ["p1"] and driver.calls["upload_volume_to_image"] == 1
    assert conn.calls("upload_volume_to_image") == [
        ((volume, "esc-export-x"), {"force": False, "disk_format": "raw", "container_format": "bare"})]
    conn.answers["upload_volume_to_image"] = {"id": "v1", "status": "uploading"}
    with pytest.raises(VimFailure, match="named no image"):
        await driver.upload_volume_to_image("v1", "esc-export-y")


# Nova Zed's answer (compute 2.48) for a server of the fake virt driver the functional tier runs
FAKE_DIAGNOSTICS = NS(state="running", driver="libvirt", hypervisor="kvm", uptime=46664, num_cpus=1,
                      cpu_details=[{"id": 0, "time": 17300000000, "utilisation": 15}],
                      memory_details={"maximum": 524288, "used": 0})


async def test_server_diagnostics_are_read_through_the_admin_connection(conn: FakeConnection) -> None:
    from openstack import exceptions as sdk

    conn.answers["get_server_diagnostics"] = FAKE_DIAGNOSTICS
    driver = OpenStackDriver(conn)
    try:
        diagnostics = await driver.get_server_diagnostics("s1")
        assert conn.calls("get_server_diagnostics") == [(("s1",), {})] and conn.scoped == []
        assert (diagnostics.server_id, diagnostics.cpu_percent(), diagnostics.memory_percent()) == ("s1", 15.0, 0.0)
        conn.answers["get_server_diagnostics"] = sdk.ConflictException(
            details="Cannot 'get_diagnostics' instance s1 while it is in power state shutdown")
        with pytest.raises(VimConflict, match="power state shutdown"):
            await driver.get_server_diagnostics("s1")
        assert driver.calls["get_server_diagnostics"] == 2
    finally:
        await driver.close()
