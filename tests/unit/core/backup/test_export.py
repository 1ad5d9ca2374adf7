"""EXPORT: the snapshot's image data lands in a verified file; failures are reported like any other."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from esc_netconf.core.backup import ExportFailed, SnapshotStatus
from esc_netconf.core.backup.export import export_image, export_path
from esc_netconf.core.errors import InvalidRequest
from esc_netconf.vim.base import VimConflict
from esc_netconf.vim.sim import FaultMode
from esc_netconf.vim.sim.content import content_md5

from .conftest import Backup
from .test_create import FAIL, OK


async def test_export_to_default_path_is_verified(backup: Backup) -> None:
    vm = await backup.deploy()
    record = backup.manager.create_snapshot(vm.name, "exp/../weird", export=True)
    await backup.idle()
    assert backup.kinds() == [("VM_BACKUP_INIT", OK, 200), ("VM_BACKUP_CREATED", OK, 202),
                              ("VM_BACKUP_COMPLETE", OK, 200)]
    snapshot = backup.manager.get_snapshot(record.id)
    image = await backup.sim.get_image(snapshot.image_id or "")
    path = backup.export_dir / f"exp_.._weird.{image.disk_format}"
    assert snapshot.export_path == str(path) and snapshot.status is SnapshotStatus.ACTIVE
    data = path.read_bytes()
    assert len(data) == image.size and image.size
    assert hashlib.md5(data, usedforsecurity=False).hexdigest() == image.checksum
    assert not path.with_name(path.name + ".part").exists()
    assert f"exported to [{path}]" in backup.events[-1].status_message


async def test_export_to_given_destination(backup: Backup) -> None:
    vm = await backup.deploy()
    target = backup.export_dir / "out" / "vm.img"
    backup.manager.create_snapshot(vm.name, "e", export=True, destination=str(target))
    await backup.idle()
    backup.manager.create_snapshot(vm.name, "f", export=True, destination="rel/")
    await backup.idle()
    assert [k for k in backup.kinds() if k[0] == "VM_BACKUP_COMPLETE"] == [("VM_BACKUP_COMPLETE", OK, 200)] * 2
    assert target.is_file() and (backup.export_dir / "rel" / "f.qcow2").is_file()
    assert target.stat().st_mode & 0o777 == 0o600
    assert (backup.export_dir / "out").stat().st_mode & 0o777 == 0o700


async def test_export_failure_is_reported(backup: Backup) -> None:
    vm = await backup.deploy()
    backup.export_dir.mkdir()
    blocker = backup.export_dir / "file"
    blocker.write_text("not a directory")
    record = backup.manager.create_snapshot(vm.name, "e", export=True, destination="file/x.img")
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    assert "failed" in backup.events[-1].status_message
    assert backup.manager.get_snapshot(record.id).status is SnapshotStatus.ACTIVE  # the image itself is fine


@pytest.mark.parametrize("destination", ["a\0b", " "])
async def test_bad_destination_is_refused(backup: Backup, destination: str) -> None:
    vm = await backup.deploy()
    with pytest.raises(InvalidRequest, match="is not a valid path"):
        backup.manager.create_snapshot(vm.name, "e", export=True, destination=destination)


async def test_destinations_outside_the_export_directory_are_refused_up_front(backup: Backup,
                                                                               tmp_path: Path) -> None:
    vm = await backup.deploy()
    outside = tmp_path / "outside"
    outside.mkdir()
    backup.export_dir.mkdir()
    (backup.export_dir / "escape").symlink_to(outside)
    (backup.export_dir / "link.img").symlink_to(outside / "victim.img")
    for destination in (str(outside / "x.img"), "/etc/passwd", "../outside/x.img", "a/../../outside/x.img",
                        "escape/x.img", "escape/", "link.img", str(backup.export_dir / ".." / "x.img")):
        mark = len(backup.events)
        with pytest.raises(InvalidRequest, match="is outside the export directory") as refused:
            backup.manager.create_snapshot(vm.name, "e", export=True, destination=destination)
        assert refused.value.status_code == 400 and f"[{destination}]" in refused.value.message
        assert backup.events[mark:] == []  # refused before anything started
    assert list(outside.iterdir()) == [] and backup.manager.list_snapshots() == []


async def test_a_link_planted_after_validation_is_not_followed(backup: Backup, tmp_path: Path) -> None:
    """The check is made again right before writing: a directory swapped for a link in between fails."""
    vm = await backup.deploy()
    outside = tmp_path / "outside"
    outside.mkdir()
    backup.export_dir.mkdir()
    backup.faults["image.create"] = FaultMode.TIMEOUT  # hold the snapshot in POLL
    backup.settings["vim.asyncpoller.snapshot.create.timeout.mins"] = 10.0
    record = backup.manager.create_snapshot(vm.name, "e", export=True, destination="later/x.img")
    await backup.wait_for(lambda: backup.kinds()[-1][0] == "VM_BACKUP_CREATED")
    (backup.export_dir / "later").symlink_to(outside)
    await backup.restart()  # a new driver sees the image stuck; let the VIM finish it
    backup.faults.clear()
    await backup.manager.stop()
    image = backup.manager.get_snapshot(record.id).image_id or ""
    await _finish_image(backup, image)
    await backup.manager.start()
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    assert "is outside the export directory" in backup.events[-1].status_message
    assert list(outside.iterdir()) == []


async def _finish_image(backup: Backup, image_id: str) -> None:
    """Make a stuck simulated image active (as the VIM would eventually)."""
    from esc_netconf.vim.sim.store import Kind
    store = backup.sim._store  # the test reaches into the simulated cloud it owns
    timeline = store.get(Kind.IMAGE, image_id, 0.0) or pytest.fail("image missing")
    timeline.base.update({"status": "active", "size": 4096, "checksum": content_md5(image_id, 4096)})
    timeline.steps.clear()
    with store.transaction():
        store.put(Kind.IMAGE, image_id, timeline.base.get("project_id"), timeline.base["name"], timeline)


def test_export_path_rules(tmp_path: Path) -> None:
    assert export_path(tmp_path, None, "n", "qcow2") == tmp_path.resolve() / "n.qcow2"
    assert export_path(tmp_path, "sub/", "n", None) == tmp_path.resolve() / "sub" / "n.raw"
    assert export_path(tmp_path, str(tmp_path / "file.img"), "n", "raw") == tmp_path.resolve() / "file.img"
    assert export_path(tmp_path, str(tmp_path), "..", "raw") == tmp_path.resolve() / "snapshot.raw"
    with pytest.raises(InvalidRequest):
        export_path(tmp_path, "/abs/file.img", "n", "raw")


class _FakeDriver:
    """Only ``download_image``: yields fixed chunks, or raises as the VIM would."""

    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self.chunks, self.error = chunks, error

    def download_image(self, image_id: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        if self.error is not None:
            raise self.error
        for chunk in self.chunks:
            yield chunk


async def test_checksum_mismatch_leaves_no_file(tmp_path: Path) -> None:
    driver = _FakeDriver([b"abc", b"def"])
    target = tmp_path / "x.raw"
    with pytest.raises(ExportFailed, match="does not match"):
        await export_image(driver, "img", "0" * 32, 6, target)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    good = hashlib.md5(b"abcdef", usedforsecurity=False).hexdigest()
    assert await export_image(driver, "img", good, 6, target) == 6  # type: ignore[arg-type]
    assert target.read_bytes() == b"abcdef"


async def test_download_refused_by_the_vim(tmp_path: Path) -> None:
    driver = _FakeDriver([], VimConflict("Image img is not active"))
    with pytest.raises(ExportFailed, match="Image img is not active"):
        await export_image(driver, "img", "0" * 32, 6, tmp_path / "x.raw")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("size", "checksum"), [(0, "d41d8cd98f00b204e9800998ecf8427e"), (None, None), (6, None)])
async def test_an_image_without_data_or_checksum_is_never_exported(tmp_path: Path, size: int | None,
                                                                   checksum: str | None) -> None:
    driver = _FakeDriver([b"abcdef"])
    with pytest.raises(ExportFailed, match="holds no data to export"):
        await export_image(driver, "img", checksum, size, tmp_path / "x.raw")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


async def test_no_bytes_from_the_vim_is_a_failure(tmp_path: Path) -> None:
    driver = _FakeDriver([])
    with pytest.raises(ExportFailed, match="the VIM sent no data"):
        await export_image(driver, "img", "0" * 32, 6, tmp_path / "x.raw")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
