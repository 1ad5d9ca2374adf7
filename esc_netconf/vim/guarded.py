"""A VIM driver that asks a guard before every call: how a server that lost the leadership of its group
is kept from touching the cloud (fencing, CONTRACT section 8).

Why a wrapper and not a check in each caller: every path to the cloud (deploys, recoveries, monitoring,
snapshot pollers) goes through the driver the core was given, so one wrapper covers all of them, including
paths added later.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, cast

from esc_netconf.vim.base import VimDriver

__all__ = ["guarded_driver"]

log = logging.getLogger(__name__)


class _GuardedDriver:
    def __init__(self, driver: VimDriver, guard: Callable[[], None]) -> None:
        self._driver = driver
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        member = getattr(self._driver, name)
        if name == "close" or not inspect.iscoroutinefunction(member):
            return member
        guard = self._guard

        @functools.wraps(member)
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                guard()  # raises before the request leaves this process
            except Exception as refusal:
                log.warning("Refused VIM call %s: %s", name, refusal)
                raise
            return await member(*args, **kwargs)

        return call


def guarded_driver(driver: VimDriver, guard: Callable[[], None]) -> VimDriver:
    """``driver`` whose every coroutine method first calls ``guard()`` (which raises to refuse)."""
    return cast(VimDriver, _GuardedDriver(driver, guard))
