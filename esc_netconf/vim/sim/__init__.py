"""The simulated OpenStack (``--vim sim``): a first-class ``VimDriver`` kept in the data dir."""

from esc_netconf.vim.sim.cloud import SimCloud
from esc_netconf.vim.sim.context import NOMINAL_DELAYS
from esc_netconf.vim.sim.settings import (
    DELAY_SCALE_KEY,
    FAULT_KEY_PREFIX,
    FaultMode,
    SimOperation,
    SimSettings,
    SimSettingsError,
)

__all__ = [
    "DELAY_SCALE_KEY",
    "FAULT_KEY_PREFIX",
    "NOMINAL_DELAYS",
    "FaultMode",
    "SimCloud",
    "SimOperation",
    "SimSettings",
    "SimSettingsError",
]
