"""Tenants created and deleted by config, with CREATE_TENANT and DELETE_TENANT.

A tenant is one VIM project named after it.  ESC creates the project when the tenant is created and deletes
it with the tenant, unless the tenant says ``managed_resource`` false: then the project must exist already
and ESC neither creates nor deletes it (``TenantRecord.managed``).  A tenant is in opdata, with its project
id as ``tenant_id``, from the moment its project exists; a deployment of a tenant not created yet creates it
the same way (``CoreContext.ensure_tenant``, which makes concurrent creations one).

Deleting waits until the tenant's deployments (removed in the same edit) are undeployed; a deployment that
could not be undeployed keeps the tenant, with DELETE_TENANT FAILURE naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from esc_netconf.core.context import CoreContext
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.events import EventType
from esc_netconf.vim.base import VimError, VimNotFound

log = logging.getLogger(__name__)


async def create(ctx: CoreContext, name: str, managed: bool) -> None:
    """Create the tenant (CREATE_TENANT SUCCESS or FAILURE is published by ``ensure_tenant``)."""
    try:
        await ctx.ensure_tenant(name, managed=managed)
    except VimOperationFailed as exc:
        log.warning("creating tenant %s failed: %s", name, exc.message)


async def delete(ctx: CoreContext, name: str, wait_idle: Callable[[str], Awaitable[None]]) -> None:
    """Delete the tenant once ``wait_idle(name)`` says no operation runs on its deployments."""
    await wait_idle(name)
    record = ctx.state.tenants.get(name)
    tenant_id = record.project_id if record else None
    left = sorted(d.name for d in ctx.state.deployments.values() if d.tenant == name)
    if left:
        ctx.tenant_event(name, tenant_id, EventType.DELETE_TENANT,
                         f"Tenant [{name}] still has deployment(s) {', '.join(left)}; it cannot be deleted.",
                         ok=False)
        return
    if record is not None and record.managed:
        try:
            await ctx.driver.delete_project(record.project_id)
        except VimNotFound:
            pass  # already gone: the tenant goes too
        except VimError as exc:
            ctx.tenant_event(name, tenant_id, EventType.DELETE_TENANT, exc.message, ok=False)
            return
    ctx.state.tenants.pop(name, None)
    ctx.store.delete_tenant(name)
    ctx.tenant_event(name, tenant_id, EventType.DELETE_TENANT, "Tenant successfully deleted")
