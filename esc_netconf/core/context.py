"""What every workflow shares: records, driver, store, bus, clock, settings.

A workflow changes a record only through ``CoreContext``: ``vm_to``/``service_to`` apply a transition from
``states`` (raising ``IllegalTransition`` before anything changes), persist the record and, when asked,
publish the event that goes with it.  Keeping "change, persist, announce" in one place is what makes the
store a faithful copy of memory at every ``await``, which a restart after ``kill -9`` relies on.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Collection
from typing import Callable

from esc_netconf.core.collectors import AliveWatch, alive_kpi
from esc_netconf.core.day0.fetch import TemplateFetcher
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.groupcommit import GroupCommit, gated_driver
from esc_netconf.core.events import EscEvent, EventBus, EventInterface, EventStatus, EventType, VmSource, VmTarget
from esc_netconf.core.pacing import Pacer
from esc_netconf.core.model import (CoreState, DeploymentRecord, ServerFacts, TenantRecord, VmGroupSpec, VmInterface,
                                    VmRecord)
from esc_netconf.core.poller import ServerPoller
from esc_netconf.core.states import ServiceTrigger, VmTrigger, service_transition, vm_transition
from esc_netconf.core.store import Store
from esc_netconf.vim.base import Subnet, VimDriver, VimError, VimNotFound

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """Tunables of the core; tests shrink the intervals.

    ``poll_interval``: how often waiting workflows list servers; ``monitor_interval``: how often the monitor
    checks monitored VMs; ``delete_timeout``: how long a server may take to disappear.
    """

    poll_interval: float = 2.0
    monitor_interval: float = 10.0
    delete_timeout: float = 300.0
    vim_id: str = "default_openstack_vim"


class CoreContext:
    """Shared state of one ``EscCore``; only the core's event loop touches it."""

    def __init__(self, driver: VimDriver, store: Store, bus: EventBus, clock: Clock,
                 settings: CoreSettings, fetcher: TemplateFetcher | None = None) -> None:
        #: Lets tasks that became ready together go on a slice per loop turn (``core.pacing``): VM steps, the
        #: waiters of a commit or of a server listing.
        self.pacer = Pacer()
        #: The same for deployments beginning their workflow, in a pacer of their own: a start costs 10-20
        #: times a VM step (0.5-0.9 ms on the shared 2-core machine), and in the one pacer the slice grew on
        #: the cheap steps, then let 32 starts go in one loop turn of 27-30 ms.
        self.start_pacer = Pacer()
        #: Writes of one loop turn are committed together; events and VIM changes wait for them.
        self.commit = GroupCommit(store, on_durable=bus.release, pacer=self.pacer)
        bus.gate(lambda: self.commit.written, lambda: self.commit.durable_upto, journal=self.commit)
        self.driver = gated_driver(driver, self.commit)
        #: Reads day-0 templates named by URL (None: a ``file`` template fails the VM's deployment).
        self.fetcher = fetcher
        self.store: Store = self.commit
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self._by_dep: dict[str, dict[str, VmRecord]] = {}
        self._by_name: dict[tuple[str, str], DeploymentRecord] = {}
        self.state = CoreState()
        self.poller = ServerPoller(driver, settings.poll_interval, pacer=self.pacer)
        #: VMs whose intent was recorded by this process and not yet sent to the VIM: no server can exist
        #: for them, so looking one up by name (needed after a restart) is skipped.
        self.fresh: set[str] = set()
        #: The transaction id (given by a REST request) of the operation running on each deployment: every
        #: event published about the deployment while it runs carries it, so callbacks can be routed.
        self.transactions: dict[str, str] = {}
        self._tenant_creations: dict[str, asyncio.Future[TenantRecord]] = {}
        self._subnets: dict[tuple[str, str], Subnet] = {}
        #: Waits for a VM_ALIVE KPI (the monitoring scheduler); None: VIM ACTIVE counts as alive.
        self.alive_watch: AliveWatch | None = None

    async def kpi_alive(self, vm: VmRecord, group: VmGroupSpec, timeout: float) -> bool:
        """Whether the VM's VM_ALIVE KPI (if the group has one and monitoring runs) was met within ``timeout``."""
        kpi = alive_kpi(group)
        if kpi is None or self.alive_watch is None:
            return True
        return await self.alive_watch.wait_alive(vm, kpi, timeout)

    @property
    def state(self) -> CoreState:
        """The records; change ``state.vms`` only through ``save_vm``/``forget_vm`` (they keep the index)."""
        return self._state

    @state.setter
    def state(self, state: CoreState) -> None:
        self._state = state
        self._by_dep = {}
        for vm in state.vms.values():
            self._by_dep.setdefault(vm.dep_id, {})[vm.vm_id] = vm
        self._by_name = {}
        for dep in state.deployments.values():
            self._by_name.setdefault((dep.tenant, dep.name), dep)

    # ---- lookups ----------------------------------------------------------------------------

    def vms_of(self, dep_id: str, group: str | None = None) -> list[VmRecord]:
        """The VMs of a deployment (of one group), by group then index.

        Read from an index by deployment: a scan of every VM here made each VM step O(all VMs), and a
        deploy of thousands of VMs quadratic.
        """
        vms = [v for v in self._by_dep.get(dep_id, {}).values() if group is None or v.group == group]
        return sorted(vms, key=lambda v: (v.group, v.index))

    def vms_unordered(self, dep_id: str) -> Collection[VmRecord]:
        """The VMs of a deployment in no particular order, without the copy and sort of ``vms_of`` (for
        the passes over every deployment that run every second); do not save or forget VMs meanwhile."""
        return self._by_dep.get(dep_id, {}).values()

    def deployment_named(self, tenant: str, name: str) -> DeploymentRecord | None:
        """The tenant's deployment called ``name``, from an index by name: a scan here made every
        deployment of a bulk edit O(all deployments), and the edit's commit quadratic."""
        return self._by_name.get((tenant, name))

    def project_id(self, tenant: str) -> str | None:
        record = self.state.tenants.get(tenant)
        return record.project_id if record else None

    async def ensure_tenant(self, tenant: str, *, managed: bool = True) -> TenantRecord:
        """The tenant's record, creating it (and its VIM project) the first time, with CREATE_TENANT.

        Concurrent callers (a tenant created by config while one of its deployments starts) share one
        creation, so the project is made and the event sent once.  ``managed`` false: the project named
        after the tenant must exist already and is not ESC's to create or delete.

        :raises VimOperationFailed: the VIM refused or failed (e.g. Keystone unreachable, or an unmanaged
            tenant's project does not exist); CREATE_TENANT FAILURE was published and workflows report it
            like any other VIM failure.
        """
        record = self.state.tenants.get(tenant)
        if record is not None:
            return record
        pending = self._tenant_creations.get(tenant)
        if pending is None:
            pending = asyncio.ensure_future(self._create_tenant(tenant, managed))
            self._tenant_creations[tenant] = pending
            pending.add_done_callback(lambda _: self._tenant_creations.pop(tenant, None))
        return await asyncio.shield(pending)

    async def _create_tenant(self, tenant: str, managed: bool) -> TenantRecord:
        try:
            if managed:
                project = await self.driver.ensure_project(tenant)
            else:
                project = await self.driver.get_project(tenant)
        except VimError as exc:
            message = (f"Tenant [{tenant}] is not managed by ESC and VIM project [{tenant}] does not exist."
                       if isinstance(exc, VimNotFound) and not managed else exc.message)
            self.tenant_event(tenant, None, EventType.CREATE_TENANT, message, ok=False)
            raise VimOperationFailed(message) from exc
        record = TenantRecord(tenant, project.id, self.settings.vim_id, vim_project=project.name, managed=managed)
        self.state.tenants[tenant] = record
        self.store.save_tenant(record)
        self.tenant_event(tenant, project.id, EventType.CREATE_TENANT, "Tenant successfully created")
        return record

    async def subnet(self, network_id: str, subnet_id: str) -> Subnet | None:
        """The VIM subnet (cidr, gateway) of a NIC, cached: subnets do not change under a running VM."""
        key = (network_id, subnet_id)
        if key not in self._subnets:
            try:
                network = await self.driver.get_network(network_id)
            except VimError:
                return None  # the address facts are informative: a VIM hiccup must not fail a workflow
            for sub in network.subnets:
                self._subnets[(network_id, sub.id)] = sub
        return self._subnets.get(key)

    # ---- changes ----------------------------------------------------------------------------

    def save_vm(self, vm: VmRecord) -> None:
        self.state.vms[vm.vm_id] = vm
        self._by_dep.setdefault(vm.dep_id, {})[vm.vm_id] = vm
        self.store.save_vm(vm)

    def forget_vm(self, vm: VmRecord) -> None:
        self.state.vms.pop(vm.vm_id, None)
        self.fresh.discard(vm.vm_id)  # a VM undeployed before its server was asked for
        siblings = self._by_dep.get(vm.dep_id)
        if siblings is not None:
            siblings.pop(vm.vm_id, None)
            if not siblings:
                del self._by_dep[vm.dep_id]
        self.store.delete_vm(vm.vm_id)

    def save_dep(self, dep: DeploymentRecord) -> None:
        self.state.deployments[dep.dep_id] = dep
        known = self._by_name.get((dep.tenant, dep.name))
        if known is None or known.dep_id == dep.dep_id or known.dep_id not in self.state.deployments:
            self._by_name[(dep.tenant, dep.name)] = dep
        self.store.save_deployment(dep)

    def forget_dep(self, dep: DeploymentRecord) -> None:
        """The deployment is undeployed: forget it, its VMs and operations with it (in the store)."""
        self.state.deployments.pop(dep.dep_id, None)
        if self._by_name.get((dep.tenant, dep.name)) is dep:
            del self._by_name[(dep.tenant, dep.name)]
        self.store.delete_deployment(dep.dep_id)

    def vm_to(self, vm: VmRecord, trigger: VmTrigger, note: str | None = None) -> None:
        """Apply ``trigger`` to the VM, remember it in its history (``note``) and persist."""
        vm.state = vm_transition(vm.state, trigger)
        if note is not None:
            vm.remember(self.clock(), note)
        self.save_vm(vm)

    def service_to(self, dep: DeploymentRecord, trigger: ServiceTrigger) -> None:
        """Apply ``trigger`` to the deployment and persist."""
        dep.state = service_transition(dep.state, trigger)
        self.save_dep(dep)

    # ---- events -----------------------------------------------------------------------------

    def vm_event(self, dep: DeploymentRecord, vm: VmRecord, type_: EventType, message: str,
                 *, ok: bool = True, code: int = 200, before: ServerFacts | None = None) -> None:
        """Publish an event about one VM (failures carry FAILURE and 500).

        ``before``: the server the VM had before a recovery replaced it; it becomes ``vm_source`` and the
        VM as it is now becomes ``vm_target``.
        """
        tenant = self.state.tenants.get(dep.tenant)
        # the VM's own fields, not a copy of them (``vm.facts()``): the event's values are frozen copies already
        old: ServerFacts | VmRecord = before or vm
        source = VmSource(vmid=old.server_id, vmname=vm.name, generated_vmname=vm.name,
                          vim_id=self.settings.vim_id, vim_project=tenant.vim_project if tenant else dep.tenant,
                          vim_project_id=tenant.project_id if tenant else None,
                          hostid=old.host_id, hostname=old.hostname, interfaces=_event_interfaces(old.interfaces))
        target = None
        if before is not None:
            target = VmTarget(vmid=vm.server_id, hostid=vm.host_id, hostname=vm.hostname,
                              interfaces=_event_interfaces(vm.interfaces))
        self._publish(dep, type_, message, ok, code, vm.group, source, target)

    def service_event(self, dep: DeploymentRecord, type_: EventType, message: str,
                      *, ok: bool = True, code: int = 200) -> None:
        """Publish an event about the whole deployment."""
        self._publish(dep, type_, message, ok, code, None, None, None)

    def tenant_event(self, tenant: str, tenant_id: str | None, type_: EventType, message: str,
                     *, ok: bool = True) -> None:
        """Publish CREATE_TENANT or DELETE_TENANT."""
        self.bus.publish(EscEvent(
            event_type=type_, status=EventStatus.SUCCESS if ok else EventStatus.FAILURE,
            status_code=200 if ok else 500, status_message=message, depname=None, tenant=tenant,
            tenant_id=tenant_id, depid=None, vm_group=None, vm_source=None, event_time=self.clock()))

    def _publish(self, dep: DeploymentRecord, type_: EventType, message: str, ok: bool, code: int,
                 group: str | None, source: VmSource | None, target: VmTarget | None) -> None:
        tenant = self.state.tenants.get(dep.tenant)
        self.bus.publish(EscEvent(
            event_type=type_,
            status=EventStatus.SUCCESS if ok else EventStatus.FAILURE,
            status_code=code if ok else 500,
            status_message=message,
            depname=dep.name,
            tenant=dep.tenant,
            tenant_id=tenant.project_id if tenant else None,
            depid=dep.dep_id,
            vm_group=group,
            vm_source=source,
            event_time=self.clock(),
            transaction_id=self.transactions.get(dep.dep_id),
            vm_target=target,
        ))


def _event_interfaces(interfaces: list[VmInterface]) -> tuple[EventInterface, ...]:
    return tuple(EventInterface(nicid=i.nicid, port_id=i.port_id, network=i.network_id or i.network,
                                subnet=i.subnet_id, ip_address=i.ip_address, mac_address=i.mac_address,
                                netmask=i.netmask, gateway=i.gateway)
                 for i in sorted(interfaces, key=lambda i: i.nicid))


@functools.lru_cache(maxsize=1024)
def netmask_of(cidr: str) -> str | None:
    """The dotted netmask of an IPv4 ``cidr`` (None for IPv6 or a malformed one); remembered per ``cidr``:
    every VM of a subnet asks the same, and parsing the network each time was a tenth of a VM's step."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return str(network.netmask) if network.version == 4 else None
