"""Choosing a driver by name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from esc_netconf.vim.base import VimDriver, VimError
from esc_netconf.vim.factory import SIM_STATE_SUBDIR, create_driver
from esc_netconf.vim.sim import SimCloud, SimSettings


async def test_sim_lives_in_the_data_dir(tmp_path: Path) -> None:
    driver = create_driver("sim", data_dir=tmp_path, settings=SimSettings, os_cloud=None)
    try:
        assert isinstance(driver, SimCloud) and isinstance(driver, VimDriver)
        assert driver.state_file.parent == tmp_path / SIM_STATE_SUBDIR
    finally:
        await driver.close()


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(VimError, match="Unknown VIM driver 'vmware'"):
        create_driver("vmware", data_dir=tmp_path, settings=SimSettings, os_cloud=None)


def test_openstack_without_sdk_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openstack", None)  # makes ``import openstack`` fail
    with pytest.raises(VimError, match=r"pip install 'esc-netconf\[openstack\]'"):
        create_driver("openstack", data_dir=tmp_path, settings=SimSettings, os_cloud="mycloud")


_CLOUDS_YAML = """\
clouds:
  mycloud:
    auth:
      auth_url: http://127.0.0.1:1/v3
      username: u
      password: p
      project_name: p
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
"""


@pytest.mark.skipif(importlib.util.find_spec("openstack") is None, reason="needs openstacksdk (the openstack extra)")
async def test_openstack_driver_from_clouds_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "clouds.yaml"
    config.write_text(_CLOUDS_YAML)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(config))
    driver = create_driver("openstack", data_dir=tmp_path, settings=SimSettings, os_cloud="mycloud")
    try:
        assert isinstance(driver, VimDriver) and type(driver).__name__ == "OpenStackDriver"
        assert driver.calls.total == 0  # building it sends nothing
    finally:
        await driver.close()
    with pytest.raises(VimError, match="nosuchcloud"):
        create_driver("openstack", data_dir=tmp_path, settings=SimSettings, os_cloud="nosuchcloud")
