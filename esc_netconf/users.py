"""Users who may log in over NETCONF/SSH (and REST basic auth): passwords and public keys.

The user list lives in the ``--config`` TOML file::

    [[users]]
    name = "admin"
    password_hash = "scrypt$16384$8$1$<salt b64>$<hash b64>"  # python -m esc_netconf.users hash-password
    authorized_keys = ["ssh-ed25519 AAAA... comment"]
    authorized_keys_file = "keys/admin.pub"                 # relative to the TOML file

Passwords are never stored: only a salted scrypt hash (our format) or a Django-style
``pbkdf2_sha256$<iterations>$<salt>$<hash b64>`` hash, so that hashes made by existing tooling work.
Every check runs a key derivation (a dummy one for an unknown user) and compares in constant time, so
timing does not tell an attacker which user names exist. The whole file is validated when it is
loaded: a typo must stop the server at start-up, not lock the operator out later.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import re
import secrets
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.pkey import UnknownKeyType

from esc_netconf.errors import EscError

__all__ = ["ConfigError", "User", "UserDB", "hash_password", "parse_authorized_key", "main"]

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_DK_BYTES = 32
_MAX_SCRYPT_MEMORY = 2**30
_VERIFIED_CACHE_SIZE = 1024
_USER_FIELDS = frozenset({"name", "password_hash", "authorized_keys", "authorized_keys_file"})
_KEY_LINE = re.compile(r"^(?P<type>[A-Za-z0-9@._-]+)\s+(?P<blob>[A-Za-z0-9+/]+={0,3})(?:\s+.*)?$")


class ConfigError(EscError):
    """The configuration file is unusable; ``path`` names the file and ``problem`` says why."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def hash_password(password: str) -> str:
    """Return ``scrypt$N$r$p$salt$hash`` (base64 fields) for ``password``, with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    derived = _scrypt(password.encode("utf-8"), salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        ("scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(derived))
    )


@dataclass(frozen=True, slots=True)
class _ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    derived: bytes

    def matches(self, password: bytes) -> bool:
        candidate = _scrypt(password, self.salt, self.n, self.r, self.p, len(self.derived))
        return hmac.compare_digest(candidate, self.derived)


@dataclass(frozen=True, slots=True)
class _Pbkdf2Hash:
    iterations: int
    salt: bytes
    derived: bytes

    def matches(self, password: bytes) -> bool:
        candidate = hashlib.pbkdf2_hmac("sha256", password, self.salt, self.iterations, len(self.derived))
        return hmac.compare_digest(candidate, self.derived)


_PasswordHash = _ScryptHash | _Pbkdf2Hash


def _parse_password_hash(text: str) -> _PasswordHash:
    """Decode a stored hash; raises ValueError saying what is wrong (the caller adds the file name)."""
    fields = text.split("$")
    scheme = fields[0]
    try:
        if scheme == "scrypt" and len(fields) == 6:
            n, r, p = int(fields[1]), int(fields[2]), int(fields[3])
            if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 64:
                raise ValueError("scrypt parameters out of range")
            if 128 * r * (n + p + 2) > _MAX_SCRYPT_MEMORY:
                raise ValueError("scrypt parameters need too much memory")
            return _ScryptHash(n, r, p, _unb64(fields[4]), _unb64(fields[5]))
        if scheme == "pbkdf2_sha256" and len(fields) == 4:
            iterations = int(fields[1])
            if not 1 <= iterations <= 10_000_000:
                raise ValueError("pbkdf2 iteration count out of range")
            return _Pbkdf2Hash(iterations, fields[2].encode("utf-8"), _unb64(fields[3]))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"bad base64 in password hash ({exc})") from exc
    raise ValueError(
        "password_hash must be 'scrypt$N$r$p$salt$hash' or 'pbkdf2_sha256$iterations$salt$hash'"
    )


def parse_authorized_key(line: str) -> paramiko.PKey:
    """Parse one OpenSSH ``authorized_keys`` line (``type base64 [comment]``) into a public key.

    Lines with leading options (``from=...``, ``command=...``) are refused rather than accepted with
    their restrictions silently ignored.

    :raises ValueError: the line is not a key we can use.
    """
    match = _KEY_LINE.match(line.strip())
    if match is None:
        raise ValueError(f"not an authorized_keys line (options are not supported): {line.strip()[:60]!r}")
    key_type = match["type"]
    try:
        blob = base64.b64decode(match["blob"], validate=True)
        key = paramiko.PKey.from_type_string(key_type, blob)
    except (binascii.Error, paramiko.SSHException, UnknownKeyType, ValueError, TypeError) as exc:
        raise ValueError(f"unusable {key_type} key ({exc.__class__.__name__}: {exc})") from exc
    if key.get_name() != key_type:
        raise ValueError(f"key blob is a {key.get_name()} key, the line says {key_type}")
    return key


@dataclass(frozen=True, slots=True)
class User:
    """One login: any of a password hash and public keys (at least one of them)."""

    name: str
    password: _PasswordHash | None
    public_keys: frozenset[bytes]  # public key blobs, as sent in SSH userauth requests


class UserDB:
    """The users allowed to log in. Read-only after construction, so safe to share between threads."""

    def __init__(self, users: Iterable[User], *, is_default: bool = False) -> None:
        self._users: dict[str, User] = {user.name: user for user in users}
        self._is_default = is_default
        self._dummy = _parse_password_hash(hash_password(secrets.token_hex(8)))
        self._cache_key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()

    @classmethod
    def from_toml(cls, path: Path | str) -> UserDB:
        """Load ``[[users]]`` from a TOML file; other tables in the file are left to their owners.

        :raises ConfigError: the file cannot be read or a user entry is invalid.
        """
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(path, f"cannot read: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(path, f"not valid TOML: {exc}") from exc
        entries = document.get("users", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConfigError(path, "'users' must be an array of tables ([[users]])")
        users: list[User] = []
        for index, entry in enumerate(entries):
            user = _user_from_entry(path, index, entry)
            if any(existing.name == user.name for existing in users):
                raise ConfigError(path, f"user {user.name!r} is defined twice")
            users.append(user)
        return cls(users)

    @classmethod
    def default_admin(cls) -> UserDB:
        """The out-of-the-box login ``admin``/``admin`` (the app allows it on loopback only)."""
        password = _parse_password_hash(hash_password("admin"))
        return cls([User("admin", password, frozenset())], is_default=True)

    @property
    def is_empty(self) -> bool:
        """True when no user is configured (the app then falls back to ``default_admin``)."""
        return not self._users

    @property
    def is_default(self) -> bool:
        """True for the built-in admin/admin database, which must not face a non-loopback network."""
        return self._is_default

    @property
    def usernames(self) -> tuple[str, ...]:
        return tuple(sorted(self._users))

    def check_password(self, username: str, password: str | bytes) -> bool:
        """True when ``password`` is right for ``username``.

        A wrong password always costs one key derivation (a dummy one for an unknown user). A password
        that was verified before is recognised by an HMAC under a key that lives only in this process,
        so a script opening many short sessions (``esc_nc_cli``) does not pay ~50 ms of scrypt per login.
        """
        secret = password.encode("utf-8") if isinstance(password, str) else password
        user = self._users.get(username)
        if user is None or user.password is None:
            self._dummy.matches(secret)
            return False
        token = hmac.new(self._cache_key, username.encode("utf-8") + b"\0" + secret, hashlib.sha256).digest()
        if token in self._verified:
            return True
        if not user.password.matches(secret):
            return False
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified.add(token)
        return True

    def check_public_key(self, username: str, key: paramiko.PKey) -> bool:
        """True when ``key`` (its public half) is one of ``username``'s authorized keys."""
        user = self._users.get(username)
        return user is not None and key.asbytes() in user.public_keys

    def accepts_public_keys(self, username: str) -> bool:
        user = self._users.get(username)
        return user is not None and bool(user.public_keys)


