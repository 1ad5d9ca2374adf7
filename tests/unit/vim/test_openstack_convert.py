"""SDK resources -> base values, fed with attribute bags shaped like real Zed API answers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace as NS

from esc_netconf.vim.base import ImageStatus, ServerStatus, VolumeStatus
from esc_netconf.vim.openstack_convert import (
    PortInfo,
    image_of,
    parse_time,
    server_diagnostics_of,
    server_of,
    status_of,
    volume_of,
)


def test_times_are_aware_utc() -> None:
    assert parse_time("2026-11-25T13:00:00Z") == datetime(2026, 11, 25, 13, tzinfo=UTC)
    assert parse_time("2026-11-25T13:00:00.000000") == datetime(2026, 11, 25, 13, tzinfo=UTC)
    assert parse_time(None) == datetime(1970, 1, 1, tzinfo=UTC)


def test_unknown_status_is_unknown() -> None:
    assert status_of(ServerStatus, "SOFT_DELETED") is ServerStatus.UNKNOWN
    assert status_of(VolumeStatus, "in-use") is VolumeStatus.IN_USE


def _server(**extra: object) -> NS:
    body = {
        "id": "s1", "name": "vm", "status": "ACTIVE", "project_id": "p1", "image": {"id": "i1"},
        "flavor": {"original_name": "m1.tiny", "vcpus": 1}, "host_id": "h" * 56, "hypervisor_hostname": "fake-mini",
        "attached_volumes": [{"id": "v1", "delete_on_termination": True}], "created_at": "2026-11-25T13:00:00Z",
        "updated_at": "2026-11-25T13:00:05Z", "fault": None, "task_state": None, "metadata": {"esc": "yes"},
        "addresses": {
            "net-mgmt": [{"addr": "10.10.0.5", "version": 4, "OS-EXT-IPS:type": "fixed",
                          "OS-EXT-IPS-MAC:mac_addr": "FA:16:3E:00:00:01"}],
            "net-data": [{"addr": "10.20.0.9", "version": 4, "OS-EXT-IPS:type": "fixed",
                          "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:02"},
                         {"addr": "172.24.4.9", "version": 4, "OS-EXT-IPS:type": "floating",
                          "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:02"}],
        },
    }
    body.update(extra)
    return NS(**body)


def test_server_nics_in_nova_order_with_their_ports() -> None:
    ports = [PortInfo("port-b", "s1", "fa:16:3e:00:00:02", "net-b"), PortInfo("port-a", "s1", "fa:16:3e:00:00:01", "net-a")]
    server = server_of(_server(), ports)
    assert server.status is ServerStatus.ACTIVE and server.flavor == "m1.tiny" and server.image_id == "i1"
    assert [(a.nic, a.network, a.fixed_ip, a.port_id, a.network_id) for a in server.addresses] == [
        (0, "net-mgmt", "10.10.0.5", "port-a", "net-a"),
        (1, "net-data", "10.20.0.9", "port-b", "net-b"),
    ]
    assert server.volumes_attached == ("v1",) and server.hostname == "fake-mini" and server.fault is None


def test_server_booted_from_volume_and_in_error() -> None:
    server = server_of(_server(image="", status="ERROR", fault={"message": "No valid host was found. "}, addresses={}))
    assert server.image_id is None and server.status is ServerStatus.ERROR
    assert server.fault == "No valid host was found. " and server.addresses == ()


def test_image_properties_keep_only_user_properties() -> None:
    image = image_of(
        NS(id="i1", name="snap", status="active", owner_id="p1", size=0, checksum=None, disk_format="raw",
           container_format="bare", min_disk=1, min_ram=0, visibility="private", created_at="2026-11-25T13:00:00Z",
           updated_at=None, properties={"bdm_v2": "True", "block_device_mapping": '[{"source_type": "snapshot", '
                                        '"snapshot_id": "vs1", "boot_index": 0}]', "os_hash_algo": "sha512",
                                        "min_ram": 0, "esc_vm": "vm"})
    )
    assert image.status is ImageStatus.ACTIVE and image.project_id == "p1" and image.size == 0
    assert image.properties == {"bdm_v2": "True", "block_device_mapping": image.properties["block_device_mapping"], "esc_vm": "vm"}
    assert image.volume_snapshot_ids() == ("vs1",)
    assert image.updated_at == image.created_at


def test_volume_from_cinder_fields() -> None:
    volume = volume_of(
        NS(id="v1", name="root", status="in-use", project_id="p1", size=1, volume_type="__DEFAULT__", is_bootable="true",
           is_multiattach=False, volume_image_metadata={"image_id": "i1"}, snapshot_id=None,
           attachments=[{"server_id": "s1", "attachment_id": "a1", "device": "/dev/vdb", "volume_id": "v1"}],
           created_at="2026-11-25T13:00:00.000000", updated_at="2026-11-25T13:00:01.000000", description="")
    )
    assert volume.bootable and volume.status is VolumeStatus.IN_USE and volume.source_image_id == "i1"
    assert [(a.id, a.server_id, a.device) for a in volume.attachments] == [("a1", "s1", "/dev/vdb")]
    assert volume.description is None and volume.source_snapshot_id is None


def test_server_diagnostics_keep_what_the_hypervisor_leaves_out_unknown() -> None:
    full = server_diagnostics_of(NS(state="running", num_cpus=2, uptime=10, driver="libvirt",
                                    cpu_details=[{"id": 0, "utilisation": 10}, {"id": 1, "utilisation": 30}],
                                    memory_details={"maximum": 2048, "used": 512}), "s1")
    assert (full.cpu_percent(), full.memory_percent(), full.num_cpus) == (20.0, 25.0, 2)
    # a hypervisor that reports no utilisation (Nova answers null) and no memory use: nothing is guessed
    sparse = server_diagnostics_of(NS(state="running", cpu_details=[{"id": 0, "utilisation": None}],
                                      memory_details={"maximum": 2048, "used": None}), "s2")
    assert (sparse.cpu_percent(), sparse.memory_percent(), sparse.cpu_utilisation) == (None, None, (None,))
    empty = server_diagnostics_of(NS(), "s3")
    assert (empty.cpu_utilisation, empty.memory_max_mb, empty.state) == ((), None, None)
