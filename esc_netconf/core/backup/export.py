"""EXPORT: download a finished image to a file inside the export directory and verify it.

The data goes to ``<path>.part`` first and is renamed into place only after the md5 of every byte
matches Glance's ``checksum``, so a file at the destination is always a complete, verified image
(an export interrupted by a crash is simply redone on restart).  An image without data or without a
checksum is refused: an empty or unverifiable file is never reported as an export.  File writes run
in a worker thread; progress is logged every 10 %.

*Where files may go.* The server writes with its own rights, so a client must not choose any path:
every destination is confined to the export directory (``esc-netconf serve --export-dir``, default
``<data-dir>/exports``).  A relative destination is taken from it; an absolute one must lie inside
it once ``..`` and symbolic links are resolved (``confine``).  The check is made when the request is
validated (a refusal is an ``InvalidRequest``, error_code 400) and again just before writing, since a
link may have changed in between; the file is opened with ``O_NOFOLLOW`` and mode 0600, and
directories made here are 0700.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import IO

from esc_netconf.core.errors import InvalidRequest, VimOperationFailed
from esc_netconf.vim.base import VimDriver, VimError

__all__ = ["ExportFailed", "confine", "export_image", "export_path"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class ExportFailed(VimOperationFailed):
    """The image could not be downloaded, written, was empty, or did not match its checksum."""


def confine(export_dir: Path, destination: str | None) -> Path:
    """The real path ``destination`` names (relative ones from ``export_dir``), which must lie inside
    ``export_dir`` with ``..`` and symbolic links resolved; ``export_dir`` itself when none is given.

    :raises InvalidRequest: the destination is empty, holds a NUL, or lies outside the export directory.
    """
    root = Path(os.path.realpath(export_dir))
    if destination is None:
        return root
    if not destination.strip() or "\0" in destination:
        raise InvalidRequest(f"Export destination [{destination}] is not a valid path.")
    path = Path(destination)
    real = Path(os.path.realpath(path if path.is_absolute() else root / path))
    if not real.is_relative_to(root):
        raise InvalidRequest(f"Export destination [{destination}] is outside the export directory [{root}]; "
                             f"exports may only be written inside it (relative paths are taken from it).")
    return real


def export_path(export_dir: Path, destination: str | None, name: str, disk_format: str | None) -> Path:
    """Where an export goes: the confined ``destination`` (a directory, or a path ending in ``/``,
    receives ``<name>.<format>``), else ``<export_dir>/<name>.<format>``.

    The snapshot name is made safe as a file name (no separators, no leading dots).

    :raises InvalidRequest: see ``confine``.
    """
    file_name = f"{_UNSAFE.sub('_', name).lstrip('.') or 'snapshot'}.{disk_format or 'raw'}"
    real = confine(export_dir, destination)
    if destination is None or destination.endswith(("/", os.sep)) or real.is_dir():
        return real / file_name
    return real


async def export_image(driver: VimDriver, image_id: str, checksum: str | None, size: int | None,
                       path: Path, *, export_dir: Path | None = None) -> int:
    """Download ``image_id`` to ``path``; returns the number of bytes written.

    ``export_dir``: the directory ``path`` must still lie in (checked again right before writing).

    :raises ExportFailed: the image has no data or no checksum, ``path`` left the export directory,
        the VIM refused the download, the file could not be written, or the md5 of the data differs
        from ``checksum``.
    """
    if not size or not checksum:
        raise ExportFailed(f"Export of snapshot image [{image_id}] refused: the image holds no data to export "
                           f"(size {size or 0}, checksum {checksum or 'none'}).")
    partial = path.with_name(path.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    next_report = 10
    try:
        if export_dir is not None:
            await asyncio.to_thread(_recheck, export_dir, path)
        await asyncio.to_thread(_make_dirs, export_dir, path.parent)
        handle = await asyncio.to_thread(_open_private, partial)
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
        if written == 0:
            raise ExportFailed(f"Export of snapshot image [{image_id}] failed: the VIM sent no data "
                               f"(it reported {size} bytes).")
        if digest.hexdigest() != checksum:
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
    except InvalidRequest as exc:
        _discard(partial)
        raise ExportFailed(f"Export of snapshot image [{image_id}] refused: {exc.message}") from exc
    except ExportFailed:
        _discard(partial)
        raise
    log.info("export of image %s to %s complete: %d bytes, md5 verified", image_id, path, written)
    return written


def _recheck(export_dir: Path, path: Path) -> None:
    """``path`` (already resolved at validation) still resolves inside ``export_dir``."""
    confine(export_dir, str(path))


def _make_dirs(export_dir: Path | None, directory: Path) -> None:
    """Create ``directory`` (and the export directory) owner-only; existing ones are left as they are."""
    if export_dir is not None and not export_dir.exists():
        export_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for each in reversed(missing):
        each.mkdir(mode=_DIR_MODE, exist_ok=True)


def _open_private(path: Path) -> IO[bytes]:
    """Open ``path`` for writing, owner-only, refusing to follow a symbolic link planted there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)  # the file may have existed with other rights
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
