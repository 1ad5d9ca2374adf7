from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from esc_netconf.settings import SettingsError, VimManagerSettings, parse_properties

CREATE_POLL = "vim.asyncpoller.snapshot.create.poll.secs"


def test_defaults_are_the_seeds() -> None:
    settings = VimManagerSettings(None).snapshot()
    for op in ("snapshot.create", "snapshot.delete", "volume.create"):
        assert settings[f"vim.asyncpoller.{op}.poll.secs"] == "15"
        assert settings[f"vim.asyncpoller.{op}.timeout.mins"] == "20"
    assert settings["vim.sim.delay.scale"] == "1"
    assert settings["vim.sim.fault.image.create"] == "none"


def test_file_overrides_defaults_and_accepts_comments_and_fractions(tmp_path: Path) -> None:
    path = tmp_path / "application.properties"
    path.write_text(f"# tuned\n! also a comment\n\n{CREATE_POLL}=0.5\nvim.sim.delay.scale: 0.05\n")
    settings = VimManagerSettings(path)
    assert settings.number(CREATE_POLL) == 0.5
    assert settings.number("vim.sim.delay.scale") == 0.05


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("no.such.key=1\n", "no.such.key", "not a known key"),
        (f"{CREATE_POLL}=soon\n", CREATE_POLL, "must be a number"),
        (f"{CREATE_POLL}=0\n", CREATE_POLL, "greater than 0"),
        ("vim.sim.fault.server.stop=sometimes\n", "vim.sim.fault.server.stop", "error, timeout or none"),
        ("just words\n", "", "expected key=value"),
    ],
)
def test_bad_files_are_refused_naming_key_and_line(text: str, key: str, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_properties(text, "app.properties")
    assert info.value.key == key
    assert words in str(info.value) and "app.properties:1" in str(info.value)


def test_runtime_changes_are_all_or_nothing_and_dropped_by_reload(tmp_path: Path) -> None:
    path = tmp_path / "application.properties"
    path.write_text(f"{CREATE_POLL}=5\n")
    settings = VimManagerSettings(path)
    seen: list[str] = []
    settings.add_listener(lambda values: seen.append(values[CREATE_POLL]))
    with pytest.raises(SettingsError):
        settings.set_many({CREATE_POLL: "200", "vim.asyncpoller.snapshot.create.timeout.mins": "-1"})
    assert settings.get(CREATE_POLL) == "5" and seen == []
    settings.set_many({CREATE_POLL: "200"})
    assert settings.get(CREATE_POLL) == "200"
    settings.reload()
    assert settings.get(CREATE_POLL) == "5"
    assert seen == ["200", "5"]


def test_each_driver_knows_only_its_own_keys(tmp_path: Path) -> None:
    sim = VimManagerSettings(None, "sim").snapshot()
    openstack = VimManagerSettings(None, "openstack").snapshot()
    assert any(key.startswith("vim.sim.") for key in sim)
    assert not any(key.startswith("vim.sim.") for key in openstack)
    assert set(openstack) == {k for k in sim if not k.startswith("vim.sim.")}
    with pytest.raises(SettingsError, match=r"\[vim.sim.delay.scale\] applies to the sim VIM only; "
                                            r"this server runs --vim openstack"):
        VimManagerSettings(None, "openstack").set_many({"vim.sim.delay.scale": "2"})
    path = tmp_path / "application.properties"
    path.write_text("vim.sim.fault.server.create=error\n")
    with pytest.raises(SettingsError, match=r"application.properties:1: .*applies to the sim VIM only"):
        VimManagerSettings(path, "openstack")


def test_simulated_guest_keys_are_checked_per_field() -> None:
    from esc_netconf.settings import validate

    vm = "dep_g_0_0b9a1c7e-5d6f-4a3b-9c2d-1e0f3a4b5c6d"
    assert validate(f"vim.sim.guest.{vm}.ping", "down") == "down"
    assert validate(f"vim.sim.guest.{vm}.cpu", " 95.5 ") == "95.5"
    assert validate("vim.sim.guest.default.memory", "0") == "0"
    for key, value, reason in ((f"vim.sim.guest.{vm}.ping", "maybe", "up or down"),
                               (f"vim.sim.guest.{vm}.cpu", "101", "0 to 100"),
                               (f"vim.sim.guest.{vm}.cpu", "nan", "0 to 100"),
                               (f"vim.sim.guest.{vm}.disk", "1", "ping|cpu|memory"),
                               ("vim.sim.guest.cpu", "1", "ping|cpu|memory")):
        with pytest.raises(SettingsError) as refused:
            validate(key, value)
        assert refused.value.key == key and reason in str(refused.value)
    with pytest.raises(SettingsError, match="sim VIM only|not a known key"):
        validate(f"vim.sim.guest.{vm}.cpu", "5", vim="openstack")


def test_a_derived_reader_builds_again_only_after_a_change(tmp_path: Path) -> None:
    path = tmp_path / "application.properties"
    path.write_text("vim.sim.delay.scale=0\n")
    settings = VimManagerSettings(path)
    built: list[str] = []

    def build(values: Mapping[str, str]) -> str:
        built.append(values["vim.sim.delay.scale"])
        return values["vim.sim.delay.scale"]

    current = settings.derived(build)
    assert [current(), current(), current()] == ["0", "0", "0"]
    assert built == ["0"]
    settings.set_many({"vim.sim.delay.scale": "0.5"})
    assert current() == "0.5" and current() == "0.5"
    path.write_text("vim.sim.delay.scale=2\n")
    settings.reload()
    assert current() == "2"
    assert built == ["0", "0.5", "2"]
