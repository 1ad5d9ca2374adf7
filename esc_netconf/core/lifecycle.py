"""``EscCore``: the one object adapters talk to.

Theory of operation
-------------------
Requests are validated *synchronously* (``check_update``, ``service_action``, ``vm_action``,
``recovery_vm_action``): a refusal raises a ``LifecycleError`` and nothing has changed.  An accepted request
applies its first transition at once (so opdata shows e.g. SERVICE_STOPPING_STATE immediately), records an
``OperationRecord`` (work in flight) and starts an asyncio task; the method returns while the work goes on
and reports through the ``EventBus``.

A deployment runs at most one operation at a time (``busy``): a second request is refused with 409 naming
the operation in progress.  Others may keep a deployment busy too, through ``add_busy_check``: while a
snapshot of one of its VMs is being captured the VIM refuses to stop, start or reboot the server, so
actions, manual recovery and config updates are refused naming the snapshot, and the monitor does not
start recovery.  The single exception is undeploy (deleting the deployment from the config): it cancels
whatever runs (a start, a reboot, a deploy...), finishes its record at once, and takes over.

On ``start()`` the operation still recorded for each deployment (an UNDEPLOY if there is one, since it
overrides the rest) is resumed by running its workflow again; workflows converge from the persisted
records, and one whose service or VM already left the operation's working state had concluded before the
process died: its record is finished without running anything.  An operation that ends with an exception
other than a VIM failure (a bug, a store error) still ends: the FAIL transition is applied where legal
and the operation's final event is published with FAILURE, so an operator learns what happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

from esc_netconf.core.ids import new_id
from esc_netconf.core import deploy, jobs, operations, recovery, restore, tenants
from esc_netconf.core.context import Clock, CoreContext, CoreSettings, utc_now
from esc_netconf.core.day0.fetch import TemplateFetcher
from esc_netconf.core.errors import IllegalTransition, NotFound, StateConflict
from esc_netconf.core.events import EventBus, EventType, event_from_journal
from esc_netconf.core.model import CoreState, DeploymentRecord, DeploymentSpec, OperationRecord, TenantRecord, VmRecord
from esc_netconf.core.collectors import Collector
from esc_netconf.core.kpimonitor import KpiMonitor
from esc_netconf.core.monitor import Monitor
from esc_netconf.core.planning import check_pool_capacity, plan_group, validate_spec
from esc_netconf.core.states import (ACTIVE_VM_STATES, ActionType, ServiceState, ServiceTrigger, VmState, VmTrigger,
                                     service_transition, vm_transition)
from esc_netconf.core.store import RecordKind, Store
from esc_netconf.vim.base import VimDriver

log = logging.getLogger(__name__)


class OpKind(str, Enum):
    """Kinds of work in flight (``OperationRecord.kind``)."""

    DEPLOY = "DEPLOY"
    UNDEPLOY = "UNDEPLOY"
    UPDATE = "UPDATE"
    SERVICE_ACTION = "SERVICE_ACTION"
    VM_ACTION = "VM_ACTION"
    RECOVERY = "RECOVERY"
    KPI_SCALE = "KPI_SCALE"


BusyCheck = Callable[[str], str | None]
"""Given a deployment id, a label of what else keeps it busy (e.g. ``"SNAPSHOT of VM [x]"``), or None."""

#: The service state each kind of operation works in; a resumed operation whose deployment is in none of
#: them had concluded (succeeded or failed) before the process died.
_WORKING_SERVICE: dict[tuple[str, str], frozenset[ServiceState]] = {
    (OpKind.DEPLOY.value, ""): frozenset({ServiceState.DEPLOYING, ServiceState.INERT}),
    (OpKind.SERVICE_ACTION.value, "START"): frozenset({ServiceState.STARTING}),
    (OpKind.SERVICE_ACTION.value, "STOP"): frozenset({ServiceState.STOPPING}),
    (OpKind.SERVICE_ACTION.value, "REBOOT"): frozenset({ServiceState.REBOOTING}),
}
#: The VM state a VM action ends in when it succeeded.
#: Tenant creations and deletions running at once. A config of thousands of tenants starts as many tasks;
#: run all at once, their VIM calls, store writes and events would fill every turn of the loop for seconds
#: and keep every client waiting, so they queue and the loop serves others between them.
TENANT_WORK_AT_ONCE = 4

_VM_TARGET = {"START": VmState.ALIVE, "STOP": VmState.SHUTOFF, "REBOOT": VmState.ALIVE}
#: VM states in the middle of some operation: an operation that crashed leaves its VMs there, so they fail.
_IN_FLIGHT = frozenset({VmState.DEPLOYING, VmState.INERT, VmState.STOPPING, VmState.STARTING, VmState.REBOOTING,
                        VmState.UNDEPLOYING, VmState.RECOVERY_REBOOTING, VmState.RECOVERY_UNDEPLOYING,
                        VmState.RECOVERY_DEPLOYING})
#: The event each operation ends with (service-level; VM-level for VM_ACTION and RECOVERY).
_FINAL_EVENT: dict[tuple[str, str], EventType] = {
    (OpKind.DEPLOY.value, ""): EventType.SERVICE_ALIVE,
    (OpKind.UNDEPLOY.value, ""): EventType.SERVICE_UNDEPLOYED,
    (OpKind.UPDATE.value, ""): EventType.SERVICE_UPDATED,
    (OpKind.SERVICE_ACTION.value, "START"): EventType.SERVICE_ALIVE,
    (OpKind.SERVICE_ACTION.value, "STOP"): EventType.SERVICE_STOPPED,
    (OpKind.SERVICE_ACTION.value, "REBOOT"): EventType.SERVICE_ALIVE,
    (OpKind.VM_ACTION.value, "START"): EventType.VM_STARTED,
    (OpKind.VM_ACTION.value, "STOP"): EventType.VM_STOPPED,
    (OpKind.VM_ACTION.value, "REBOOT"): EventType.VM_REBOOTED,
    (OpKind.RECOVERY.value, ""): EventType.VM_RECOVERY_COMPLETE,
}


@dataclass(eq=False)
class _Work:
    op: OperationRecord
    task: asyncio.Task[None]

    @property
    def label(self) -> str:
        return self.op.params.get("action") or self.op.kind


class EscCore:
    """Tenants, deployments and VMs, driven through a ``VimDriver``, persisted in a ``Store``."""

    def __init__(self, driver: VimDriver, store: Store, bus: EventBus, *, clock: Clock = utc_now,
                 settings: CoreSettings | None = None, fetcher: TemplateFetcher | None = None,
                 collector: Collector | None = None) -> None:
        """``collector``: reads the KPIs (``core.kpimonitor``); None monitors by VIM status only."""
        self._ctx = CoreContext(driver, store, bus, clock, settings or CoreSettings(), fetcher)
        self._busy: dict[str, _Work] = {}
        self._busy_checks: list[BusyCheck] = []
        self._monitor = Monitor(self._ctx, self._occupied, self._start_recovery)
        self._monitor_task: asyncio.Task[None] | None = None
        self._kpis = (KpiMonitor(self._ctx, collector, self._occupied, self._start_recovery, self._start_scale)
                      if collector is not None else None)
        self._ctx.alive_watch = self._kpis
        self._kpi_task: asyncio.Task[None] | None = None
        self._tenant_tasks: set[asyncio.Task[None]] = set()
        self._tenant_slots = asyncio.Semaphore(TENANT_WORK_AT_ONCE)
        self._stopping = False
        self._installs = 0  # states put in place by install()
        self._installed_at = 0  # what writes() said right after the last install()

    # ---- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the records, deliver the events journaled but not delivered before a crash (or by the
        active this standby took over from), resume the work in flight, start the monitor."""
        ctx = self._ctx
        ctx.state = ctx.store.load()
        ctx.bus.redeliver([event_from_journal(data) for _, data in ctx.store.pending_events()])
        by_dep: dict[str, list[OperationRecord]] = {}
        for op in list(ctx.state.operations.values()):
            if op.dep_id not in ctx.state.deployments:
                self._finish(op)
                continue
            by_dep.setdefault(op.dep_id, []).append(op)
        for dep_id, ops in by_dep.items():
            dep = ctx.state.deployments[dep_id]
            chosen = _resumable(ops)
            for op in ops:
                if op is not chosen:
                    self._finish(op)
            workflow = self._workflow(dep, chosen, resumed=True)
            if workflow is not _nothing:
                log.info("resumed %s of %s/%s (interrupted at %s; started %s)", chosen.kind.lower(), dep.tenant,
                         dep.name, dep.state.value, chosen.started.isoformat() if chosen.started else "unknown")
            self._launch(dep, chosen, workflow)
        self._monitor_task = asyncio.get_running_loop().create_task(self._monitor.run(), name="esc-monitor")
        if self._kpis is not None:
            self._kpi_task = asyncio.get_running_loop().create_task(self._kpis.run(), name="esc-kpi-monitor")

    def install(self, state: CoreState) -> None:
        """Put ``state`` in place of the records, in one step, and resume nothing: the view of a core that is
        never started (a standby's reads of what the active of its group does, read off the loop). A reader
        that reads across several turns of the loop sees :meth:`writes` move."""
        self._ctx.state = state
        self._installs += 1
        self._installed_at = self.writes()

    async def stop(self) -> None:
        """Cancel the monitor and every task; records keep the work in flight for the next start."""
        self._stopping = True
        tasks = [w.task for w in self._busy.values()] + list(self._tenant_tasks)
        if self._monitor_task is not None:
            tasks.append(self._monitor_task)
        if self._kpi_task is not None:
            tasks.append(self._kpi_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._ctx.poller.close()
        # drain before the store closes: commit, deliver what the commit released (the subscribers store
        # it), commit the journal's forgetting; an event still held stays journaled for the next start
        ctx = self._ctx
        self._last_commit(ctx.commit.flush)
        await ctx.bus.drain()
        ctx.bus.close()
        self._last_commit(ctx.commit.close)

    @staticmethod
    def _last_commit(commit: Callable[[], None]) -> None:
        """A stop goes on when its last commits fail: a server that lost its group's lease may not write
        any more (it stops so as to rejoin as a standby), a disk may be full. What they held was never
        committed, so nothing outside learnt of it, and the next start (or the new active) resumes from
        what was."""
        try:
            commit()
        except Exception as error:  # noqa: BLE001 - logged; the store's errors are not the core's to name
            log.error("Stopping with core writes not committed: %s", error)

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no operation (nor tenant creation or deletion) is running (for tests and orderly shutdown).

        :raises TimeoutError: still busy after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self._busy or self._tenant_tasks:
                tasks = [w.task for w in list(self._busy.values())] + list(self._tenant_tasks)
                await asyncio.gather(*tasks, return_exceptions=True)
        self._ctx.commit.flush()

    def flush(self) -> None:
        """Make every write so far durable now (blocking; the core commits in batches on its own, see
        ``core.groupcommit``): for tools and tests that read the store behind the core."""
        self._ctx.commit.flush()

    async def monitor_once(self) -> None:
        """Run one monitor pass now (the loop runs one every ``monitor_interval``)."""
        await self._monitor.check_once()

    # ---- queries ----------------------------------------------------------------------------

    def tenants(self) -> list[TenantRecord]:
        """Tenants known to the core: created (by config, or by their first deployment) and not deleted."""
        return sorted(self._ctx.state.tenants.values(), key=lambda t: t.name)

    def deployments(self, tenant: str | None = None) -> list[DeploymentRecord]:
        """Deployments (of one tenant), by tenant then name."""
        deps = [d for d in self._ctx.state.deployments.values() if tenant is None or d.tenant == tenant]
        return sorted(deps, key=lambda d: (d.tenant, d.name))

    def find_deployment(self, tenant: str, name_or_id: str) -> DeploymentRecord | None:
        """A deployment by name within a tenant, or by id."""
        deps = self._ctx.state.deployments
        if name_or_id in deps and deps[name_or_id].tenant == tenant:
            return deps[name_or_id]
        return self._ctx.deployment_named(tenant, name_or_id)

    def vms(self, dep_id: str) -> list[VmRecord]:
        """The VMs of a deployment, by group then index."""
        return self._ctx.vms_of(dep_id)

    def writes(self) -> int:
        """How many writes of tenant, deployment and VM records the core has made, and states installed: it
        moves with every change of one, since each is written before the task that made it awaits anything; a
        reader that reads them across several turns of the loop (opdata) compares it before and after to know
        whether it read one state. Operations and the event journal (written all the time while events are
        delivered) do not move it."""
        return self._ctx.commit.records_written + self._installs

    def written_since(self, mark: int) -> set[tuple[RecordKind, str]] | None:
        """Which tenants, deployments and VMs (kind, key: name, deployment id, VM id) were written since
        :meth:`writes` gave ``mark``; None when too many to tell, or when a whole state was installed since. A
        reader across turns of the loop reads those again at its end, in one go, to get the state of that
        moment without reading everything again."""
        if mark < self._installed_at:
            return None
        return self._ctx.commit.records_written_since(mark - self._installs)

    def vms_by_deployment(self) -> dict[str, list[VmRecord]]:
        """Every deployment's VMs (by group then index, as ``vms`` gives them), in one pass over the VMs:
        for reads of many deployments, where ``vms`` per deployment would scan every VM each time."""
        grouped: dict[str, list[VmRecord]] = {}
        for vm in self._ctx.state.vms.values():
            grouped.setdefault(vm.dep_id, []).append(vm)
        for vms in grouped.values():
            vms.sort(key=lambda v: (v.group, v.index))
        return grouped

    def find_vm(self, name: str) -> VmRecord | None:
        """A VM by generated name (or by VM id)."""
        vms = self._ctx.state.vms
        return vms.get(name) or next((v for v in vms.values() if v.name == name), None)

    def is_busy(self, dep_id: str) -> bool:
        """Whether an operation runs on the deployment."""
        return dep_id in self._busy

    def busy_with(self, dep_id: str) -> str | None:
        """The operation running on the deployment (e.g. ``"STOP"``, ``"DEPLOY"``), if any."""
        work = self._busy.get(dep_id)
        return work.label if work else None

    def add_busy_check(self, fn: BusyCheck) -> None:
        """Let another part (the snapshot manager) keep deployments busy.

        ``fn(dep_id)`` returns a label such as ``"SNAPSHOT of VM [x]"`` while something outside the core
        must not be disturbed, else None.  Meanwhile actions, manual recovery and config updates of that
        deployment are refused with 409 naming the label, and the monitor starts no recovery; undeploy
        still goes ahead.  ``fn`` is called synchronously and must not block.
        """
        self._busy_checks.append(fn)

    def _held_by(self, dep_id: str) -> str | None:
        """What keeps the deployment busy: our operation, else the first busy check that answers."""
        work = self._busy.get(dep_id)
        if work is not None:
            return work.label
        return next((label for label in (fn(dep_id) for fn in self._busy_checks) if label is not None), None)

    def _occupied(self, dep_id: str) -> bool:
        return self._held_by(dep_id) is not None

    # ---- config changes ---------------------------------------------------------------------

    def check_update(self, tenant: str, old: DeploymentSpec | None, new: DeploymentSpec | None) -> None:
        """Refuse a config change of one deployment that the core cannot carry out; changes nothing.

        ``old``/``new`` are the deployment's spec before and after the commit (``None``: absent).  The core
        compares ``new`` with its own record, so replaying the whole running config at start-up
        (``old=None`` for every deployment) is harmless: an unchanged deployment is left alone.

        :raises InvalidRequest: the new spec is invalid (min above max, pool too small, bad depends_on).
        :raises StateConflict: the deployment is busy, stopped (for scaling), or still being undeployed.
        """
        if new is None:
            return
        validate_spec(tenant, new)
        dep = self.find_deployment(tenant, new.name)
        if dep is None:
            return
        where = f"Deployment [{tenant}/{new.name}]"
        if dep.state is ServiceState.UNDEPLOYING:
            raise StateConflict(f"{where} is still being undeployed; try again when it finishes.")
        if new == dep.spec:
            return
        self._refuse_if_busy(dep)
        restore.check_volume_swaps(self._ctx, dep, new)
        for group in new.vm_groups:
            count = len(jobs.members(self._ctx, dep, group.name))
            plan = plan_group(group, count)
            if (plan.scale_out or plan.scale_in) and dep.state is ServiceState.STOPPED:
                raise StateConflict(f"{where} is stopped; scaling vm_group [{group.name}] is not possible "
                                    f"until the service is started.")
            check_pool_capacity(where, group, count + plan.scale_out)

    def apply_update(self, tenant: str, old: DeploymentSpec | None, new: DeploymentSpec | None) -> None:
        """Start deploying, undeploying or updating a deployment; returns at once.

        :raises LifecycleError: as ``check_update``.
        """
        self.check_update(tenant, old, new)
        ctx = self._ctx
        if new is None:
            dep = self.find_deployment(tenant, old.name) if old is not None else None
            if dep is not None and dep.state is not ServiceState.UNDEPLOYING:
                self._start_undeploy(dep)
            return
        dep = self.find_deployment(tenant, new.name)
        if dep is None:
            dep = DeploymentRecord(new_id(), tenant, new.name, new, created=ctx.clock(), service_id=new_id())
            ctx.save_dep(dep)
            self._begin(dep, OpKind.DEPLOY)
        elif new != dep.spec:
            params = restore.swap_intent(dep, new)  # needs the old spec: before it is replaced
            dep.spec = new
            ctx.save_dep(dep)
            self._begin(dep, OpKind.UPDATE, params=params)

    def _start_undeploy(self, dep: DeploymentRecord) -> None:
        running = self._busy.pop(dep.dep_id, None)
        if running is not None:
            running.task.cancel()
            # Finish its record now, not when the task gets to handle the cancellation: a restart in between
            # would otherwise find both operations and resume both.
            self._finish(running.op)
            if running.op.kind == OpKind.RECOVERY.value:
                self._recovery_cancelled(dep, running.op, "undeploy", fail=False)
        self._ctx.service_to(dep, ServiceTrigger.UNDEPLOY)
        self._begin(dep, OpKind.UNDEPLOY, after=running.task if running else None)

    # ---- tenants ----------------------------------------------------------------------------

    def create_tenant(self, name: str, *, managed: bool = True) -> None:
        """A tenant was configured: create it (its VIM project, unless ``managed`` is false), then
        CREATE_TENANT; returns at once.  Already known: nothing happens."""
        if name in self._ctx.state.tenants:
            return
        self._tenant_task(tenants.create(self._ctx, name, managed), f"esc-tenant-create-{name}")

    def delete_tenant(self, name: str) -> None:
        """A tenant left the config: once its deployments are undeployed, delete its VIM project (if ESC
        created it) and forget it, then DELETE_TENANT; returns at once."""
        self._tenant_task(tenants.delete(self._ctx, name, self._wait_tenant_idle), f"esc-tenant-delete-{name}")

    def _tenant_task(self, work: Coroutine[None, None, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._in_turn(work), name=name)
        self._tenant_tasks.add(task)
        task.add_done_callback(self._tenant_tasks.discard)

    async def _in_turn(self, work: Coroutine[None, None, None]) -> None:
        try:
            async with self._tenant_slots:
                await work
        finally:
            work.close()  # cancelled while waiting for its turn: it never started, and must not warn so

    async def _wait_tenant_idle(self, name: str) -> None:
        while busy := [self._busy[d.dep_id].task for d in self.deployments(name) if d.dep_id in self._busy]:
            await asyncio.gather(*busy, return_exceptions=True)

    # ---- RPCs -------------------------------------------------------------------------------

    def service_action(self, tenant: str, deployment: str, action: ActionType, *,
                       transaction_id: str | None = None) -> None:
        """``serviceAction``: validate, apply the first transition, start the work; returns at once, with
        what it changed durable (an accepted request survives a crash).

        ``transaction_id`` (from a REST request) is carried by every event the operation publishes.

        :raises NotFound: no such deployment.
        :raises StateConflict: busy, or the action does not apply in the current state.
        """
        try:
            self._service_action(tenant, deployment, action, transaction_id=transaction_id)
        finally:
            self._ctx.commit.flush()

    def vm_action(self, vm_name: str, action: ActionType, force: bool = False, *,
                  transaction_id: str | None = None) -> None:
        """``vmAction`` on one VM; stopping below the group's ``min_active`` needs ``force``.  Returns at
        once, with what it changed durable.

        ``transaction_id`` (from a REST request) is carried by every event the operation publishes.

        :raises NotFound: no such VM.
        :raises StateConflict: busy, the service is stopped, or the action does not apply to the VM's state.
        """
        try:
            self._vm_action(vm_name, action, force, transaction_id=transaction_id)
        finally:
            self._ctx.commit.flush()

    def recovery_vm_action(self, vm_name: str) -> None:
        """``recoveryVmAction DO``: recover one VM by hand (reboot, else redeploy from the current spec).
        Returns at once, with what it changed durable.

        :raises NotFound: no such VM.
        :raises StateConflict: busy, the service is stopped, or the VM's state forbids recovery.
        """
        try:
            self._recovery_vm_action(vm_name)
        finally:
            self._ctx.commit.flush()

    def _service_action(self, tenant: str, deployment: str, action: ActionType, *,
                       transaction_id: str | None = None) -> None:
        """The body of ``service_action`` (which makes its writes durable)."""
        dep = self.find_deployment(tenant, deployment)
        if dep is None:
            raise NotFound(f"Deployment [{tenant}/{deployment}] not found.")
        ctx = self._ctx
        if action is ActionType.DISABLE_MONITOR and self._recovering(dep) is not None:
            with _transaction(ctx, dep, transaction_id):
                self._cancel_recovery(dep, "DISABLE_MONITOR")
                vms = [vm for vm in ctx.vms_of(dep.dep_id) if vm.state is VmState.ALIVE]
                operations.set_monitoring(ctx, dep, vms, False)
                ctx.service_event(dep, EventType.SERVICE_MONITOR_UNSET, "Service group unset monitor successfully")
            return
        self._refuse_if_busy(dep)
        if action in (ActionType.ENABLE_MONITOR, ActionType.DISABLE_MONITOR):
            enable = action is ActionType.ENABLE_MONITOR
            wanted = VmState.MONITOR_DISABLED if enable else VmState.ALIVE
            vms = [vm for vm in ctx.vms_of(dep.dep_id) if vm.state is wanted]
            if dep.state is not ServiceState.ACTIVE or not vms:
                raise StateConflict(f"Service [{dep.name}] has no VM whose monitoring can be "
                                    f"{'enabled' if enable else 'disabled'} in {dep.state.value}.")
            with _transaction(ctx, dep, transaction_id):
                operations.set_monitoring(ctx, dep, vms, enable)
                if enable:  # ESC ends an ENABLE_MONITOR with SERVICE_ALIVE
                    ctx.service_event(dep, EventType.SERVICE_ALIVE, "Service group set monitor successfully")
                else:
                    ctx.service_event(dep, EventType.SERVICE_MONITOR_UNSET, "Service group unset monitor successfully")
            return
        trigger = {ActionType.START: ServiceTrigger.START, ActionType.STOP: ServiceTrigger.STOP,
                   ActionType.REBOOT: ServiceTrigger.REBOOT}[action]
        try:
            service_transition(dep.state, trigger)
        except IllegalTransition:
            raise StateConflict(_service_refusal(dep, action)) from None
        ctx.service_to(dep, trigger)
        self._begin(dep, OpKind.SERVICE_ACTION, params=_params(action, transaction_id))

    def _vm_action(self, vm_name: str, action: ActionType, force: bool = False, *,
                  transaction_id: str | None = None) -> None:
        """The body of ``vm_action`` (which makes its writes durable)."""
        vm, dep = self._vm_and_dep(vm_name)
        recovery = self._recovering(dep)
        if action is ActionType.DISABLE_MONITOR and recovery is not None and vm.vm_id in _recovery_vms(recovery.op):
            with _transaction(self._ctx, dep, transaction_id):
                self._cancel_recovery(dep, "DISABLE_MONITOR")
            return
        self._refuse_if_busy(dep)
        if dep.state in (ServiceState.STOPPED, ServiceState.UNDEPLOYING):
            raise StateConflict(f"Service [{dep.name}] is in {dep.state.value}; VM [{vm.name}] cannot be "
                                f"changed on its own (start the service first).")
        trigger = {ActionType.START: VmTrigger.START, ActionType.STOP: VmTrigger.STOP,
                   ActionType.REBOOT: VmTrigger.REBOOT, ActionType.ENABLE_MONITOR: VmTrigger.ENABLE_MONITOR,
                   ActionType.DISABLE_MONITOR: VmTrigger.DISABLE_MONITOR}[action]
        try:
            vm_transition(vm.state, trigger)
        except IllegalTransition:
            raise StateConflict(f"VM [{vm.name}] is in {vm.state.value}; {action.value} does not apply.") from None
        if action is ActionType.STOP and not force:
            group = dep.spec.group(vm.group)
            running = [v for v in self._ctx.vms_of(dep.dep_id, vm.group) if v.state in ACTIVE_VM_STATES]
            minimum = group.scaling.min_active if group else 0
            if len(running) - 1 < minimum:
                raise StateConflict(f"Stopping VM [{vm.name}] would leave vm_group [{vm.group}] with "
                                    f"{len(running) - 1} running VM(s), below min_active {minimum}; "
                                    f"use force to stop it anyway.")
        if action in (ActionType.ENABLE_MONITOR, ActionType.DISABLE_MONITOR):
            with _transaction(self._ctx, dep, transaction_id):
                operations.set_monitoring(self._ctx, dep, [vm], action is ActionType.ENABLE_MONITOR)
            return
        operations.begin_vm_action(self._ctx, vm, action.value)
        self._begin(dep, OpKind.VM_ACTION, vm_id=vm.vm_id, params=_params(action, transaction_id))

    def _recovery_vm_action(self, vm_name: str) -> None:
        """The body of ``recovery_vm_action`` (which makes its writes durable)."""
        vm, dep = self._vm_and_dep(vm_name)
        self._refuse_if_busy(dep)
        if dep.state not in (ServiceState.ACTIVE, ServiceState.ERROR):
            raise StateConflict(f"Service [{dep.name}] is in {dep.state.value}; recovery is not possible.")
        try:
            vm_transition(vm.state, VmTrigger.RECOVER)
        except IllegalTransition:
            raise StateConflict(f"VM [{vm.name}] is in {vm.state.value}; it cannot be recovered.") from None
        self._start_recovery(dep, [vm.vm_id])

    # ---- helpers ----------------------------------------------------------------------------

    def _vm_and_dep(self, vm_name: str) -> tuple[VmRecord, DeploymentRecord]:
        vm = self.find_vm(vm_name)
        dep = self._ctx.state.deployments.get(vm.dep_id) if vm else None
        if vm is None or dep is None:
            raise NotFound(f"VM [{vm_name}] not found.")
        return vm, dep

    def _recovering(self, dep: DeploymentRecord) -> _Work | None:
        """The recovery running on the deployment, if that is what runs."""
        work = self._busy.get(dep.dep_id)
        return work if work is not None and work.op.kind == OpKind.RECOVERY.value else None

    def _cancel_recovery(self, dep: DeploymentRecord, reason: str) -> None:
        """Stop the recovery running on ``dep`` (a DISABLE_MONITOR asked for it): its VMs not yet recovered
        go to VM_ERROR_STATE with monitoring off, each with VM_RECOVERY_CANCELLED."""
        work = self._busy.pop(dep.dep_id)
        work.task.cancel()
        self._finish(work.op)
        self._recovery_cancelled(dep, work.op, reason, fail=True)

    def _recovery_cancelled(self, dep: DeploymentRecord, op: OperationRecord, reason: str, *, fail: bool) -> None:
        ctx = self._ctx
        for vm_id in _recovery_vms(op):
            vm = ctx.state.vms.get(vm_id)
            if vm is None or vm.state is VmState.ALIVE:
                continue  # gone, or recovered already
            before, vm.recovery_source = vm.recovery_source, None
            vm.monitored = False
            if fail and vm.state is not VmState.ERROR:  # an undeploy moves the VM on itself
                ctx.vm_to(vm, VmTrigger.FAIL, f"recovery cancelled by {reason}, monitoring unset")
            else:
                vm.remember(ctx.clock(), f"recovery cancelled by {reason}")
                ctx.save_vm(vm)
            ctx.vm_event(dep, vm, EventType.VM_RECOVERY_CANCELLED,
                         f"Recovery of VM [{vm.name}] cancelled by {reason}.", before=before)

    def _refuse_if_busy(self, dep: DeploymentRecord) -> None:
        label = self._held_by(dep.dep_id)
        if label is not None:
            raise StateConflict(f"Deployment [{dep.tenant}/{dep.name}] is busy with {label}; "
                                f"try again when it finishes.")

    def _start_recovery(self, dep: DeploymentRecord, vm_ids: list[str]) -> None:
        if self._occupied(dep.dep_id):
            return
        self._begin(dep, OpKind.RECOVERY, params={"vms": ",".join(vm_ids)})

    def _start_scale(self, dep: DeploymentRecord, group_name: str, delta: int) -> None:
        """A KPI rule asks for one VM more or less: only in an ACTIVE, idle deployment, an elastic group, and
        within min_active..max_active (else logged and dropped, as ESC does)."""
        group = dep.spec.group(group_name)
        if group is None or dep.state is not ServiceState.ACTIVE or self._occupied(dep.dep_id):
            return
        size = len(jobs.members(self._ctx, dep, group_name))
        limit = group.scaling.max_active if delta > 0 else group.scaling.min_active
        if not group.scaling.elastic or size == limit:
            log.info("KPI scaling of %s/%s group %s not done: elastic=%s, %d VMs, limit %d", dep.tenant, dep.name,
                     group_name, group.scaling.elastic, size, limit)
            return
        self._begin(dep, OpKind.KPI_SCALE, params={"group": group_name, "delta": str(delta)})

    def _begin(self, dep: DeploymentRecord, kind: OpKind, *, vm_id: str | None = None,
               params: dict[str, str] | None = None, after: asyncio.Task[None] | None = None) -> None:
        op = OperationRecord(new_id(), kind.value, dep.tenant, dep.dep_id, vm_id, dict(params or {}),
                             self._ctx.clock())
        self._ctx.state.operations[op.op_id] = op
        self._ctx.store.save_operation(op)
        self._launch(dep, op, self._workflow(dep, op), after)

    def _workflow(self, dep: DeploymentRecord, op: OperationRecord, *,
                  resumed: bool = False) -> Callable[[], Awaitable[None]]:
        """The coroutine function that carries ``op`` out (``resumed``: found in the store at start-up)."""
        ctx = self._ctx
        kind = OpKind(op.kind)
        if resumed and _concluded(ctx, dep, op):
            return _nothing
        if kind is OpKind.RECOVERY and resumed:  # VMs recovered before the process died are left alone
            vm_ids = [i for i in op.params["vms"].split(",") if i in ctx.state.vms
                      and not _recovered_since(ctx.state.vms[i], op)]
            return lambda: recovery.recover(ctx, dep, vm_ids)
        if kind is OpKind.SERVICE_ACTION:
            run = {"START": operations.start_service, "STOP": operations.stop_service,
                   "REBOOT": operations.reboot_service}[op.params["action"]]
            return lambda: run(ctx, dep)
        if kind is OpKind.VM_ACTION:
            vm = ctx.state.vms.get(op.vm_id or "")
            if vm is None:
                return _nothing
            return lambda: operations.run_vm_action(ctx, dep, vm, op.params["action"])
        if kind is OpKind.RECOVERY:
            return lambda: recovery.recover(ctx, dep, op.params["vms"].split(","))
        if kind is OpKind.UPDATE:
            return lambda: deploy.update(ctx, dep, op)
        if kind is OpKind.KPI_SCALE:  # resumed: finish the VMs it had begun, add or remove none
            delta = 0 if resumed else int(op.params["delta"])
            return lambda: deploy.scale_group(ctx, dep, op.params["group"], delta)
        simple = {OpKind.DEPLOY: deploy.deploy, OpKind.UNDEPLOY: deploy.undeploy}
        return lambda: simple[kind](ctx, dep)

    def _finish(self, op: OperationRecord) -> None:
        self._ctx.state.operations.pop(op.op_id, None)
        self._ctx.store.finish_operation(op.op_id)

    def _launch(self, dep: DeploymentRecord, op: OperationRecord, workflow: Callable[[], Awaitable[None]],
                after: asyncio.Task[None] | None = None) -> None:
        transaction = op.params.get("transaction_id")

        async def run() -> None:
            if after is not None:
                await asyncio.gather(after, return_exceptions=True)
            try:
                with _transaction(self._ctx, dep, transaction):
                    try:
                        await self._ctx.start_pacer.turn()  # a batch of deployments starts a slice per loop turn
                        await workflow()
                    except Exception as exc:  # not a VIM failure: workflows report those themselves
                        log.exception("%s on deployment %s/%s failed", op.kind, dep.tenant, dep.name)
                        _report_crash(self._ctx, dep, op, exc)
            except asyncio.CancelledError:
                if not self._stopping:  # interrupted by undeploy; on shutdown the record stays for resume
                    self._finish(op)
                raise
            except Exception:
                log.exception("reporting the failure of %s on deployment %s/%s failed", op.kind, dep.tenant,
                              dep.name)
            finally:
                if self._busy.get(dep.dep_id) is work:
                    del self._busy[dep.dep_id]
            self._finish(op)

        task = asyncio.get_running_loop().create_task(run(), name=f"esc-{op.kind}-{dep.name}")
        work = _Work(op, task)
        self._busy[dep.dep_id] = work


async def _nothing() -> None:
    return None


def _resumable(ops: Sequence[OperationRecord]) -> OperationRecord:
    """The one operation of a deployment to resume: its UNDEPLOY (which overrides all else), else the latest."""
    undeploy = next((op for op in ops if op.kind == OpKind.UNDEPLOY.value), None)
    if undeploy is not None:
        return undeploy
    return max(ops, key=lambda op: op.started.timestamp() if op.started else 0.0)


def _concluded(ctx: CoreContext, dep: DeploymentRecord, op: OperationRecord) -> bool:
    """Whether a recorded operation had already ended when the process died (only its record remained).

    Every service operation is recorded after its first transition, so a deployment outside the
    operation's working state means the operation got past its last transition; a VM action is over when
    its VM reached the action's target.  Running such a workflow again would attempt a transition that
    no longer applies (e.g. ALIVE from ACTIVE).
    """
    action = op.params.get("action", "")
    working = _WORKING_SERVICE.get((op.kind, action if op.kind == OpKind.SERVICE_ACTION.value else ""))
    if working is not None:
        return dep.state not in working
    if op.kind == OpKind.VM_ACTION.value:
        vm = ctx.state.vms.get(op.vm_id or "")
        return vm is not None and vm.state is _VM_TARGET.get(action)
    return False


def _recovered_since(vm: VmRecord, op: OperationRecord) -> bool:
    """Whether the VM is ALIVE again through this recovery (not merely ALIVE, as a VM whose manual recovery
    was recorded but had not begun)."""
    if vm.state is not VmState.ALIVE:
        return False
    return any(entry.type.startswith(recovery.RECOVERED) and (op.started is None or entry.time >= op.started)
               for entry in vm.history)


def _report_crash(ctx: CoreContext, dep: DeploymentRecord, op: OperationRecord, exc: Exception) -> None:
    """End an operation that raised something other than a VIM failure as the workflow would have ended it
    on a VIM failure: FAIL where legal (its VMs still in flight, then the service), and its final event."""
    message = f"Internal error: {exc}"
    kind = OpKind(op.kind)
    action = op.params.get("action", "") if kind in (OpKind.SERVICE_ACTION, OpKind.VM_ACTION) else ""
    final = _FINAL_EVENT[(op.kind, action)]
    if kind is OpKind.VM_ACTION:
        vms = [ctx.state.vms[op.vm_id]] if op.vm_id in ctx.state.vms else []
    elif kind is OpKind.RECOVERY:
        vms = [ctx.state.vms[i] for i in op.params.get("vms", "").split(",") if i in ctx.state.vms]
    else:
        vms = ctx.vms_of(dep.dep_id)
    failed = []
    for vm in vms:
        if vm.state in _IN_FLIGHT:
            ctx.vm_to(vm, VmTrigger.FAIL, f"failed: {message}")
            failed.append(vm)
    if kind is OpKind.VM_ACTION or kind is OpKind.RECOVERY:
        for vm in failed or vms:
            ctx.vm_event(dep, vm, final, message, ok=False)
        if kind is OpKind.RECOVERY and dep.state is ServiceState.ACTIVE:
            ctx.service_to(dep, ServiceTrigger.FAIL)
        return
    if dep.dep_id in ctx.state.deployments:
        try:
            ctx.service_to(dep, ServiceTrigger.FAIL)
        except IllegalTransition:
            pass  # e.g. an update of a stopped service: the state stays, the event still says FAILURE
    ctx.service_event(dep, final, message, ok=False)


def _recovery_vms(op: OperationRecord) -> list[str]:
    """The VM ids a RECOVERY operation works on."""
    return [i for i in op.params.get("vms", "").split(",") if i]


def _params(action: ActionType, transaction_id: str | None) -> dict[str, str]:
    params = {"action": action.value}
    if transaction_id is not None:
        params["transaction_id"] = transaction_id
    return params


@contextmanager
def _transaction(ctx: CoreContext, dep: DeploymentRecord, transaction_id: str | None) -> Iterator[None]:
    """Stamp the events published about ``dep`` meanwhile with ``transaction_id`` (or with none)."""
    if transaction_id is None:
        ctx.transactions.pop(dep.dep_id, None)
    else:
        ctx.transactions[dep.dep_id] = transaction_id
    try:
        yield
    finally:
        if ctx.transactions.get(dep.dep_id) == transaction_id:
            ctx.transactions.pop(dep.dep_id, None)


def _service_refusal(dep: DeploymentRecord, action: ActionType) -> str:
    if action is ActionType.START and dep.state is ServiceState.ACTIVE:
        return f"Service [{dep.name}] is already running; START applies to a stopped service."
    if dep.state is ServiceState.STOPPED:
        return f"Service [{dep.name}] is stopped; only START or undeploy apply to a stopped service."
    return f"Service [{dep.name}] is in {dep.state.value}; {action.value} does not apply."
