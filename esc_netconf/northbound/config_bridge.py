"""From a committed ``esc_datamodel`` change to core calls: tenants, deploy, undeploy, service update.

The datastore calls :meth:`ConfigBridge.check` inside the commit, before anything is persisted: a
refusal from the core (above ``max_active``, a pool too small, a busy deployment) becomes an
``<rpc-error>`` and the running config is unchanged. After the commit it calls :meth:`apply`, which only
starts work; progress is reported through escEvent.
"""

from __future__ import annotations

import logging

from lxml import etree

from esc_netconf.core.errors import LifecycleError
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentSpec
from esc_netconf.northbound.config_specs import (
    DeploymentKey,
    GroupDefaults,
    SpecCache,
    deployments_of,
    tenants_of,
)
from esc_netconf.northbound.errors import netconf_error

log = logging.getLogger("esc_netconf.northbound.config")

Change = tuple[str, DeploymentSpec | None, DeploymentSpec | None]


class ConfigBridge:
    def __init__(self, core: EscCore, defaults: GroupDefaults) -> None:
        self.core = core
        self.defaults = defaults
        self._specs = SpecCache()  # check() and apply() see the same trees; the next edit's old is this new

    def changes(self, old: etree._Element, new: etree._Element) -> list[Change]:
        """Every deployment added, removed or changed between two ``<data>`` trees."""
        before = deployments_of(old, self.defaults, self._specs)
        after = deployments_of(new, self.defaults, self._specs)
        keys: list[DeploymentKey] = sorted(set(before) | set(after))
        return [(tenant, before.get((tenant, name)), after.get((tenant, name)))
                for tenant, name in keys if before.get((tenant, name)) != after.get((tenant, name))]

    def check(self, old: etree._Element, new: etree._Element) -> None:
        for tenant, before, after in self.changes(old, new):
            try:
                self.core.check_update(tenant, before, after)
            except LifecycleError as error:
                raise netconf_error(error) from None

    def apply(self, old: etree._Element, new: etree._Element) -> None:
        """Create new tenants, then deploy/undeploy/update, then delete removed tenants (which waits for
        their undeploys)."""
        before, after = tenants_of(old), tenants_of(new)
        for tenant in sorted(set(after) - set(before)):
            self.core.create_tenant(tenant, managed=after[tenant])
        for tenant, old_spec, new_spec in self.changes(old, new):
            self.core.apply_update(tenant, old_spec, new_spec)
        for tenant in sorted(set(before) - set(after)):
            self.core.delete_tenant(tenant)

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
