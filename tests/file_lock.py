"""A lock between the processes of one test run (pytest-xdist workers) around a build into the work tree.

Why: a session fixture of each worker builds the same artefact (the libnetconf2 client in .cache/); two
compilers writing one file, or one worker running a binary the other is still linking, fail at random. An
``flock`` is released by the kernel when its holder dies, so a killed run leaves no stale lock behind.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder, when missing) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
