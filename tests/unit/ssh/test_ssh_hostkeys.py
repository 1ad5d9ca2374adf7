"""Host keys are generated once into <data_dir>/ssh, private, and reused; broken ones are not replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from esc_netconf.ssh import HostKeyError, load_or_create_host_keys


def test_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_host_keys(tmp_path)
    assert [key.get_name() for key in first] == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    assert first[2].get_bits() == 3072
    key_dir = tmp_path / "ssh"
    for name in ("ssh_host_ed25519_key", "ssh_host_ecdsa_key", "ssh_host_rsa_key"):
        assert stat.S_IMODE((key_dir / name).stat().st_mode) == 0o600
        assert (key_dir / f"{name}.pub").read_text().startswith(("ssh-ed25519 ", "ecdsa-sha2-nistp256 ", "ssh-rsa "))
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert all(key.can_sign() for key in first)
    mtimes = {p.name: p.stat().st_mtime_ns for p in key_dir.iterdir()}
    again = load_or_create_host_keys(tmp_path)
    assert [key.asbytes() for key in again] == [key.asbytes() for key in first]
    assert {p.name: p.stat().st_mtime_ns for p in key_dir.iterdir()} == mtimes
    assert not [p for p in key_dir.iterdir() if p.name.endswith(".tmp")]


def test_missing_key_is_added_and_others_kept(tmp_path: Path) -> None:
    first = load_or_create_host_keys(tmp_path)
    (tmp_path / "ssh" / "ssh_host_ecdsa_key").unlink()
    again = load_or_create_host_keys(tmp_path)
    assert again[0].asbytes() == first[0].asbytes() and again[2].asbytes() == first[2].asbytes()
    assert again[1].asbytes() != first[1].asbytes()


def test_corrupt_key_is_an_error_and_not_overwritten(tmp_path: Path) -> None:
    key_dir = tmp_path / "ssh"
    key_dir.mkdir()
    broken = key_dir / "ssh_host_ed25519_key"
    broken.write_text("not a key\n")
    with pytest.raises(HostKeyError) as caught:
        load_or_create_host_keys(tmp_path)
    assert caught.value.path == broken and str(broken) in str(caught.value)
    assert broken.read_text() == "not a key\n"