def _user_from_entry(path: Path, index: int, entry: Mapping[str, Any]) -> User:
    where = f"users[{index}]"
    unknown = sorted(set(entry) - _USER_FIELDS)
    if unknown:
        raise ConfigError(path, f"{where}: unknown field(s) {', '.join(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name or name != name.strip():
        raise ConfigError(path, f"{where}: 'name' must be a non-empty string without surrounding blanks")
    where = f"user {name!r}"
    password: _PasswordHash | None = None
    if "password_hash" in entry:
        if not isinstance(entry["password_hash"], str):
            raise ConfigError(path, f"{where}: 'password_hash' must be a string")
        try:
            password = _parse_password_hash(entry["password_hash"])
        except ValueError as exc:
            raise ConfigError(path, f"{where}: {exc}") from exc
    blobs: set[bytes] = set()
    inline = entry.get("authorized_keys", [])
    if not isinstance(inline, list) or not all(isinstance(line, str) for line in inline):
        raise ConfigError(path, f"{where}: 'authorized_keys' must be a list of strings")
    blobs.update(_key_blobs(path, where, inline))
    if "authorized_keys_file" in entry:
        key_file = entry["authorized_keys_file"]
        if not isinstance(key_file, str):
            raise ConfigError(path, f"{where}: 'authorized_keys_file' must be a string")
        key_path = (path.parent / key_file).expanduser()
        try:
            lines = key_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(path, f"{where}: cannot read authorized_keys_file {key_path}: {exc}") from exc
        meaningful = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        blobs.update(_key_blobs(key_path, where, meaningful))
    if password is None and not blobs:
        raise ConfigError(path, f"{where}: needs a password_hash or at least one authorized key")
    return User(name, password, frozenset(blobs))


def _key_blobs(path: Path, where: str, lines: Sequence[str]) -> Iterable[bytes]:
    for number, line in enumerate(lines, start=1):
        try:
            yield parse_authorized_key(line).asbytes()
        except ValueError as exc:
            raise ConfigError(path, f"{where}: authorized key #{number}: {exc}") from exc


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int = _DK_BYTES) -> bytes:
    maxmem = min(_MAX_SCRYPT_MEMORY, 128 * r * (n + p + 2) + 2**20)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise SystemExit("passwords differ")
    return password


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m esc_netconf.users hash-password``: print a hash to paste into the config file."""
    parser = argparse.ArgumentParser(prog="python -m esc_netconf.users")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hash-password", help="read a password (tty prompt or one stdin line), print its hash")
    parser.parse_args(argv)
    password = _read_password(confirm=True)
    if not password:
        print("empty password refused", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
