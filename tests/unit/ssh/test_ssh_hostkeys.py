"""Host keys are generated once into <data_dir>/ssh, private, and reused; broken ones are not replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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


def test_rsa_key_read_back_signs_what_paramikos_own_loading_verifies(tmp_path: Path) -> None:
    """The RSA key is read without cryptography's slow consistency check: it is still the key on disk."""
    rsa_key = load_or_create_host_keys(tmp_path)[2]
    reference = paramiko.PKey.from_path(tmp_path / "ssh" / "ssh_host_rsa_key")
    assert rsa_key.asbytes() == reference.asbytes()
    for algorithm in ("rsa-sha2-256", "rsa-sha2-512"):
        signature = rsa_key.sign_ssh_data(b"session id", algorithm)
        signature.rewind()
        assert reference.verify_ssh_sig(b"session id", signature)


def test_an_operators_pem_rsa_key_is_still_read(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_dir = tmp_path / "ssh"
    key_dir.mkdir(mode=0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    (key_dir / "ssh_host_rsa_key").write_bytes(pem)
    (key_dir / "ssh_host_rsa_key").chmod(0o600)
    assert load_or_create_host_keys(tmp_path)[2].get_bits() == 2048
