"""yangson's walks over a configuration pause for the event loop at each container and list entry.

Why: a bulk edit (100 deployments) is validated in a worker thread, and yangson's ``add_defaults`` and
``validate`` are 50-150 ms of pure Python per such edit, in recursions of yangson's own with no place of
ours in between. Meanwhile the event loop waited for the GIL up to CPython's switch interval after each
of its system calls (see ``esc_netconf.gilshare``): loop stalls of 55-65 ms during a deploy's edits.
So the two methods every container and list entry goes through (``InternalNode._validate`` and
``InternalNode._add_defaults``) call :func:`~esc_netconf.gilshare.breathe` first; on the loop's own
thread (small edits are validated there) that does nothing.

yangson is pinned (``pyproject.toml``); :func:`install` looks the methods up by name, so an upgrade that
renames them fails at start-up and in the tests instead of silently losing the pauses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from yangson import schemanode as ys

from esc_netconf.gilshare import breathe

__all__ = ["PAUSING_METHODS", "install"]

#: The methods of ``yangson.schemanode.InternalNode`` that pause first.
PAUSING_METHODS = ("_validate", "_add_defaults")


def _pausing(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def pausing(*args: Any, **kwargs: Any) -> Any:
        breathe()
        return method(*args, **kwargs)

    pausing.__dict__["esc_pausing"] = True
    return pausing


def install() -> None:
    """Wrap the methods (once per process; later calls find them wrapped)."""
    for name in PAUSING_METHODS:
        method = getattr(ys.InternalNode, name)
        if not getattr(method, "esc_pausing", False):
            setattr(ys.InternalNode, name, _pausing(method))
