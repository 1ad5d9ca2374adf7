"""Recovery of a VM: reboot, then redeploy if it is not alive within ``recovery_wait_time``.

Theory of operation: the VM walks RECOVERY_REBOOTING -> (ALIVE | RECOVERY_UNDEPLOYING -> RECOVERY_DEPLOYING
-> INERT -> ALIVE), and each step is persisted before the VIM is asked, so a restart resumes at the step
it was in.  A redeploy keeps the VM's id and generated name but builds a new server from the group's
*current* spec: that is how a service update of ``image`` reaches a VM.  When the image changed since the
VM was built, the reboot is skipped (it could not apply the new image) and recovery redeploys directly.
Events, as ESC's guides show them: VM_RECOVERY_INIT; then VM_RECOVERY_REBOOT (SUCCESS, or FAILURE when the
reboot did not bring the VM back and a redeploy follows), or VM_RECOVERY_UNDEPLOYED and VM_RECOVERY_DEPLOYED
for a redeploy; then VM_RECOVERY_COMPLETE with SUCCESS, or FAILURE (VM and service go to ERROR).  Before a
redeploy deletes the old server its facts are kept in the record (``recovery_source``), so DEPLOYED and
COMPLETE show the old VM as ``vm_source`` and the new one (a new server id, the same generated name) as
``vm_target``, also after a restart in between.  ``lifecycle`` sends VM_RECOVERY_CANCELLED when an undeploy
or a DISABLE_MONITOR interrupts a recovery.
"""

from __future__ import annotations

from esc_netconf.core import vmsteps
from esc_netconf.core.context import CoreContext
from esc_netconf.core.jobs import gather_failures
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.events import EventType
from esc_netconf.core.model import DeploymentRecord, ServerFacts, VmGroupSpec, VmRecord
from esc_netconf.core.states import ServiceState, ServiceTrigger, VmState, VmTrigger

#: How the history entry of a successful recovery begins (a resumed recovery looks for it).
RECOVERED = "recovered by"

RECOVERING = frozenset({VmState.RECOVERY_REBOOTING, VmState.RECOVERY_UNDEPLOYING, VmState.RECOVERY_DEPLOYING})


def in_recovery(vm: VmRecord) -> bool:
    """Whether the VM is part-way through a recovery, as a restart finds it: in a recovery state, or INERT
    after the redeploy (waiting for its VM_ALIVE KPI, the old server's facts still kept)."""
    return vm.state in RECOVERING or (vm.state is VmState.INERT and vm.recovery_source is not None)


async def recover_vm(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, *, begin: bool = False) -> None:
    """Recover one VM (its state allows RECOVER, or it is already part-way through recovery); ``begin``: an
    INERT VM starts a recovery (it failed its VM_ALIVE KPI at boot) rather than finishing a redeploy."""
    group = dep.spec.group(vm.group)
    if group is None:
        raise VimOperationFailed(f"VM [{vm.name}] belongs to no vm_group of deployment [{dep.name}].")
    if begin or (vm.state not in RECOVERING and vm.state is not VmState.INERT):
        ctx.vm_event(dep, vm, EventType.VM_RECOVERY_INIT, f"Recovery event for VM [{vm.name}] triggered. "
                                                          f"Processing Auto healing. Proceeding with Recovery.")
        vm.monitored = False
        vm.recovery_source = vm.facts()
        ctx.vm_to(vm, VmTrigger.RECOVER, "recovery started, monitoring unset")
    before = vm.recovery_source or vm.facts()
    try:
        if vm.state is VmState.RECOVERY_REBOOTING:
            if vm.image == group.image:
                wait = float(group.recovery_wait_time or group.bootup_time)
                failure = await _reboot(ctx, vm, wait)
                if failure is None and not await ctx.kpi_alive(vm, group, wait):
                    failure = f"VM [{vm.name}] was not alive within {wait:g} s by its VM_ALIVE KPI"
                if failure is None:
                    ctx.vm_event(dep, vm, EventType.VM_RECOVERY_REBOOT, f"VM [{vm.name}] is rebooted.")
                    _recovered(ctx, dep, vm, before, "reboot")
                    return
                ctx.vm_event(dep, vm, EventType.VM_RECOVERY_REBOOT,
                             f"VM [{vm.name}] failed to be rebooted: {failure}", ok=False)
            ctx.vm_to(vm, VmTrigger.REDEPLOY, "recovery redeploying")
        if vm.state is VmState.RECOVERY_UNDEPLOYING:
            await vmsteps.destroy(ctx, vm)
            vm.server_id = None
            vm.image, vm.flavor = group.image, group.flavor
            ctx.vm_to(vm, VmTrigger.UNDEPLOYED, "old server deleted")
            ctx.vm_event(dep, vm, EventType.VM_RECOVERY_UNDEPLOYED, f"VM [{vm.name}] has been undeployed.",
                         before=before)
        if vm.state is VmState.RECOVERY_DEPLOYING:
            await vmsteps.build(ctx, vm, group)
            ctx.vm_to(vm, VmTrigger.DEPLOYED, f"redeployed from image {vm.image}")
            ctx.vm_event(dep, vm, EventType.VM_RECOVERY_DEPLOYED, f"VM [{vm.name}] has been deployed.",
                         before=before)
        if vm.state is VmState.INERT and not await ctx.kpi_alive(vm, group, float(group.bootup_time)):
            raise VimOperationFailed(f"VM [{vm.name}] was not alive within bootup_time ({group.bootup_time} s) "
                                     f"by its VM_ALIVE KPI after a redeploy.")
    except VimOperationFailed as exc:
        vm.recovery_source = None
        ctx.vm_to(vm, VmTrigger.FAIL, f"recovery failed: {exc.message}")
        ctx.vm_event(dep, vm, EventType.VM_RECOVERY_COMPLETE,
                     f"Recovery: Recovery completed with errors for VM [{vm.name}]: {exc.message}", ok=False,
                     before=before)
        raise
    _recovered(ctx, dep, vm, before, "redeploy")


