"""The [limits] table of the --config file: defaults, overrides, and refusals naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_netconf.limits import EdgeLimits
from esc_netconf.users import ConfigError, UserDB


def test_defaults_without_a_file_or_table(tmp_path: Path) -> None:
    assert EdgeLimits.from_toml(None) == EdgeLimits()
    config = tmp_path / "esc.toml"
    config.write_text('[[users]]\nname = "u"\nauthorized_keys = []\npassword_hash = "pbkdf2_sha256$1$s$aGFzaA=="\n')
    assert EdgeLimits.from_toml(config) == EdgeLimits()


def test_overrides_share_the_file_with_the_users(tmp_path: Path) -> None:
    config = tmp_path / "esc.toml"
    config.write_text('[limits]\nssh_max_preauth = 8\nrest_idle_timeout = 2\n'
                      'callback_allowed_hosts = ["a.example", " 10.0.0.0/8 "]\n\n'
                      '[[users]]\nname = "u"\npassword_hash = "pbkdf2_sha256$1$s$aGFzaA=="\n')
    limits = EdgeLimits.from_toml(config)
    assert (limits.ssh_max_preauth, limits.rest_idle_timeout) == (8, 2.0)
    assert limits.callback_allowed_hosts == ("a.example", "10.0.0.0/8")
    assert UserDB.from_toml(config).usernames == ("u",)


@pytest.mark.parametrize("line, words", [
    ("ssh_max_prauth = 3", "not a known limit"),
    ("ssh_max_preauth = 0", "at least 1"),
    ("ssh_max_preauth = 2.5", "whole number"),
    ("ssh_max_preauth = true", "must be a number"),
    ("rest_idle_timeout = -1", "greater than 0"),
    ("rest_idle_timeout = \"5\"", "greater than 0"),
    ("callback_allowed_hosts = \"a.example\"", "list of non-empty strings"),
])
def test_a_bad_value_stops_the_server_naming_the_key(tmp_path: Path, line: str, words: str) -> None:
    config = tmp_path / "esc.toml"
    config.write_text(f"[limits]\n{line}\n")
    with pytest.raises(ConfigError, match=words) as raised:
        EdgeLimits.from_toml(config)
    assert line.split()[0] in str(raised.value) and str(config) in str(raised.value)
