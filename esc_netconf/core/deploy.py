"""Deploy, undeploy and update (scale out/in) a deployment.

Every workflow here is a *convergence*: it compares the persisted records with the spec and does what is
missing, so running it again after a restart finishes the job instead of repeating it.  A VM record is
saved (the intent) before ``create_server`` is called, and the server id right after, so a resumed deploy
adopts a server it created before dying rather than creating a second one.

Groups go up in ``startup_waves`` order: a group is deployed only when every group it depends on is alive.
"""

from __future__ import annotations

from collections.abc import Awaitable

from esc_netconf.core.ids import new_id
from esc_netconf.core import recovery, restore, vmsteps
from esc_netconf.core.context import CoreContext
from esc_netconf.core.day0 import pools
from esc_netconf.core.day0.ports import release_ports
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.events import EventType
from esc_netconf.core.jobs import gather_failures, members
from esc_netconf.core.model import DeploymentRecord, OperationRecord, VmGroupSpec, VmRecord
from esc_netconf.core.planning import allocate_interfaces, next_index, plan_group, startup_waves, vm_name
from esc_netconf.core.states import ServiceState, ServiceTrigger, VmState, VmTrigger


def new_vm(ctx: CoreContext, dep: DeploymentRecord, group: VmGroupSpec) -> VmRecord:
    """Record the intent to create one more VM in ``group`` (index and addresses chosen here)."""
    siblings = ctx.vms_of(dep.dep_id, group.name)
    vm_id = new_id()
    index = next_index(siblings)
    vm = VmRecord(vm_id=vm_id, dep_id=dep.dep_id, tenant=dep.tenant, deployment=dep.name, group=group.name,
                  index=index, name=vm_name(dep.name, group.name, index, vm_id), image=group.image,
                  flavor=group.flavor, interfaces=allocate_interfaces(group, siblings))
    pools.allocate(group, vm, siblings)
    ctx.save_vm(vm)
    ctx.fresh.add(vm_id)
    return vm


async def bring_up(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, group: VmGroupSpec, *,
                   scale_out: bool = False) -> None:
    """Drive one VM from DEPLOYING (or INERT) to ALIVE, with VM_DEPLOYED and VM_ALIVE.

    A VM a scale-out adds announces itself as ESC's guides show it, VM_SCALE_OUT_DEPLOYED and no VM_ALIVE:
    its scale-out's own INIT and COMPLETE frame it.

    :raises VimOperationFailed: after the VM went to ERROR and its deployed event's FAILURE was published.
    """
    deployed = EventType.VM_SCALE_OUT_DEPLOYED if scale_out else EventType.VM_DEPLOYED
    # the VMs of a deployment, and of every deployment a bulk edit started, begin together: a slice per loop turn
    await ctx.pacer.turn()
    try:
        if vm.state is VmState.DEPLOYING:
            await vmsteps.build(ctx, vm, group)
            ctx.vm_to(vm, VmTrigger.DEPLOYED, "deployed")
            ctx.vm_event(dep, vm, deployed, f"OpenStack Driver: VM successfully created, VM Name: [{vm.name}]")
    except VimOperationFailed as exc:
        ctx.vm_to(vm, VmTrigger.FAIL, f"deployment failed: {exc.message}")
        ctx.vm_event(dep, vm, deployed, exc.message, ok=False)
        raise
    if vm.state is VmState.INERT and not await ctx.kpi_alive(vm, group, float(group.bootup_time)):
        await recovery.not_alive(ctx, dep, vm, group)
        return
    if vm.state is VmState.INERT:
        vm.monitored = True
        ctx.vm_to(vm, VmTrigger.ALIVE, "alive, monitoring set")
        if not scale_out:
            ctx.vm_event(dep, vm, EventType.VM_ALIVE, f"VM_Alive event received, VM ID: [{vm.name}]")


async def take_down(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, *, scale_in: bool = False) -> None:
    """Delete one VM's server and forget the VM, with VM_UNDEPLOYED (a scale-in's VM has none: its
    VM_SCALE_IN_INIT and VM_SCALE_IN_COMPLETE are its events, as in ESC's guides).

    :raises VimOperationFailed: after VM_UNDEPLOYED FAILURE was published (the VM stays, in ERROR).
    """
    if not scale_in:  # as ``bring_up``; a scale-in's VM is marked in the step of its INIT, with no wait before
        await ctx.pacer.turn()
    if vm.state is not VmState.UNDEPLOYING:
        vm.monitored = False
        ctx.vm_to(vm, VmTrigger.UNDEPLOY, "undeploying")
    try:
        await vmsteps.destroy(ctx, vm)
        await release_ports(ctx, vm)
    except VimOperationFailed as exc:
        ctx.vm_to(vm, VmTrigger.FAIL, f"undeployment failed: {exc.message}")
        if not scale_in:
            ctx.vm_event(dep, vm, EventType.VM_UNDEPLOYED, exc.message, ok=False)
        raise
    if not scale_in:
        ctx.vm_event(dep, vm, EventType.VM_UNDEPLOYED, "VM has been undeployed.")
    ctx.forget_vm(vm)


