"""``EscCore``: the one object adapters talk to.

Theory of operation
-------------------
Requests are validated *synchronously* (``check_update``, ``service_action``, ``vm_action``,
``recovery_vm_action``): a refusal raises a ``LifecycleError`` and nothing has changed.  An accepted request
applies its first transition at once (so opdata shows e.g. SERVICE_STOPPING_STATE immediately), records an
``OperationRecord`` (work in flight) and starts an asyncio task; the method returns while the work goes on
and reports through the ``EventBus``.

A deployment runs at most one operation at a time (``busy``): a second request is refused with 409 naming
the operation in progress.  The single exception is undeploy (deleting the deployment from the config): it
cancels whatever runs (a start, a reboot, a deploy...) and takes over.  On ``start()`` every operation
still recorded is resumed by running its workflow again; workflows converge from the persisted records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from uuid import uuid4

from esc_netconf.core import deploy, operations, recovery, restore
from esc_netconf.core.context import Clock, CoreContext, CoreSettings, utc_now
from esc_netconf.core.errors import IllegalTransition, NotFound, StateConflict
from esc_netconf.core.events import EventBus, EventType
from esc_netconf.core.model import DeploymentRecord, DeploymentSpec, OperationRecord, TenantRecord, VmRecord
from esc_netconf.core.monitor import Monitor
from esc_netconf.core.planning import check_pool_capacity, plan_group, validate_spec
from esc_netconf.core.states import (ACTIVE_VM_STATES, ActionType, ServiceState, ServiceTrigger, VmState, VmTrigger,
                                     service_transition, vm_transition)
from esc_netconf.core.store import Store
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
                 settings: CoreSettings | None = None) -> None:
        self._ctx = CoreContext(driver, store, bus, clock, settings or CoreSettings())
        self._busy: dict[str, _Work] = {}
        self._monitor = Monitor(self._ctx, self.is_busy, self._start_recovery)
        self._monitor_task: asyncio.Task[None] | None = None
        self._stopping = False

    # ---- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the records, resume the work in flight, start the monitor."""
        ctx = self._ctx
        ctx.state = ctx.store.load()
        for op in list(ctx.state.operations.values()):
            dep = ctx.state.deployments.get(op.dep_id)
            if dep is None:
                ctx.store.finish_operation(op.op_id)
                continue
            self._launch(dep, op, self._workflow(dep, op))
        self._monitor_task = asyncio.get_running_loop().create_task(self._monitor.run(), name="esc-monitor")

    async def stop(self) -> None:
        """Cancel the monitor and every task; records keep the work in flight for the next start."""
        self._stopping = True
        tasks = [w.task for w in self._busy.values()]
        if self._monitor_task is not None:
            tasks.append(self._monitor_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._ctx.poller.close()

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no operation is running (for tests and orderly shutdown).

        :raises TimeoutError: still busy after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self._busy:
                await asyncio.gather(*(w.task for w in list(self._busy.values())), return_exceptions=True)

    async def monitor_once(self) -> None:
        """Run one monitor pass now (the loop runs one every ``monitor_interval``)."""
        await self._monitor.check_once()

    # ---- queries ----------------------------------------------------------------------------

    def tenants(self) -> list[TenantRecord]:
        """Tenants known to the core (those that ever had a deployment)."""
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
        return next((d for d in deps.values() if d.tenant == tenant and d.name == name_or_id), None)

    def vms(self, dep_id: str) -> list[VmRecord]:
        """The VMs of a deployment, by group then index."""
        return self._ctx.vms_of(dep_id)

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
            count = len(deploy.members(self._ctx, dep, group.name))
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
            dep = DeploymentRecord(str(uuid4()), tenant, new.name, new, created=ctx.clock())
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
        self._ctx.service_to(dep, ServiceTrigger.UNDEPLOY)
        self._begin(dep, OpKind.UNDEPLOY, after=running.task if running else None)

    # ---- RPCs -------------------------------------------------------------------------------

    def service_action(self, tenant: str, deployment: str, action: ActionType, *,
                       transaction_id: str | None = None) -> None:
        """``serviceAction``: validate, apply the first transition, start the work; returns at once.

        ``transaction_id`` (from a REST request) is carried by every event the operation publishes.

        :raises NotFound: no such deployment.
        :raises StateConflict: busy, or the action does not apply in the current state.
        """
        dep = self.find_deployment(tenant, deployment)
        if dep is None:
            raise NotFound(f"Deployment [{tenant}/{deployment}] not found.")
        self._refuse_if_busy(dep)
        ctx = self._ctx
        if action in (ActionType.ENABLE_MONITOR, ActionType.DISABLE_MONITOR):
            enable = action is ActionType.ENABLE_MONITOR
            wanted = VmState.MONITOR_DISABLED if enable else VmState.ALIVE
            vms = [vm for vm in ctx.vms_of(dep.dep_id) if vm.state is wanted]
            if dep.state is not ServiceState.ACTIVE or not vms:
                raise StateConflict(f"Service [{dep.name}] has no VM whose monitoring can be "
                                    f"{'enabled' if enable else 'disabled'} in {dep.state.value}.")
            with _transaction(ctx, dep, transaction_id):
                operations.set_monitoring(ctx, dep, vms, enable)
                ctx.service_event(dep, EventType.SERVICE_MONITOR_SET if enable else EventType.SERVICE_MONITOR_UNSET,
                                  f"Service monitoring {'enabled' if enable else 'disabled'}.")
            return
        trigger = {ActionType.START: ServiceTrigger.START, ActionType.STOP: ServiceTrigger.STOP,
                   ActionType.REBOOT: ServiceTrigger.REBOOT}[action]
        try:
            service_transition(dep.state, trigger)
        except IllegalTransition:
            raise StateConflict(_service_refusal(dep, action)) from None
        ctx.service_to(dep, trigger)
        self._begin(dep, OpKind.SERVICE_ACTION, params=_params(action, transaction_id))

    def vm_action(self, vm_name: str, action: ActionType, force: bool = False, *,
                  transaction_id: str | None = None) -> None:
        """``vmAction`` on one VM; stopping below the group's ``min_active`` needs ``force``.

        ``transaction_id`` (from a REST request) is carried by every event the operation publishes.

        :raises NotFound: no such VM.
        :raises StateConflict: busy, the service is stopped, or the action does not apply to the VM's state.
        """
        vm, dep = self._vm_and_dep(vm_name)
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
        self._begin(dep, OpKind.VM_ACTION, vm_id=vm.vm_id, params=_params(action, transaction_id))

    def recovery_vm_action(self, vm_name: str) -> None:
        """``recoveryVmAction DO``: recover one VM by hand (reboot, else redeploy from the current spec).

        :raises NotFound: no such VM.
        :raises StateConflict: busy, the service is stopped, or the VM's state forbids recovery.
        """
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

    def _refuse_if_busy(self, dep: DeploymentRecord) -> None:
        work = self._busy.get(dep.dep_id)
        if work is not None:
            raise StateConflict(f"Deployment [{dep.tenant}/{dep.name}] is busy with {work.label}; "
                                f"try again when it finishes.")

    def _start_recovery(self, dep: DeploymentRecord, vm_ids: list[str]) -> None:
        if self.is_busy(dep.dep_id):
            return
        self._begin(dep, OpKind.RECOVERY, params={"vms": ",".join(vm_ids)})

    def _begin(self, dep: DeploymentRecord, kind: OpKind, *, vm_id: str | None = None,
               params: dict[str, str] | None = None, after: asyncio.Task[None] | None = None) -> None:
        op = OperationRecord(str(uuid4()), kind.value, dep.tenant, dep.dep_id, vm_id, dict(params or {}),
                             self._ctx.clock())
        self._ctx.state.operations[op.op_id] = op
        self._ctx.store.save_operation(op)
        self._launch(dep, op, self._workflow(dep, op), after)

    def _workflow(self, dep: DeploymentRecord, op: OperationRecord) -> Callable[[], Awaitable[None]]:
        ctx = self._ctx
        kind = OpKind(op.kind)
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
                    await workflow()
            except asyncio.CancelledError:
                if not self._stopping:  # interrupted by undeploy; on shutdown the record stays for resume
                    self._finish(op)
                raise
            except Exception:
                log.exception("%s on deployment %s/%s failed", op.kind, dep.tenant, dep.name)
            finally:
                if self._busy.get(dep.dep_id) is work:
                    del self._busy[dep.dep_id]
            self._finish(op)

        task = asyncio.get_running_loop().create_task(run(), name=f"esc-{op.kind}-{dep.name}")
        work = _Work(op, task)
        self._busy[dep.dep_id] = work


async def _nothing() -> None:
    return None


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
