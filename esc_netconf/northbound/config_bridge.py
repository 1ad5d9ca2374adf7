"""From a committed ``esc_datamodel`` change to core calls: tenants, deploy, undeploy, service update.

The datastore calls :meth:`ConfigBridge.prepare` where it prepares an edit (a worker thread), which finds
the deployments the edit changes and reads their specs off the loop; then :meth:`ConfigBridge.check` inside
the commit, before anything is persisted: a refusal from the core (above ``max_active``, a pool too small, a busy deployment) becomes an
``<rpc-error>`` and the running config is unchanged. After the commit it calls :meth:`apply`, which only
starts work; progress is reported through escEvent.

:meth:`apply` tells the core for up to ``APPLY_SLICE`` seconds per loop turn, in commit order: a bulk edit
of 100 deployments (about 0.3 ms of the loop each, to record a deployment and its operation and start its
task) was one turn of 34 ms on the shared 2-core machine, in which no client and no timer was served. The
datastore answers the edit once all of it is applied (it waits for the future :meth:`apply` returns).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from functools import partial

from lxml import etree

from esc_netconf.core.errors import LifecycleError
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentSpec
from esc_netconf.northbound.config_specs import (
    GroupDefaults,
    changed_deployments,
    deployments_of,
    tenants_of,
)
from esc_netconf.northbound.errors import netconf_error

log = logging.getLogger("esc_netconf.northbound.config")

Change = tuple[str, DeploymentSpec | None, DeploymentSpec | None]

#: Seconds of core calls per loop turn while :meth:`ConfigBridge.apply` applies a commit.
APPLY_SLICE = 0.005
Touched = Callable[[etree._Element], "frozenset[etree._Element] | None"]


class ConfigBridge:
    """``touched`` is the datastore's :meth:`~esc_netconf.netconf.datastore.Datastore.touched`: with it,
    an edit's changes are found where the edit went, at a cost that does not grow with the number of
    deployments stored; without it (or when it does not know a tree) both trees are read whole.

    The datastore edits two trees in turn, so a pair of trees seen before may hold another edit: it calls
    :meth:`prepare` for every edit before :meth:`check`, which replaces what was found for the last one."""

    def __init__(self, core: EscCore, defaults: GroupDefaults, touched: Touched | None = None) -> None:
        self.core = core
        self.defaults = defaults
        self._touched = touched
        self._last: tuple[etree._Element, etree._Element, list[Change]] | None = None
        #: the core calls of the commits applied so far and not yet made, in order, each commit's followed
        #: by the future its ``apply`` returned (if it returned one)
        self._calls: deque[Callable[[], None] | asyncio.Future[None]] = deque()
        self._next_slice: asyncio.Handle | None = None

    def changes(self, old: etree._Element, new: etree._Element) -> list[Change]:
        """Every deployment added, removed or changed between two ``<data>`` trees, sorted by (tenant,
        name); :meth:`check` and :meth:`apply` of one commit ask twice, and it is found once."""
        last = self._last
        if last is not None and last[0] is old and last[1] is new:
            return last[2]
        touched = self._touched(new) if self._touched is not None else None
        if touched is not None:
            found = changed_deployments(old, new, touched, self.defaults)
        else:
            before, after = deployments_of(old, self.defaults), deployments_of(new, self.defaults)
            found = [(tenant, before.get((tenant, name)), after.get((tenant, name)))
                     for tenant, name in sorted(before.keys() | after.keys())
                     if before.get((tenant, name)) != after.get((tenant, name))]
        self._last = (old, new, found)
        return found

    def prepare(self, old: etree._Element, new: etree._Element, touched: frozenset[etree._Element]) -> None:
        """Find the changes of an edit before its commit, off the loop (the datastore's preparer): the
        datastore edits two trees in turn, so the same pair holds another edit each time this runs."""
        self._last = (old, new, changed_deployments(old, new, touched, self.defaults))

    def check(self, old: etree._Element, new: etree._Element) -> None:
        for tenant, before, after in self.changes(old, new):
            try:
                self.core.check_update(tenant, before, after)
            except LifecycleError as error:
                raise netconf_error(error) from None

    def apply(self, old: etree._Element, new: etree._Element) -> asyncio.Future[None] | None:
        """Create new tenants, then deploy/undeploy/update, then delete removed tenants (which waits for
        their undeploys): the first ``APPLY_SLICE`` now, the rest a slice per loop turn, after what earlier
        commits left. None when all of it is done on return (always, without a running loop), else a
        future that ends when it is."""
        before, after = tenants_of(old), tenants_of(new)
        calls: list[Callable[[], None]] = [
            *(partial(self.core.create_tenant, tenant, managed=after[tenant])
              for tenant in sorted(set(after) - set(before))),
            *(partial(self.core.apply_update, tenant, old_spec, new_spec)
              for tenant, old_spec, new_spec in self.changes(old, new)),
            *(partial(self.core.delete_tenant, tenant) for tenant in sorted(set(before) - set(after))),
        ]
        self._last = None  # the changes are taken: do not keep the commit's trees alive
        self._calls.extend(calls)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._call(None)
            return None
        if self._next_slice is None:  # nothing of an earlier commit waits: begin now
            self._call(time.perf_counter() + APPLY_SLICE)
        if not self._calls:
            return None
        done: asyncio.Future[None] = loop.create_future()
        self._calls.append(done)
        if self._next_slice is None:
            self._next_slice = loop.call_soon(self._slice)
        return done

    def _slice(self) -> None:
        self._next_slice = None
        self._call(time.perf_counter() + APPLY_SLICE)
        if self._calls:
            self._next_slice = asyncio.get_running_loop().call_soon(self._slice)

    def _call(self, deadline: float | None) -> None:
        """Make the waiting core calls, in order, until ``deadline`` (``time.perf_counter``; None: all)."""
        made = 0
        while self._calls:
            call = self._calls[0]
            if isinstance(call, asyncio.Future):  # a commit is applied: its edit may answer
                self._calls.popleft()
                if not call.done():
                    call.set_result(None)
                continue
            if made and deadline is not None and time.perf_counter() >= deadline:
                return
            self._calls.popleft()
            made += 1
            try:
                call()
            except LifecycleError as error:  # checked before the commit: the core changed since
                log.error("applying a committed change failed: %s", error.message)
            except Exception:  # a bug must not keep the rest of the commit from the core
                log.exception("applying a committed change failed")

    def reconcile(self, running: etree._Element) -> None:
        """At start-up: deployments configured but unknown to the core (or the reverse) are brought in line.

        This covers a crash between the datastore's commit and the core recording the new work.
        """
        tenants = tenants_of(running)
        for tenant in sorted(tenants):
            self.core.create_tenant(tenant, managed=tenants[tenant])
        configured = deployments_of(running, self.defaults)
        known = {(d.tenant, d.name): d.spec for d in self.core.deployments()}
        pending: list[Change] = [
            (tenant, known.get((tenant, name)), spec)
            for (tenant, name), spec in configured.items()
            if known.get((tenant, name)) != spec
        ]
        pending += [(tenant, spec, None) for (tenant, name), spec in known.items() if (tenant, name) not in configured]
        for tenant, before, after in pending:
            try:
                self.core.apply_update(tenant, before, after)
            except LifecycleError as error:
                changed = after or before
                log.warning("could not reconcile deployment %s/%s at start-up: %s",
                            tenant, changed.name if changed else "?", error.message)
        for record in self.core.tenants():
            if record.name not in tenants:
                self.core.delete_tenant(record.name)
