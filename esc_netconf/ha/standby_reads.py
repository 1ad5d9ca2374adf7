"""A standby's reads of the work the active does: the core's and the snapshots' records and the running
configuration as the shared store holds them, brought up to date before each read at the cost of a check.

Why a core that is never started rather than a second renderer: opdata and the REST reads then come from
the very code the active uses (``opdata_provider``, ``add_escmanager_routes``), so a standby shows exactly
what the active would. The core and the snapshot manager here are given a VIM that refuses every call
and are never started: they resume nothing, monitor nothing and publish nothing; only ``install()`` and
their queries are used. What runs on the active right now (``busy_with``) is not known to a standby.

What a read costs (issue 13): every read enters through :meth:`StoredState.reading` (``FreshReads``), which
runs a check in a worker thread: :class:`~esc_netconf.store.shared_records.SharedRecordReader` finds what
changed since the last check (one round trip when nothing did) and reads only that; when the running
configuration's commit count moved, the datastore's rows are read and its tree built there too. What
changed is put in place on the loop in one step. So the loop never reads the store, a read of an unchanged
store costs the check's round trip, and a burst of reads shares one check.

Guarantee: a read sees the store at least as new as it was when the read arrived (every transaction the
active committed before), and one state of it throughout (records, snapshots and configuration together).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.backup.context import Setting
from esc_netconf.core.events import EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.ha.fresh_reads import FreshReads
from esc_netconf.netconf.datastore import Datastore, StoredTree
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.leadership import LeadershipLost
from esc_netconf.store.shared_records import SharedRecordReader, SharedRecords
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from esc_netconf.vim.base import VimDriver

__all__ = ["StoredState"]


class _NoVim:
    """The VIM of a standby: there is none; any use is a bug, refused as a lost leadership."""

    def __getattr__(self, name: str) -> Any:
        raise LeadershipLost(f"a standby does not call the VIM ({name})")


@dataclass(frozen=True, slots=True)
class _Update:
    """What a check found changed: new records, a new configuration tree, or both."""

    records: SharedRecords | None
    config: StoredTree | None


class StoredState:
    """``core``, ``snapshots`` and ``datastore`` as views of the shared store; read them only inside
    :meth:`reading`."""

    def __init__(self, db: Database, datastore: Datastore, *, setting: Setting, export_dir: Path) -> None:
        no_vim = cast(VimDriver, _NoVim())
        self.bus = EventBus()  # nothing publishes on it: the REST routes want one
        self.core = EscCore(no_vim, SqlCoreStore(db), self.bus)
        self.snapshots = SnapshotManager(self.core, no_vim, SqlSnapshotStore(db), self.bus, setting=setting,
                                         export_dir=export_dir)
        self.datastore = datastore
        self._reader = SharedRecordReader(db)
        self._checked: SharedRecords | None = None  # the last check's records (checks run one at a time)
        self._fresh: FreshReads[_Update] = FreshReads(self._check, self._install)

    @property
    def checks(self) -> int:
        """How many checks of the shared store ran: for tests and benches."""
        return self._fresh.checks

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Around one read (see the module): the views are at least as new as the store on entry, and stay
        as they are until the read leaves.

        :raises StoreError: the shared store cannot be read.
        :raises StoredConfigError: the stored running configuration is unusable.
        """
        async with self._fresh.reading():
            yield

    def _check(self) -> _Update | None:
        """In a worker thread: what changed since the last check (remembered only once all of it was read)."""
        records = self._reader.read()
        previous = self._checked
        if records is previous:
            return None
        config = None
        if previous is None or records.config_version != previous.config_version:
            config = self.datastore.read_stored(validate=False)  # None: the rows the datastore already has
        self._checked = records
        moved = previous is None or records.core is not previous.core or records.snapshots is not previous.snapshots
        if not moved and config is None:
            return None
        return _Update(records if moved else None, config)

    def _install(self, update: _Update) -> None:
        """On the loop, in one step."""
        if update.records is not None:
            self.core.install(update.records.core)
            self.snapshots.install(update.records.snapshots)
        if update.config is not None:
            self.datastore.install_stored(update.config)
