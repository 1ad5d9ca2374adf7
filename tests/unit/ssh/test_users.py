"""esc_netconf.users: hashes, the TOML file, public keys, the hash-password command."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esc_netconf.errors import EscError
from esc_netconf.users import ConfigError, UserDB, hash_password, main, parse_authorized_key


def _public_line(private: ed25519.Ed25519PrivateKey) -> str:
    return private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode()


def _paramiko_key(private: ed25519.Ed25519PrivateKey) -> paramiko.PKey:
    return parse_authorized_key(_public_line(private))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "esc.toml"
    path.write_text(text)
    return path


def test_hash_password_is_salted_scrypt_and_verifies(tmp_path: Path) -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first.startswith("scrypt$16384$8$1$") and first != second
    db = UserDB.from_toml(_write(tmp_path, f'[[users]]\nname = "ops"\npassword_hash = "{first}"\n'))
    assert db.check_password("ops", "secret")
    assert db.check_password("ops", b"secret")
    assert not db.check_password("ops", "Secret")
    assert not db.check_password("ops", b"\xff\xfe")
    assert not db.check_password("nobody", "secret")
    assert db.usernames == ("ops",) and not db.is_empty and not db.is_default


def test_django_pbkdf2_sha256_hashes_are_accepted(tmp_path: Path) -> None:
    derived = hashlib.pbkdf2_hmac("sha256", b"letmein", b"NaCl", 1000)
    stored = f"pbkdf2_sha256$1000$NaCl${base64.b64encode(derived).decode()}"
    db = UserDB.from_toml(_write(tmp_path, f'[[users]]\nname = "legacy"\npassword_hash = "{stored}"\n'))
    assert db.check_password("legacy", "letmein")
    assert not db.check_password("legacy", "letmeout")


def test_public_keys_inline_and_from_file(tmp_path: Path) -> None:
    inline, in_file, stranger = (ed25519.Ed25519PrivateKey.generate() for _ in range(3))
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ops.pub").write_text(f"# ops keys\n\n{_public_line(in_file)} ops@laptop\n")
    db = UserDB.from_toml(_write(tmp_path, (
        '[[users]]\nname = "ops"\n'
        f'authorized_keys = ["{_public_line(inline)} ops@desk"]\n'
        'authorized_keys_file = "keys/ops.pub"\n'
        '[[users]]\nname = "other"\n'
        f'password_hash = "{hash_password("x")}"\n'
    )))
    assert db.check_public_key("ops", _paramiko_key(inline))
    assert db.check_public_key("ops", _paramiko_key(in_file))
    assert not db.check_public_key("ops", _paramiko_key(stranger))
    assert not db.check_public_key("other", _paramiko_key(inline))
    assert not db.check_password("ops", "")  # no password configured: key only
    assert db.accepts_public_keys("ops") and not db.accepts_public_keys("other")


def test_rsa_and_ecdsa_authorized_keys_parse() -> None:
    for key in (paramiko.RSAKey.generate(1024), paramiko.ECDSAKey.generate()):
        line = f"{key.get_name()} {key.get_base64()} comment with spaces"
        assert parse_authorized_key(line).asbytes() == key.asbytes()


@pytest.mark.parametrize(("text", "problem"), [
    ("users = 3\n", "array of tables"),
    ("[[users]]\nname = \"a\"\n", "needs a password_hash or at least one authorized key"),
    ("[[users]]\nname = \"a\"\npassword_hash = \"md5$abc\"\n", "password_hash must be"),
    ("[[users]]\nname = \"a\"\npassword_hash = \"scrypt$3$8$1$AAAA$AAAA\"\n", "out of range"),
    ("[[users]]\nname = \"a\"\npasword_hash = \"x\"\n", "unknown field(s) pasword_hash"),
    ("[[users]]\nname = \"\"\n", "'name' must be"),
    ("[[users]]\nname = \"a\"\nauthorized_keys = [\"ssh-ed25519 !!!\"]\n", "authorized key #1"),
    ("[[users]]\nname = \"a\"\nauthorized_keys = [\"from=\\\"10.0.0.1\\\" ssh-ed25519 AAAA\"]\n",
     "options are not supported"),
    ("[[users]]\nname = \"a\"\nauthorized_keys_file = \"missing.pub\"\n", "cannot read authorized_keys_file"),
    ("[[users\n", "not valid TOML"),
])
def test_invalid_files_raise_config_error_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        UserDB.from_toml(path)
    assert isinstance(caught.value, EscError)
    assert caught.value.path == path and str(path) in str(caught.value)
    assert problem in caught.value.problem


def test_duplicate_users_and_missing_file(tmp_path: Path) -> None:
    entry = f'[[users]]\nname = "a"\npassword_hash = "{hash_password("x")}"\n'
    with pytest.raises(ConfigError, match="defined twice"):
        UserDB.from_toml(_write(tmp_path, entry * 2))
    with pytest.raises(ConfigError, match="cannot read"):
        UserDB.from_toml(tmp_path / "absent.toml")


def test_key_type_mismatch_is_refused() -> None:
    key = paramiko.ECDSAKey.generate()
    with pytest.raises(ValueError):
        parse_authorized_key(f"ssh-ed25519 {key.get_base64()}")


def test_empty_and_default_databases(tmp_path: Path) -> None:
    empty = UserDB.from_toml(_write(tmp_path, '[server]\nhost = "x"\n'))
    assert empty.is_empty and not empty.check_password("admin", "admin")
    default = UserDB.default_admin()
    assert default.is_default and not default.is_empty
    assert default.check_password("admin", "admin") and not default.check_password("admin", "admin ")


def test_hash_password_command_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    assert main(["hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    db = UserDB.from_toml(_write(tmp_path, f'[[users]]\nname = "a"\npassword_hash = "{printed}"\n'))
    assert db.check_password("a", "hunter2")
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["hash-password"]) == 2
