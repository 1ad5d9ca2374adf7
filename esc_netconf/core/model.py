"""What the operator configured (specs) and what the core keeps about it (records).

Specs are frozen dataclasses built by the northbound from the ``esc_datamodel`` config tree: the core never
sees XML.  Records are mutable dataclasses of plain fields, owned by the core's event loop and persisted
through ``core.store.Store`` (as key columns plus ``to_dict()`` in a JSON column).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from esc_netconf.core.serial import rebuild, to_plain
from esc_netconf.core.states import ServiceState, VmState

#: How many lifecycle history entries each VM keeps (older ones are dropped).
HISTORY_LIMIT = 50
#: ``service_name``/``service_version`` of a deployment without a service registration (ESC shows ``-``).
NO_SERVICE = "-"


class PlainRecord:
    """``to_dict``/``from_dict`` through ``core.serial``: the store keeps records without knowing their fields."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (see ``core.serial``)."""
        result: dict[str, Any] = to_plain(self)
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of ``to_dict``."""
        return rebuild(cls, data)


# --- specs -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InterfaceSpec(PlainRecord):
    """``interfaces/interface[nicid]``: a NIC on ``network``, with a fixed address or one from the pool."""

    nicid: int
    network: str
    ip_address: str | None = None


@dataclass(frozen=True, slots=True)
class VolumeSpec(PlainRecord):
    """``volumes/volume[name]``; ``boot_index == 0`` means the VM boots from a volume made from ``image``."""

    name: str
    size: int | None = None
    sizeunit: str | None = None
    bus: str | None = None
    type: str | None = None
    boot_index: int | None = None
    image: str | None = None
    volid: int | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class IpPool(PlainRecord):
    """``scaling/static_ip_address_pool[network]``: the addresses VMs of the group take on ``network``."""

    network: str
    gateway: str | None = None
    netmask: str | None = None
    ip_addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScalingSpec(PlainRecord):
    """``scaling``: how many VMs the group keeps."""

    min_active: int = 1
    max_active: int = 1
    elastic: bool = True
    static_ip_pools: tuple[IpPool, ...] = ()


@dataclass(frozen=True, slots=True)
class KpiSpec(PlainRecord):
    """``kpi_data/kpi[event_name]``: a monitored metric (re-armed by START).

    ``metric_value`` is text, as in ESC's model: its meaning depends on ``metric_type`` (a number, or a
    string for STRING metrics)."""

    event_name: str
    metric_value: str | None = None
    metric_cond: str | None = None
    metric_type: str | None = None
    collector_type: str | None = None
    collector_nicid: int | None = None
    poll_frequency: int | None = None
    polling_unit: str | None = None
    occurrences_true: int = 1
    occurrences_false: int = 1
    continuous_alarm: bool = False
    #: ``metric_collector/proxy``: the node asked instead of the VM (an SNMP agent answering for it).
    collector_proxy: str | None = None
    #: ``metric_collector/properties/property``: the metric's definition (SNMP ``oid``, a script's name ...).
    collector_properties: tuple[tuple[str, str], ...] = ()

    @property
    def period(self) -> float:
        """Seconds between two polls (``poll_frequency`` in ``polling_unit``; ESC's 3 s when unset)."""
        frequency = float(self.poll_frequency or 3)
        return frequency * 60.0 if self.polling_unit == "minutes" else frequency


@dataclass(frozen=True, slots=True)
class RuleSpec(PlainRecord):
    """``rules/admin_rules|user_rules/rule[event_name]``: what to do when a KPI fires."""

    event_name: str
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Day0Variable(PlainRecord):
    """``config_data/configuration/variable[name]``: one ``val`` is shared by every VM of the group; several
    are a pool, handed out one per VM (see ``core.day0.pools``)."""

    name: str
    values: tuple[str, ...] = ()

    @property
    def is_pool(self) -> bool:
        """Several values: each VM gets its own."""
        return len(self.values) > 1


@dataclass(frozen=True, slots=True)
class Day0Configuration(PlainRecord):
    """``config_data/configuration[dst]``: a template (``file`` URL or inline ``data``) rendered per VM and
    given to the server as ``dst`` (``--user-data``: Nova user data; anything else: a config-drive file)."""

    dst: str
    file: str | None = None
    data: str | None = None
    variables: tuple[Day0Variable, ...] = ()


@dataclass(frozen=True, slots=True)
class VmGroupSpec(PlainRecord):
    """``vm_group[name]``."""

    name: str
    image: str
    flavor: str
    bootup_time: int = 300
    recovery_wait_time: int = 0
    interfaces: tuple[InterfaceSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    scaling: ScalingSpec = ScalingSpec()
    kpis: tuple[KpiSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    vim_id: str | None = None
    vim_project: str | None = None
    config_data: tuple[Day0Configuration, ...] = ()

    def with_changes(self, **changes: Any) -> VmGroupSpec:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class StartupPolicy(PlainRecord):
    """``policies/startup[target_vm_group_ref]/depends_on[vm_group_ref]``."""

    target: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeploymentSpec(PlainRecord):
    """``deployments/deployment[name]`` of one tenant."""

    name: str
    vm_groups: tuple[VmGroupSpec, ...]
    startup: tuple[StartupPolicy, ...] = ()

    def group(self, name: str) -> VmGroupSpec | None:
        """The group called ``name``, if any."""
        return next((g for g in self.vm_groups if g.name == name), None)

    def depends_on(self, group: str) -> tuple[str, ...]:
        """The groups that must be alive before ``group`` is deployed or started."""
        deps: tuple[str, ...] = ()
        for policy in self.startup:
            if policy.target == group:
                deps += policy.depends_on
        return deps


# --- records -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class TenantRecord(PlainRecord):
    """A tenant and the VIM project that holds its servers.

    A tenant is one VIM project, named after the tenant (``vim_project``): ESC creates it when the tenant is
    created and deletes it with the tenant (``managed``), unless the tenant says ``managed_resource`` false,
    in which case the project must already exist and is left alone.  ``project_id`` is shown as ``tenant_id``.
    """

    name: str
    project_id: str
    vim_id: str = "default_openstack_vim"
    vim_project: str | None = None
    managed: bool = True


@dataclass(frozen=True, slots=True)
class HistoryEntry(PlainRecord):
    """One line of a VM's lifecycle history, shown in opdata. Frozen: a ``get`` keeps the entries themselves
    as its snapshot of a VM's history (``northbound.opdata``)."""

    seq: int
    time: datetime
    type: str
    detail: str = ""


@dataclass(slots=True)
class VmInterface(PlainRecord):
    """An interface of a deployed VM as the VIM reported it.

    ``network`` is the configured network (name or id, as the operator wrote it); ``network_id``,
    ``subnet_id``, ``netmask`` and ``gateway`` are what the VIM built it on, known once the server exists.

    ``reserved_port``: ``port_id`` is a port the core made ahead of the server (its day-0 templates needed
    the address or MAC before the server existed); it outlives a redeploy and is deleted with the VM.
    """

    nicid: int
    network: str
    ip_address: str | None = None
    mac_address: str | None = None
    port_id: str | None = None
    network_id: str | None = None
    subnet_id: str | None = None
    netmask: str | None = None
    gateway: str | None = None
    reserved_port: bool = False


@dataclass(slots=True)
class ServerFacts(PlainRecord):
    """What a VM's server looked like (id, host, NICs): kept while a recovery replaces the server, so the
    events that end the recovery can show the old VM as ``vm_source`` and the new one as ``vm_target``."""

    server_id: str | None = None
    host_id: str | None = None
    hostname: str | None = None
    interfaces: list[VmInterface] = field(default_factory=list)


@dataclass(slots=True)
class VmRecord(PlainRecord):
    """One VM of a deployment.

    ``server_id`` is written as soon as the VIM returns it; a record with ``server_id is None`` is an intent
    (the VM may or may not exist in the VIM: a restart looks it up by ``name``, which is unique).
    """

    vm_id: str
    dep_id: str
    tenant: str
    deployment: str
    group: str
    index: int
    name: str
    state: VmState = VmState.DEPLOYING
    monitored: bool = False
    server_id: str | None = None
    image: str | None = None
    flavor: str | None = None
    host_id: str | None = None
    hostname: str | None = None
    interfaces: list[VmInterface] = field(default_factory=list)
    volume_ids: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    recovery_source: ServerFacts | None = None

    def facts(self) -> ServerFacts:
        """The server as it is now (a copy)."""
        return ServerFacts(self.server_id, self.host_id, self.hostname,
                           [VmInterface.from_dict(i.to_dict()) for i in self.interfaces])
    #: Day-0 pool values this VM holds: ``{dst: {variable: value}}``.  Saved with the VM before its server is
    #: requested, so no restart hands a value out twice; forgetting the VM (scale-in) returns them.
    day0_values: dict[str, dict[str, str]] = field(default_factory=dict)

    def remember(self, time: datetime, type_: str, detail: str = "") -> None:
        """Append a history entry, keeping the last ``HISTORY_LIMIT``."""
        seq = self.history[-1].seq + 1 if self.history else 1
        self.history.append(HistoryEntry(seq, time, type_, detail))
        del self.history[:-HISTORY_LIMIT]


@dataclass(slots=True)
class DeploymentRecord(PlainRecord):
    """A deployment: its current spec and service state.

    Opdata keys it by ``name``, ``service_name`` and ``service_version`` (both ``-``: we have no service
    registration); ``service_id`` is a UUID given at creation (``0005_esc_opdata`` gave older records one).
    """

    dep_id: str
    tenant: str
    name: str
    spec: DeploymentSpec
    state: ServiceState = ServiceState.DEPLOYING
    created: datetime | None = None
    service_name: str = NO_SERVICE
    service_version: str = NO_SERVICE
    service_id: str = ""


@dataclass(slots=True)
class OperationRecord(PlainRecord):
    """Work in flight, recorded before the first VIM call and removed when it ends.

    ``kind`` is one of ``operations.OpKind``'s values; ``params`` holds what a resumed operation needs
    (e.g. ``{"action": "STOP"}``).  On restart every remaining operation is resumed.
    """

    op_id: str
    kind: str
    tenant: str
    dep_id: str
    vm_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    started: datetime | None = None


@dataclass(slots=True)
class CoreState(PlainRecord):
    """Everything ``Store.load`` returns, keyed by name (tenants) or id."""

    tenants: dict[str, TenantRecord] = field(default_factory=dict)
    deployments: dict[str, DeploymentRecord] = field(default_factory=dict)
    vms: dict[str, VmRecord] = field(default_factory=dict)
    operations: dict[str, OperationRecord] = field(default_factory=dict)