async def not_alive(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, group: VmGroupSpec) -> None:
    """The VM_ALIVE KPI was not met within ``bootup_time`` (after a deploy, START or REBOOT): recover as the
    rules say (``FALSE recover autohealing``), else the VM fails with VM_ALIVE FAILURE.

    :raises VimOperationFailed: the VM is in ERROR (not recovered, or its recovery failed).
    """
    if recovers_on_alive_false(group):
        await recover_vm(ctx, dep, vm, begin=True)
        return
    message = f"VM [{vm.name}] was not alive within bootup_time ({group.bootup_time} s) by its VM_ALIVE KPI."
    ctx.vm_to(vm, VmTrigger.FAIL, message)
    ctx.vm_event(dep, vm, EventType.VM_ALIVE, message, ok=False)
    raise VimOperationFailed(message)


def recovers_on_alive_false(group: VmGroupSpec) -> bool:
    """Whether the group's rules say ``FALSE recover autohealing`` for VM_ALIVE."""
    return any(action.split() == ["FALSE", "recover", "autohealing"]
               for rule in group.rules if rule.event_name == "VM_ALIVE" for action in rule.actions)


def _recovered(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, before: ServerFacts, how: str) -> None:
    vm.monitored = True
    vm.recovery_source = None
    ctx.vm_to(vm, VmTrigger.ALIVE, f"{RECOVERED} {how}, monitoring set")
    ctx.vm_event(dep, vm, EventType.VM_RECOVERY_COMPLETE, f"Recovery: Successfully recovered VM [{vm.name}].",
                 before=before)


async def _reboot(ctx: CoreContext, vm: VmRecord, wait: float) -> str | None:
    """Hard-reboot and wait for ACTIVE: None when it worked, else why not."""
    try:
        await vmsteps.hard_reboot(ctx, vm, wait)
    except VimOperationFailed as exc:
        return exc.message
    return None


async def recover(ctx: CoreContext, dep: DeploymentRecord, vm_ids: list[str]) -> None:
    """Recover the given VMs together; the service follows (ERROR on failure, ACTIVE again when all alive)."""
    vms = [ctx.state.vms[i] for i in vm_ids if i in ctx.state.vms]
    failures = await gather_failures([recover_vm(ctx, dep, vm) for vm in vms])
    if failures:
        if dep.state is ServiceState.ACTIVE:
            ctx.service_to(dep, ServiceTrigger.FAIL)
        return
    healthy = all(vm.state in (VmState.ALIVE, VmState.MONITOR_DISABLED, VmState.SHUTOFF)
                  for vm in ctx.vms_of(dep.dep_id))
    if dep.state is ServiceState.ERROR and healthy:
        ctx.service_to(dep, ServiceTrigger.ALIVE)
        ctx.service_event(dep, EventType.SERVICE_ALIVE, "Service group is alive again after recovery.")