async def deploy(ctx: CoreContext, dep: DeploymentRecord) -> None:
    """Create ``min_active`` VMs per group in startup order; SERVICE_ALIVE (or FAILURE) at the end."""
    try:
        if dep.tenant not in ctx.state.tenants:
            await ctx.ensure_tenant(dep.tenant)
            # every deployment of a bulk edit that waited for its new tenant wakes in the same loop turn
            await ctx.start_pacer.turn()
        for wave in startup_waves(dep.spec):
            jobs: list[Awaitable[None]] = []
            for name in wave:
                group = dep.spec.group(name)
                assert group is not None
                while len(members(ctx, dep, name)) < group.scaling.min_active:
                    new_vm(ctx, dep, group)
                jobs += [bring_up(ctx, dep, vm, group) for vm in members(ctx, dep, name)
                         if vm.state in (VmState.DEPLOYING, VmState.INERT) and not recovery.in_recovery(vm)]
                # a VM that failed its VM_ALIVE KPI at boot was being recovered when the process died
                jobs += [recovery.recover_vm(ctx, dep, vm) for vm in members(ctx, dep, name)
                         if recovery.in_recovery(vm)]
            failures = await gather_failures(jobs)
            if failures:
                raise failures[0]
    except VimOperationFailed as exc:
        ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_ALIVE, exc.message, ok=False)
        return
    if dep.state is ServiceState.DEPLOYING:
        ctx.service_to(dep, ServiceTrigger.DEPLOYED)
    ctx.service_to(dep, ServiceTrigger.ALIVE)
    ctx.service_event(dep, EventType.SERVICE_ALIVE, "Service group deployment completed successfully!")


async def undeploy(ctx: CoreContext, dep: DeploymentRecord) -> None:
    """Delete every VM (VM_UNDEPLOYED each), then SERVICE_UNDEPLOYED and forget the deployment.

    If a VM cannot be deleted the deployment stays, in SERVICE_ERROR_STATE, with SERVICE_UNDEPLOYED FAILURE.
    """
    failures = await gather_failures([take_down(ctx, dep, vm) for vm in ctx.vms_of(dep.dep_id)])
    if failures:
        ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_UNDEPLOYED, failures[0].message, ok=False)
        return
    ctx.service_event(dep, EventType.SERVICE_UNDEPLOYED, "Service undeployed successfully.")
    ctx.forget_dep(dep)


async def scale_group(ctx: CoreContext, dep: DeploymentRecord, name: str, delta: int) -> None:
    """A KPI rule's scaling: one VM more (``delta`` 1) or less (-1) in the group, within min..max.  The VMs
    of a scaling cut short by a restart (resumed with ``delta`` 0) are finished first (``_unfinished``)."""
    group = dep.spec.group(name)
    if group is None:
        return
    current = members(ctx, dep, name)
    jobs = _unfinished(ctx, dep, group)
    if delta > 0 and len(current) < group.scaling.max_active:
        jobs.append(_scale_out_one(ctx, dep, _scale_out_intent(ctx, dep, group), group))
    elif delta < 0 and len(current) > group.scaling.min_active:
        jobs.append(_scale_in_one(ctx, dep, max(current, key=lambda vm: vm.index)))
    if await gather_failures(jobs) and dep.state is ServiceState.ACTIVE:
        ctx.service_to(dep, ServiceTrigger.FAIL)


def _scale_out_intent(ctx: CoreContext, dep: DeploymentRecord, group: VmGroupSpec) -> VmRecord:
    """Record one more VM and announce VM_SCALE_OUT_INIT in the same step (no ``await`` between: one
    commit), so that a VM record found after a restart means its INIT is out, and is never sent again."""
    vm = new_vm(ctx, dep, group)
    ctx.vm_event(dep, vm, EventType.VM_SCALE_OUT_INIT, "VM scale out triggered")
    return vm


