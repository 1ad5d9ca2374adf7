"""Choosing a driver by name."""

from __future__ import annotations

import importlib.util
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


@pytest.mark.skipif(importlib.util.find_spec("openstack") is not None, reason="openstacksdk is installed")
def test_openstack_without_sdk_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(VimError, match=r"pip install 'esc-netconf\[openstack\]'"):
        create_driver("openstack", data_dir=tmp_path, settings=SimSettings, os_cloud="mycloud")


@pytest.mark.skipif(
    importlib.util.find_spec("openstack") is None or importlib.util.find_spec("esc_netconf.vim.openstack") is not None,
    reason="needs openstacksdk installed and no openstack driver in this build",
)
def test_openstack_driver_not_in_this_build(tmp_path: Path) -> None:
    with pytest.raises(VimError, match="not available in this build"):
        create_driver("openstack", data_dir=tmp_path, settings=SimSettings, os_cloud="mycloud")
