"""Files only the server's own user may read: the data dir (0700), the database, keys and backups (0600).

The database holds callback URLs, which may carry credentials, and the whole running configuration; a
backup holds the same. The data dir is made private when the server starts (an existing, looser one is
tightened and the change logged), the database is created private before SQLite opens it (SQLite gives
its ``-wal`` and ``-shm`` files the database's mode), and a backup is created private before a byte is
written to it. Host keys are written 0600 by ``ssh.hostkeys``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("esc_netconf.files")

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed and make it 0700; returns it.

    :raises OSError: it cannot be created or its mode changed.
    """
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.geteuid():
        # /tmp or someone else's directory: never chmod what others rely on; the files stay 0600
        if stat.S_IMODE(info.st_mode) & ~DIR_MODE:
            log.warning("%s is a shared directory (mode %o); give the server a data dir of its own",
                        path, stat.S_IMODE(info.st_mode))
        return path
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if it does not exist, and make it 0600 (its content is left alone); returns it.

    :raises OSError: it cannot be created or its mode changed.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _tighten(path, FILE_MODE)
    return path


def tighten_if_present(path: Path) -> None:
    """Make an existing file 0600 (nothing when it does not exist)."""
    try:
        _tighten(path, FILE_MODE)
    except FileNotFoundError:
        pass


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        os.chmod(path, mode)
        log.info("made %s private (mode %o, was %o)", path, mode, current)
