"""The domain half of the application: VIM driver, core, and the northbound adapters around them.

Kept apart from ``app.py`` so that the protocol half (store, model, datastore, listeners) reads on its
own. The event bus is the one fan-out point: every ``EscEvent`` goes to the NETCONF ``escEvent`` stream
unless it is callback-only, and to the REST callbacks of the transaction that caused it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from lxml import etree

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EscEvent, EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.day0_fetch import FetchLimits, UrlTemplateFetcher
from esc_netconf.northbound.config_bridge import ConfigBridge
from esc_netconf.northbound.config_specs import GroupDefaults
from esc_netconf.northbound.event_xml import esc_event_element
from esc_netconf.northbound.opdata import opdata_element
from esc_netconf.northbound.rpcs import EscRpcs
from esc_netconf.northbound.snapshot_xml import snapshots_element
from esc_netconf.rest.callbacks import CallbackService
from esc_netconf.rest.escmanager import add_escmanager_routes
from esc_netconf.store import SqlCoreStore
from esc_netconf.store.callback_store import SqlCallbackStore
from esc_netconf.store.snapshot_store import SqlSnapshotStore
from esc_netconf.vim.base import VimDriver
from esc_netconf.vim.factory import create_driver
from esc_netconf.vim.sim.settings import SimSettings

if TYPE_CHECKING:
    from esc_netconf.app import Application

log = logging.getLogger("esc_netconf.domain")


@dataclass
class Domain:
    driver: VimDriver
    core: EscCore
    snapshots: SnapshotManager
    bus: EventBus
    callbacks: CallbackService

    def add_rest_routes(self, web_app: web.Application) -> None:
        """The ESCManager API and its callbacks, on the same core and bus."""
        add_escmanager_routes(web_app, core=self.core, snapshots=self.snapshots, bus=self.bus,
                              callbacks=self.callbacks)

    async def stop(self) -> None:
        await self.snapshots.stop()
        await self.core.stop()
        close = getattr(self.driver, "close", None)
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result


async def start_domain(app: Application) -> Domain:
    options = app.options
    settings = app.settings
    driver = create_driver(
        options.vim,
        data_dir=options.data_dir,
        settings=lambda: SimSettings.from_properties(settings.snapshot()),
        os_cloud=options.os_cloud,
    )
    monitor_interval = options.monitor_interval or settings.number("vim.monitor.poll.secs")
    bus = EventBus()
    core = EscCore(
        driver,
        SqlCoreStore(app.db),
        bus,
        settings=CoreSettings(poll_interval=min(2.0, monitor_interval), monitor_interval=monitor_interval),
        fetcher=UrlTemplateFetcher(lambda: FetchLimits(int(settings.number("day0.fetch.max.bytes")),
                                                       settings.number("day0.fetch.timeout.secs"))),
    )

    def to_netconf(event: EscEvent) -> None:
        if not event.callback_only:
            app.hub.publish("escEvent", esc_event_element(event), event.event_time)

    bus.subscribe(to_netconf)
    callbacks = CallbackService(SqlCallbackStore(app.db))
    callbacks.start(bus)  # before the core resumes its operations, so their events find their callbacks
    snapshots = SnapshotManager(
        core, driver, SqlSnapshotStore(app.db), bus,
        setting=settings.number, export_dir=options.export_dir or options.data_dir / "exports",
    )
    await core.start()
    await snapshots.start()

    bridge = ConfigBridge(core, GroupDefaults.from_model(app.model))
    app.datastore.add_commit_checker(bridge.check)
    app.datastore.add_commit_listener(bridge.apply)
    bridge.reconcile(app.datastore.get_config())

    def add_snapshots(opdata: etree._Element) -> None:
        opdata.append(snapshots_element(snapshots.list_snapshots()))

    app.netconf.add_state_provider(lambda: [opdata_element(core, extra=[add_snapshots])])
    EscRpcs(core, snapshots).register(app.netconf)
    return Domain(driver, core, snapshots, bus, callbacks)
