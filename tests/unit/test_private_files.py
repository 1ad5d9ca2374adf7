"""Private files: the data dir 0700, files 0600, and shared directories left alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from esc_netconf.private_files import private_dir, private_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_and_loose_paths_become_private(tmp_path: Path) -> None:
    fresh = private_dir(tmp_path / "a" / "data")
    assert _mode(fresh) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    assert _mode(private_dir(loose)) == 0o700
    existing = loose / "esc.db"
    existing.write_bytes(b"kept")
    existing.chmod(0o644)
    assert _mode(private_file(existing)) == 0o600 and existing.read_bytes() == b"kept"
    assert _mode(private_file(loose / "new.db")) == 0o600


def test_a_sticky_shared_directory_is_not_changed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    shared.chmod(0o1777)
    with caplog.at_level("WARNING", logger="esc_netconf.files"):
        private_dir(shared)
    assert _mode(shared) == 0o1777
    assert "shared directory" in caplog.text
