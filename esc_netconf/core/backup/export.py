"""EXPORT: download a finished snapshot image to a file and verify it against the VIM's checksum.

The data goes to ``<path>.part`` first and is renamed into place only after the md5 of every byte
matches Glance's ``checksum``, so a file at the destination is always a complete, verified image
(an export interrupted by a crash is simply redone on restart).  File writes run in a worker thread;
progress is logged every 10 %.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from pathlib import Path

from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.vim.base import VimDriver, VimError

__all__ = ["ExportFailed", "export_image", "export_path"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


class ExportFailed(VimOperationFailed):
    """The image could not be downloaded, written, or did not match its checksum."""


def export_path(export_dir: Path, destination: str | None, name: str, disk_format: str | None) -> Path:
    """Where an export goes: ``destination`` (relative to ``export_dir``; a directory, or a path ending
    in ``/``, receives ``<name>.<format>``), else ``<export_dir>/<name>.<format>``.

    The snapshot name is made safe as a file name (no separators, no leading dots).
    """
    file_name = f"{_UNSAFE.sub('_', name).lstrip('.') or 'snapshot'}.{disk_format or 'raw'}"
    if not destination:
        return export_dir / file_name
    path = Path(destination).expanduser()
    if not path.is_absolute():
        path = export_dir / path
    if destination.endswith(("/", os.sep)) or path.is_dir():
        return path / file_name
    return path


async def export_image(driver: VimDriver, image_id: str, checksum: str | None, size: int | None,
                       path: Path) -> int:
    """Download ``image_id`` to ``path``; returns the number of bytes written.

    :raises ExportFailed: the VIM refused the download, the file could not be written, or the md5 of
        the data differs from ``checksum``.
    """
    partial = path.with_name(path.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    next_report = 10
    try:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(open, partial, "wb", opener=_owner_only)
        try:
            async for chunk in driver.download_image(image_id):
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
                written += len(chunk)
                if size:
                    percent = written * 100 // size
                    if percent >= next_report:
                        log.info("export of image %s to %s: %d%% (%d of %d bytes)", image_id, path,
                                 percent, written, size)
                        next_report = (percent // 10 + 1) * 10
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        finally:
            await asyncio.to_thread(handle.close)
        if checksum is not None and digest.hexdigest() != checksum:
            raise ExportFailed(f"Export of snapshot image [{image_id}] failed: checksum {digest.hexdigest()} "
                               f"does not match the VIM's {checksum}.")
        await asyncio.to_thread(os.replace, partial, path)
    except VimError as exc:
        _discard(partial)
        raise ExportFailed(f"Export of snapshot image [{image_id}] failed: {exc.message}") from exc
    except OSError as exc:
        _discard(partial)
        raise ExportFailed(f"Export of snapshot image [{image_id}] to [{path}] failed: "
                           f"{exc.strerror or exc}") from exc
    except ExportFailed:
        _discard(partial)
        raise
    log.info("export of image %s to %s complete: %d bytes, md5 verified", image_id, path, written)
    return written


def _owner_only(path: str, flags: int) -> int:
    """Open for ``open()`` creating the file 0600: an exported VM image is as private as the VM's disk."""
    return os.open(path, flags, 0o600)


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
