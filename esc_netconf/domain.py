"""The domain half of the server: VIM driver, core, snapshots, and their hook-up to the NETCONF northbound.

Kept apart from ``app.py`` (the composition root, the only module that imports this one) so that the
protocol half reads on its own. Nothing here knows about HTTP: REST routes and callbacks are wired by
``app.py`` onto the ``EventBus`` built here. The bus is the one fan-out point: every ``EscEvent`` goes to
the NETCONF ``escEvent`` stream unless it is callback-only.

Start-up is two steps because the REST callbacks must subscribe to the bus *before* the core resumes its
operations (their events must find their callbacks): ``build_domain``, then the caller subscribes, then
``Domain.start``, then ``attach_northbound``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from lxml import etree

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.day0_fetch import FetchLimits, UrlTemplateFetcher
from esc_netconf.netconf.base_operations import StateBuild
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.filters import FilterSpec, ListLevel, list_scope, selects_entries_whole
from esc_netconf.netconf.placeholders import Placeholders
from esc_netconf.netconf.server import NetconfServer, StateProvider
from esc_netconf.netconf.subscriptions import NotificationHub, Payload
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound.config_bridge import ConfigBridge
from esc_netconf.northbound.config_specs import GroupDefaults
from esc_netconf.northbound.event_xml import esc_event_element
from esc_netconf.northbound.opdata import OPDATA_LEVELS, OpdataBuilder
from esc_netconf.northbound.rpcs import EscRpcs
from esc_netconf.northbound.esc_xml import q
from esc_netconf.options import Options
from esc_netconf.settings import VimManagerSettings
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from esc_netconf.vim.base import VimDriver
from esc_netconf.collectors import create_collector
from esc_netconf.vim.factory import create_driver
from esc_netconf.vim.guarded import guarded_driver
from esc_netconf.vim.sim.settings import SimSettings


@dataclass
class Domain:
    driver: VimDriver
    core: EscCore
    snapshots: SnapshotManager
    bus: EventBus

    async def start(self) -> None:
        """Resume the work in flight (operations, then snapshots)."""
        await self.core.start()
        await self.snapshots.start()

    async def stop(self) -> None:
        await self.snapshots.stop()
        await self.core.stop()
        close = getattr(self.driver, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


def build_domain(options: Options, db: Database, settings: VimManagerSettings, hub: NotificationHub,
                 vim_guard: Callable[[], None] | None = None) -> Domain:
    """The driver, bus, core and snapshot manager, not started; core events already reach ``hub``.

    ``vim_guard``: called before every VIM call the core and the snapshots make (it raises to refuse):
    the leadership check of a server in a group.
    """
    driver = create_driver(
        options.vim,
        data_dir=options.data_dir,
        settings=settings.derived(SimSettings.from_properties),
        os_cloud=options.os_cloud,
        sim_dir=options.sim_dir,
    )
    acting = driver if vim_guard is None else guarded_driver(driver, vim_guard)
    monitor_interval = options.monitor_interval or settings.number("vim.monitor.poll.secs")
    bus = EventBus()
    core = EscCore(
        acting,
        SqlCoreStore(db),
        bus,
        settings=CoreSettings(poll_interval=min(2.0, monitor_interval), monitor_interval=monitor_interval),
        fetcher=UrlTemplateFetcher(lambda: FetchLimits(int(settings.number("day0.fetch.max.bytes")),
                                                       settings.number("day0.fetch.timeout.secs"))),
        collector=create_collector(options.vim, settings.snapshot, acting, options.data_dir / "scripts"),
    )

    def to_netconf(events: list[EscEvent]) -> asyncio.Future[None] | None:
        shown = [e for e in events if not e.callback_only]
        # built where they are stored: on the hub's writer thread, not the loop (an event is immutable)
        payloads: list[tuple[Payload, datetime | None]] = [(partial(esc_event_element, e), e.event_time)
                                                           for e in shown]
        ids = [e.event_id for e in shown]
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool): stored and offered at once
            hub.publish_many("escEvent", payloads, event_ids=ids)
            return None
        return hub.publish_stored("escEvent", payloads, event_ids=ids)  # stored off the loop, then offered

    bus.subscribe_many(to_netconf)
    snapshots = SnapshotManager(
        core, acting, SqlSnapshotStore(db), bus,
        setting=settings.number, export_dir=options.export_dir or options.data_dir / "exports",
    )
    return Domain(driver, core, snapshots, bus)


#: The snapshot list in opdata: a get whose filter reaches none of its entries does not list the snapshots.
SNAPSHOT_LEVELS = (ListLevel((q("esc_datamodel"), q("opdata"), q("snapshots"), q("snapshot")), q("id")),)


def attach_northbound(domain: Domain, *, model: YangModel, datastore: Datastore, netconf: NetconfServer) -> None:
    """Config changes drive the core; opdata, snapshots and the ESC RPCs become visible over NETCONF."""
    core, snapshots = domain.core, domain.snapshots
    bridge = ConfigBridge(core, GroupDefaults.from_model(model), datastore.touched)
    datastore.add_commit_preparer(bridge.prepare)
    datastore.add_commit_checker(bridge.check)
    datastore.add_commit_listener(bridge.apply)
    bridge.reconcile(datastore.get_config())

    netconf.add_state_provider(opdata_provider(core, snapshots))
    EscRpcs(core, snapshots).register(netconf)


def opdata_provider(core: EscCore, snapshots: SnapshotManager) -> StateProvider:
    """The ``get`` state of ``esc_datamodel/opdata``: the core's records and the snapshots (the active's
    live core, or a standby's view of the shared store), read in one go and built by the ``get`` in slices."""
    opdata = OpdataBuilder(core)

    def state(spec: FilterSpec | None) -> list[StateBuild]:
        snapshots_scope = list_scope(spec, SNAPSHOT_LEVELS)
        wants_snapshots = snapshots_scope is None or bool(snapshots_scope.picks)  # else the filter cannot reach them
        scope = list_scope(spec, OPDATA_LEVELS)
        whole = selects_entries_whole(spec, OPDATA_LEVELS)  # then deployments are spliced in as bytes
        listed = snapshots.list_snapshots() if wants_snapshots else None

        async def build(data: etree._Element, placeholders: Placeholders) -> None:
            placeholders.needs_elements |= not whole
            await (await opdata.snapshot_in_slices(scope, listed))(data, placeholders)

        return [build]

    return state
