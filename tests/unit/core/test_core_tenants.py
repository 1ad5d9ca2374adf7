"""Tenants created and deleted by config: their VIM project, opdata, CREATE_TENANT/DELETE_TENANT."""

from __future__ import annotations

import pytest

from esc_netconf.vim.base import VimNotFound

from .conftest import FAIL, OK, Harness, group, spec


async def test_a_configured_tenant_gets_a_project_and_its_deletion_removes_it(harness: Harness) -> None:
    harness.core.create_tenant("t9")
    await harness.idle()
    (tenant,) = harness.core.tenants()
    project = await harness.sim.get_project("t9")
    assert (tenant.name, tenant.project_id, tenant.vim_project, tenant.managed) == ("t9", project.id, "t9", True)
    assert harness.kinds() == [("CREATE_TENANT", OK, 200)]
    assert harness.events[0].tenant_id == project.id
    harness.core.create_tenant("t9")  # known already: nothing happens
    await harness.idle()
    harness.core.delete_tenant("t9")
    await harness.idle()
    assert harness.kinds() == [("CREATE_TENANT", OK, 200), ("DELETE_TENANT", OK, 200)]
    assert harness.core.tenants() == [] and "t9" not in harness.store.load().tenants
    with pytest.raises(VimNotFound):
        await harness.sim.get_project(project.id)


async def test_an_unmanaged_tenant_uses_an_existing_project_and_leaves_it(harness: Harness) -> None:
    harness.core.create_tenant("ops", managed=False)
    await harness.idle()
    assert harness.kinds() == [("CREATE_TENANT", FAIL, 500)]
    assert "not managed by ESC" in harness.events[0].status_message and harness.core.tenants() == []
    project = await harness.sim.ensure_project("ops")
    harness.core.create_tenant("ops", managed=False)
    await harness.idle()
    assert harness.kinds()[-1] == ("CREATE_TENANT", OK, 200) and not harness.core.tenants()[0].managed
    harness.core.delete_tenant("ops")
    await harness.idle()
    assert harness.kinds()[-1] == ("DELETE_TENANT", OK, 200)
    assert await harness.sim.get_project(project.id) == project  # not ESC's to delete


async def test_a_tenant_is_deleted_after_its_deployments_are_undeployed(harness: Harness) -> None:
    harness.core.create_tenant("t1")
    harness.core.apply_update("t1", None, spec(group("g")))
    await harness.idle()
    (dep,) = harness.core.deployments()
    assert harness.kinds().count(("CREATE_TENANT", OK, 200)) == 1  # config and the deploy share one creation
    mark = len(harness.events)
    harness.core.apply_update("t1", dep.spec, None)
    harness.core.delete_tenant("t1")
    await harness.idle()
    kinds = [k for k, _, _ in harness.kinds(mark)]
    assert kinds.index("SERVICE_UNDEPLOYED") < kinds.index("DELETE_TENANT") and harness.core.tenants() == []
