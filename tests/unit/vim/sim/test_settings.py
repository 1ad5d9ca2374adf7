"""Parsing ``vim.sim.*`` properties into ``SimSettings``."""

from __future__ import annotations

import pytest

from esc_netconf.vim.sim import FaultMode, SimOperation, SimSettings, SimSettingsError


def test_defaults() -> None:
    settings = SimSettings.from_properties({})
    assert settings.delay_scale == 1.0
    assert all(settings.fault(op) is FaultMode.NONE for op in SimOperation)


def test_parses_scale_and_faults_and_ignores_other_keys() -> None:
    settings = SimSettings.from_properties(
        {
            "vim.sim.delay.scale": " 0.05 ",
            "vim.sim.fault.server.create": "ERROR",
            "vim.sim.fault.volume.snapshot.delete": "timeout",
            "vim.sim.fault.image.create": "none",
            "vim.asyncpoller.snapshot.create.poll.secs": "15",
        }
    )
    assert settings.delay_scale == 0.05
    assert settings.fault(SimOperation.SERVER_CREATE) is FaultMode.ERROR
    assert settings.fault(SimOperation.VOLUME_SNAPSHOT_DELETE) is FaultMode.TIMEOUT
    assert settings.fault(SimOperation.VOLUME_SNAPSHOT) is FaultMode.NONE
    assert settings.delay(2.0) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("vim.sim.delay.scale", "fast"),
        ("vim.sim.delay.scale", "-1"),
        ("vim.sim.delay.scale", "nan"),
        ("vim.sim.delay.scale", "inf"),
        ("vim.sim.fault.server.create", "explode"),
        ("vim.sim.fault.server.migrate", "error"),
        ("vim.sim.speed", "1"),
    ],
)
def test_bad_property_names_the_key(key: str, value: str) -> None:
    with pytest.raises(SimSettingsError) as info:
        SimSettings.from_properties({key: value})
    assert info.value.key == key and key in str(info.value)
    assert isinstance(info.value, ValueError)


def test_constructor_validates_too() -> None:
    with pytest.raises(SimSettingsError):
        SimSettings(delay_scale=-0.5)
    with pytest.raises(SimSettingsError, match="server.teleport"):
        SimSettings(faults={"server.teleport": FaultMode.ERROR})


def test_to_properties_round_trips() -> None:
    settings = SimSettings(delay_scale=0.25, faults={"image.delete": FaultMode.TIMEOUT})
    properties = settings.to_properties()
    assert properties["vim.sim.delay.scale"] == "0.25"
    assert properties["vim.sim.fault.image.delete"] == "timeout"
    assert properties["vim.sim.fault.server.stop"] == "none"
    assert len(properties) == 1 + len(SimOperation)
    assert SimSettings.from_properties(properties) == SimSettings(
        delay_scale=0.25, faults={op.value: settings.fault(op) for op in SimOperation}
    )
