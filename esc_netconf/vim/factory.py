"""Choose and build the VIM driver named on the command line (``--vim sim|openstack``).

The OpenStack driver needs openstacksdk, an optional dependency: it is imported only when
chosen, and its absence is reported with the command that fixes it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from esc_netconf.vim.base import VimDriver, VimError
from esc_netconf.vim.sim import SimCloud, SimSettings

__all__ = ["DRIVER_KINDS", "SIM_STATE_SUBDIR", "create_driver", "default_sim_dir"]

log = logging.getLogger(__name__)

DRIVER_KINDS = ("sim", "openstack")
SIM_STATE_SUBDIR = "sim"
"""The simulated cloud lives in ``<data_dir>/sim`` unless ``--sim-dir`` says otherwise (CONTRACT section 8)."""
LEGACY_SIM_SUBDIR = "vim-sim"
"""Where earlier releases kept it; moved to :data:`SIM_STATE_SUBDIR` at the first start."""


def default_sim_dir(data_dir: Path) -> Path:
    """``<data_dir>/sim``; a data dir from an earlier release has its cloud moved there, so its servers,
    images and volumes are found again."""
    current, legacy = data_dir / SIM_STATE_SUBDIR, data_dir / LEGACY_SIM_SUBDIR
    if legacy.is_dir() and not current.exists():
        legacy.rename(current)
        log.info("the simulated cloud moved from %s to %s", legacy, current)
    return current


def create_driver(
    kind: str,
    *,
    data_dir: Path,
    settings: Callable[[], SimSettings],
    os_cloud: str | None,
    sim_dir: Path | None = None,
) -> VimDriver:
    """The driver for ``kind``.

    :raises VimError: unknown kind; openstacksdk not installed; the cloud ``os_cloud`` not configured.
    """
    if kind == "sim":
        # the servers of a group share one simulated cloud, as they would share one real one (--sim-dir)
        return SimCloud(sim_dir or default_sim_dir(data_dir), settings)
    if kind == "openstack":
        return _openstack_driver(os_cloud)
    raise VimError(f"Unknown VIM driver {kind!r}; choose one of: {', '.join(DRIVER_KINDS)}.", code=400)


def _openstack_driver(os_cloud: str | None) -> VimDriver:
    """The openstacksdk-backed driver for the ``clouds.yaml`` entry ``os_cloud``.

    openstacksdk is imported only here, so ``--vim sim`` (and the test suite) never needs it.
    """
    try:
        importlib.import_module("openstack")
    except ImportError:
        raise VimError(
            "The openstack VIM driver needs openstacksdk: pip install 'esc-netconf[openstack]'"
        ) from None
    module = importlib.import_module("esc_netconf.vim.openstack")
    factory: Callable[[str | None], VimDriver] = module.create_driver
    return factory(os_cloud)
