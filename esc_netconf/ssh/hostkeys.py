"""The server's SSH host keys: generated once into ``<data_dir>/ssh/`` and reused on every start.

Three keys so that every client finds an algorithm it likes: Ed25519 (modern default), ECDSA P-256
(FIPS-minded clients) and RSA 3072 (old clients; paramiko signs with rsa-sha2-256/512 when asked).
paramiko 5 cannot generate Ed25519 keys, so all three are generated with ``cryptography`` and stored
in OpenSSH private key format under OpenSSH's file names, mode 0600, next to a ``.pub`` file whose
fingerprint an operator can compare with what the client shows. A file is written to a temporary
name and renamed, so a crash never leaves half a key; an existing key that cannot be read is an
error, never silently replaced (that would change the server's identity).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

import paramiko
from paramiko.pkey import UnknownKeyType
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from esc_netconf.ssh.errors import HostKeyError

_log = logging.getLogger("esc_netconf.ssh")

_KEY_FILES: tuple[tuple[str, Callable[[], PrivateKeyTypes]], ...] = (
    ("ssh_host_ed25519_key", ed25519.Ed25519PrivateKey.generate),
    ("ssh_host_ecdsa_key", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("ssh_host_rsa_key", lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072)),
)


def load_or_create_host_keys(data_dir: Path) -> list[paramiko.PKey]:
    """Return the host keys from ``<data_dir>/ssh/``, generating the ones that do not exist yet.

    :raises HostKeyError: a key file exists but is unreadable or not a private key, or cannot be written.
    """
    key_dir = Path(data_dir) / "ssh"
    try:
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise HostKeyError(key_dir, f"cannot create directory: {exc.strerror or exc}") from exc
    keys: list[paramiko.PKey] = []
    for file_name, generate in _KEY_FILES:
        path = key_dir / file_name
        if not path.exists():
            _write_new_key(path, generate())
        keys.append(_load_key(path))
    return keys


def _write_new_key(path: Path, private_key: PrivateKeyTypes) -> None:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public_line = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    try:
        _write_atomically(path, private_pem, 0o600)
        _write_atomically(path.with_name(path.name + ".pub"), public_line + b" esc-netconf\n", 0o644)
    except OSError as exc:
        raise HostKeyError(path, f"cannot write: {exc.strerror or exc}") from exc
    _log.info("generated SSH host key %s", path)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def _read_key(path: Path) -> paramiko.PKey:
    """The key in ``path``; an RSA key without the consistency check of its private numbers.

    That check took 0.45 s of every start (paramiko's loader runs it twice, once in ``cryptography`` and once
    in its own parser). It guards against keys built by someone else; these files are the server's own,
    written by :func:`_write_new_key` from numbers ``cryptography`` generated, in a directory only the server's
    user may write (who could write there could replace the key anyway)."""
    try:
        loaded = serialization.load_ssh_private_key(path.read_bytes(), None, unsafe_skip_rsa_key_validation=True)
    except ValueError:  # not in OpenSSH's format (an operator's PEM key): paramiko's loader tells what it is
        loaded = None
    if isinstance(loaded, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=loaded)
    return paramiko.PKey.from_path(path)


def _load_key(path: Path) -> paramiko.PKey:
    try:
        mode = path.stat().st_mode
        key = _read_key(path)
    except OSError as exc:
        raise HostKeyError(path, f"cannot read: {exc.strerror or exc}") from exc
    except (ValueError, TypeError, paramiko.SSHException, UnknownKeyType) as exc:
        raise HostKeyError(path, f"not a usable private key ({exc.__class__.__name__})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _log.warning("SSH host key %s is readable by other users (mode %o)", path, stat.S_IMODE(mode))
    return key
