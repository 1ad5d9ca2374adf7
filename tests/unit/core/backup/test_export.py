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


async def test_export_to_given_destination(backup: Backup, tmp_path: Path) -> None:
    vm = await backup.deploy()
    target = tmp_path / "out" / "vm.img"
    backup.manager.create_snapshot(vm.name, "e", export=True, destination=str(target))
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", OK, 200) and target.is_file()


async def test_export_failure_is_reported(backup: Backup, tmp_path: Path) -> None:
    vm = await backup.deploy()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    record = backup.manager.create_snapshot(vm.name, "e", export=True, destination=str(blocker / "x.img"))
    await backup.idle()
    assert backup.kinds()[-1] == ("VM_BACKUP_COMPLETE", FAIL, 500)
    assert "failed" in backup.events[-1].status_message
    assert backup.manager.get_snapshot(record.id).status is SnapshotStatus.ACTIVE  # the image itself is fine


async def test_bad_destination_is_refused(backup: Backup) -> None:
    vm = await backup.deploy()
    with pytest.raises(InvalidRequest):
        backup.manager.create_snapshot(vm.name, "e", export=True, destination="a\0b")


def test_export_path_rules(tmp_path: Path) -> None:
    assert export_path(tmp_path, None, "n", "qcow2") == tmp_path / "n.qcow2"
    assert export_path(tmp_path, "sub/", "n", None) == tmp_path / "sub" / "n.raw"
    assert export_path(tmp_path, "/abs/file.img", "n", "raw") == Path("/abs/file.img")
    assert export_path(tmp_path, str(tmp_path), "..", "raw") == tmp_path / "snapshot.raw"


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
        await export_image(driver, "img", None, None, tmp_path / "x.raw")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
