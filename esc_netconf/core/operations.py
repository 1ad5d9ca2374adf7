"""VNF and VM operations: start, stop, reboot (``serviceAction`` and ``vmAction``).

The caller (``lifecycle.EscCore``) has already validated the request and applied the first transition
(service STOPPING/STARTING/REBOOTING, or the VM's), so the state is visible at once; these coroutines carry
the work out and finish the machines.  Each resumes from the persisted VM states after a restart: a VM that
already reached its target is skipped.

Seed rules kept here: STOP turns monitoring off (so no recovery or scaling until START); START and REBOOT
turn it back on once the VM is alive; REBOOT is stop-then-start of each VM with monitoring off meanwhile.
Groups are started in startup order (dependencies first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from esc_netconf.core import recovery, vmsteps
from esc_netconf.core.context import CoreContext
from esc_netconf.core.jobs import gather_failures
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.events import EventType
from esc_netconf.core.model import DeploymentRecord, VmRecord
from esc_netconf.core.planning import startup_waves
from esc_netconf.core.states import ServiceTrigger, VmState, VmTrigger

_VmJob = Callable[[CoreContext, DeploymentRecord, VmRecord], Awaitable[None]]

#: VM states a service STOP acts on, and those a service REBOOT acts on.
STOPPABLE = frozenset({VmState.ALIVE, VmState.INERT, VmState.MONITOR_DISABLED, VmState.MONITOR_UNSET,
                       VmState.ERROR, VmState.STOPPING})
REBOOTABLE = frozenset({VmState.ALIVE, VmState.MONITOR_DISABLED, VmState.ERROR, VmState.REBOOTING})


def _timeout(dep: DeploymentRecord, vm: VmRecord) -> float:
    group = dep.spec.group(vm.group)
    return float(group.bootup_time if group else 300)


def begin_vm_action(ctx: CoreContext, vm: VmRecord, action: str) -> None:
    """Apply the first transition of a VM STOP/START/REBOOT (the caller validated it) and persist it.

    ``EscCore.vm_action`` calls this before it returns, so opdata shows the VM STOPPING at once and no other
    request (a snapshot, another action) can slip into the gap; the workflows below call it only for a VM
    that is not in that state yet (a service action, or a record written before the transition).
    """
    if action == "START":
        ctx.vm_to(vm, VmTrigger.START, "starting")
        return
    vm.monitored = False
    if action == "STOP":
        ctx.vm_to(vm, VmTrigger.STOP, "stopping, monitoring unset")
    else:
        ctx.vm_to(vm, VmTrigger.REBOOT, "rebooting, monitoring unset")


async def stop_vm(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord) -> None:
    """Power one VM off: VM_STOPPED (FAILURE and VM_ERROR_STATE if the VIM fails)."""
    if vm.state is not VmState.STOPPING:
        begin_vm_action(ctx, vm, "STOP")
    try:
        await vmsteps.power_off(ctx, vm, _timeout(dep, vm))
    except VimOperationFailed as exc:
        ctx.vm_to(vm, VmTrigger.FAIL, f"stop failed: {exc.message}")
        ctx.vm_event(dep, vm, EventType.VM_STOPPED, exc.message, ok=False)
        raise
    ctx.vm_to(vm, VmTrigger.STOPPED, "stopped")
    ctx.vm_event(dep, vm, EventType.VM_STOPPED, "VM successfully stopped")


async def start_vm(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord) -> None:
    """Power one VM on and re-arm monitoring: VM_STARTED then VM_ALIVE."""
    if vm.state is VmState.SHUTOFF:
        begin_vm_action(ctx, vm, "START")
    try:
        await vmsteps.power_on(ctx, vm, _timeout(dep, vm))
    except VimOperationFailed as exc:
        ctx.vm_to(vm, VmTrigger.FAIL, f"start failed: {exc.message}")
        ctx.vm_event(dep, vm, EventType.VM_STARTED, exc.message, ok=False)
        raise
    if not await _kpi_alive(ctx, dep, vm):
        return
    vm.monitored = True
    ctx.vm_to(vm, VmTrigger.ALIVE, "started, monitoring set")
    ctx.vm_event(dep, vm, EventType.VM_STARTED, "VM successfully started")
    ctx.vm_event(dep, vm, EventType.VM_ALIVE, f"VM_Alive event received after started, VM ID: [{vm.name}]")


async def reboot_vm(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord) -> None:
    """Stop then start one VM with monitoring off meanwhile: VM_REBOOTED then VM_ALIVE."""
    if vm.state is not VmState.REBOOTING:
        begin_vm_action(ctx, vm, "REBOOT")
    try:
        await vmsteps.power_off(ctx, vm, _timeout(dep, vm), rebooting=True)
        await vmsteps.power_on(ctx, vm, _timeout(dep, vm))
    except VimOperationFailed as exc:
        ctx.vm_to(vm, VmTrigger.FAIL, f"reboot failed: {exc.message}")
        ctx.vm_event(dep, vm, EventType.VM_REBOOTED, exc.message, ok=False)
        raise
    if not await _kpi_alive(ctx, dep, vm):
        return
    vm.monitored = True
    ctx.vm_to(vm, VmTrigger.ALIVE, "rebooted, monitoring set")
    ctx.vm_event(dep, vm, EventType.VM_REBOOTED, "VM successfully rebooted")
    ctx.vm_event(dep, vm, EventType.VM_ALIVE, f"VM_Alive event received after rebooted, VM ID: [{vm.name}]")


async def _kpi_alive(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord) -> bool:
    """After a power-on: True when the VM_ALIVE KPI (if any) is met within ``bootup_time``; else the VM was
    handed to ``recovery.not_alive`` (recovered, so False: the caller's events do not apply)."""
    group = dep.spec.group(vm.group)
    if group is None or await ctx.kpi_alive(vm, group, float(group.bootup_time)):
        return True
    await recovery.not_alive(ctx, dep, vm, group)
    return False


async def stop_service(ctx: CoreContext, dep: DeploymentRecord) -> None:
    """Stop every running VM; SERVICE_STOPPED (service STOPPED, or ERROR on failure)."""
    vms = [vm for vm in ctx.vms_of(dep.dep_id) if vm.state in STOPPABLE]
    failures = await gather_failures([stop_vm(ctx, dep, vm) for vm in vms])
    if failures:
        ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_STOPPED, failures[0].message, ok=False)
        return
    ctx.service_to(dep, ServiceTrigger.STOPPED)
    ctx.service_event(dep, EventType.SERVICE_STOPPED, "Service stopped successfully.")


