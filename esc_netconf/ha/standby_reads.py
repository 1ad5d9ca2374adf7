"""A standby's reads of the work the active does: the core's and the snapshots' records as the shared store
holds them, re-read before every read request.

Why a core that is never started rather than a second renderer: opdata and the REST reads then come from
the very code the active uses (``opdata_provider``, ``add_escmanager_routes``), so a standby shows exactly
what the active would. The core and the snapshot manager here are given a VIM that refuses every call
and are never started: they resume nothing, monitor nothing and publish nothing; only ``reload()`` and
their queries are used. What runs on the active right now (``busy_with``) is not known to a standby.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.backup.context import Setting
from esc_netconf.core.events import EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.leadership import LeadershipLost
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from esc_netconf.vim.base import VimDriver

__all__ = ["StoredState"]


class _NoVim:
    """The VIM of a standby: there is none; any use is a bug, refused as a lost leadership."""

    def __getattr__(self, name: str) -> Any:
        raise LeadershipLost(f"a standby does not call the VIM ({name})")


class StoredState:
    """``core`` and ``snapshots`` as views of the shared store; call :meth:`reload` before reading them."""

    def __init__(self, db: Database, *, setting: Setting, export_dir: Path) -> None:
        no_vim = cast(VimDriver, _NoVim())
        self.bus = EventBus()  # nothing publishes on it: the REST routes want one
        self.core = EscCore(no_vim, SqlCoreStore(db), self.bus)
        self.snapshots = SnapshotManager(self.core, no_vim, SqlSnapshotStore(db), self.bus, setting=setting,
                                         export_dir=export_dir)

    def reload(self) -> None:
        """Read the shared store again (blocking: a few queries)."""
        self.core.reload()
        self.snapshots.reload()