def _unfinished(ctx: CoreContext, dep: DeploymentRecord, group: VmGroupSpec) -> list[Awaitable[None]]:
    """Finish the scaling of the group's VMs that a restart (kill -9, takeover) cut short: a new VM still
    being built, waiting for its VM_ALIVE KPI or being recovered because it missed it is brought up, and a
    VM being removed is deleted.  Their INIT went out in the step that began them (``_scale_out_intent``,
    ``_scale_in_one``), so only the events that follow are sent."""
    jobs: list[Awaitable[None]] = []
    for vm in ctx.vms_of(dep.dep_id, group.name):
        if vm.state in (VmState.DEPLOYING, VmState.INERT) or recovery.in_recovery(vm):
            jobs.append(_scale_out_one(ctx, dep, vm, group))
        elif vm.state is VmState.UNDEPLOYING:
            jobs.append(_scale_in_one(ctx, dep, vm, announced=True))
    return jobs


async def _scale_out_one(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, group: VmGroupSpec) -> None:
    """Bring up a VM announced by ``_scale_out_intent`` (or finish its recovery), then VM_SCALE_OUT_COMPLETE."""
    try:
        if recovery.in_recovery(vm):
            await recovery.recover_vm(ctx, dep, vm)
        else:
            await bring_up(ctx, dep, vm, group, scale_out=True)
    except VimOperationFailed as exc:
        ctx.vm_event(dep, vm, EventType.VM_SCALE_OUT_COMPLETE, f"VM scaled out failed: {exc.message}", ok=False)
        raise
    ctx.vm_event(dep, vm, EventType.VM_SCALE_OUT_COMPLETE, "VM scaled out successfully")


async def _scale_in_one(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, *, announced: bool = False) -> None:
    """VM_SCALE_IN_INIT (unless ``announced``: a resumed removal) in the step that marks the VM UNDEPLOYING
    (``take_down`` does so before its first ``await``), then delete it and VM_SCALE_IN_COMPLETE."""
    if not announced:
        ctx.vm_event(dep, vm, EventType.VM_SCALE_IN_INIT, "VM scale in triggered")
    try:
        await take_down(ctx, dep, vm, scale_in=True)
    except VimOperationFailed as exc:
        ctx.vm_event(dep, vm, EventType.VM_SCALE_IN_COMPLETE, f"VM scaled in failed: {exc.message}", ok=False)
        raise
    ctx.vm_event(dep, vm, EventType.VM_SCALE_IN_COMPLETE, "VM scaled in successfully")


def _group_jobs(ctx: CoreContext, dep: DeploymentRecord, group: VmGroupSpec) -> list[Awaitable[None]]:
    current = members(ctx, dep, group.name)
    plan = plan_group(group, len(current))
    jobs = _unfinished(ctx, dep, group)
    jobs += [_scale_out_one(ctx, dep, _scale_out_intent(ctx, dep, group), group) for _ in range(plan.scale_out)]
    victims = sorted(current, key=lambda vm: vm.index)[len(current) - plan.scale_in:] if plan.scale_in else []
    jobs += [_scale_in_one(ctx, dep, vm) for vm in victims]
    return jobs


async def update(ctx: CoreContext, dep: DeploymentRecord, op: OperationRecord | None = None) -> None:
    """Make the VMs match ``dep.spec`` (already saved): swap the volumes recorded in ``op`` (see
    ``restore``), scale out/in per group, drop removed groups, then SERVICE_UPDATED (FAILURE if any step
    failed).  Changes such as ``image`` only affect VMs built from now on."""
    swapped = await restore.swap_volumes(ctx, dep, op) if op is not None else restore.SwapResult()
    try:
        groups = {g.name for g in dep.spec.vm_groups}
        dropped = [vm for vm in ctx.vms_of(dep.dep_id) if vm.group not in groups]
        failures = await gather_failures([take_down(ctx, dep, vm) for vm in dropped])
        for wave in startup_waves(dep.spec):
            jobs: list[Awaitable[None]] = []
            for name in wave:
                group = dep.spec.group(name)
                assert group is not None
                jobs += _group_jobs(ctx, dep, group)
            failures += await gather_failures(jobs)
            if failures:
                raise failures[0]
    except VimOperationFailed as exc:
        if dep.state is ServiceState.ACTIVE:
            ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_UPDATED, exc.message, ok=False)
        return
    if swapped.failures:
        if swapped.vm_broken and dep.state is ServiceState.ACTIVE:
            ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_UPDATED, swapped.failures[0].message, ok=False)
        return
    ctx.service_event(dep, EventType.SERVICE_UPDATED, "Service updated successfully.")