async def _by_waves(ctx: CoreContext, dep: DeploymentRecord, states: frozenset[VmState],
                    *, starting: bool) -> list[VimOperationFailed]:
    """Start (or reboot) the VMs in ``states`` one startup wave at a time; stop at the first failing wave."""
    failures: list[VimOperationFailed] = []
    for wave in startup_waves(dep.spec):
        vms = [vm for vm in ctx.vms_of(dep.dep_id) if vm.group in wave and (vm.state in states or
                                                                            recovery.in_recovery(vm))]
        jobs: list[Awaitable[None]] = [_resume_or(ctx, dep, vm, start_vm if starting else reboot_vm) for vm in vms]
        failures += await gather_failures(jobs)
        if failures:
            break
    return failures


def _resume_or(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, job: _VmJob) -> Awaitable[None]:
    """``job`` on the VM, unless a restart found it in the recovery this operation began when its VM_ALIVE KPI
    was not met (``_kpi_alive``): that recovery is finished instead, from the step it was in, so nothing is
    powered on again, recovered twice or announced twice."""
    return recovery.recover_vm(ctx, dep, vm) if recovery.in_recovery(vm) else job(ctx, dep, vm)


async def start_service(ctx: CoreContext, dep: DeploymentRecord) -> None:
    """Start the stopped VMs group by group in startup order; SERVICE_ALIVE (or FAILURE)."""
    failures = await _by_waves(ctx, dep, frozenset({VmState.SHUTOFF, VmState.STARTING}), starting=True)
    if failures:
        ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_ALIVE, failures[0].message, ok=False)
        return
    ctx.service_to(dep, ServiceTrigger.ALIVE)
    ctx.service_event(dep, EventType.SERVICE_ALIVE, "Service started successfully.")


async def reboot_service(ctx: CoreContext, dep: DeploymentRecord) -> None:
    """Reboot the running VMs in startup order; SERVICE_ALIVE (or FAILURE), as ESC ends a service reboot."""
    failures = await _by_waves(ctx, dep, REBOOTABLE, starting=False)
    if failures:
        ctx.service_to(dep, ServiceTrigger.FAIL)
        ctx.service_event(dep, EventType.SERVICE_ALIVE, f"Service group reboot failed: {failures[0].message}",
                          ok=False)
        return
    ctx.service_to(dep, ServiceTrigger.ALIVE)
    ctx.service_event(dep, EventType.SERVICE_ALIVE, "Service group reboot completed successfully.")


def set_monitoring(ctx: CoreContext, dep: DeploymentRecord, vms: list[VmRecord], enable: bool) -> None:
    """ENABLE_MONITOR/DISABLE_MONITOR of VMs (no VIM call): VM_MONITOR_SET/UNSET each."""
    for vm in vms:
        if enable:
            vm.monitored = True
            ctx.vm_to(vm, VmTrigger.ENABLE_MONITOR, "monitoring set")
            ctx.vm_event(dep, vm, EventType.VM_MONITOR_SET, "VM monitoring enabled.")
        else:
            vm.monitored = False
            ctx.vm_to(vm, VmTrigger.DISABLE_MONITOR, "monitoring unset")
            ctx.vm_event(dep, vm, EventType.VM_MONITOR_UNSET, "VM monitoring disabled.")


async def run_vm_action(ctx: CoreContext, dep: DeploymentRecord, vm: VmRecord, action: str) -> None:
    """Carry out a validated ``vmAction`` START/STOP/REBOOT on one VM (failures are reported as events)."""
    jobs = {"START": start_vm, "STOP": stop_vm, "REBOOT": reboot_vm}
    await gather_failures([_resume_or(ctx, dep, vm, jobs[action])])
