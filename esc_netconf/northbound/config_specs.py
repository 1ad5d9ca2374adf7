"""The ``esc_datamodel`` config tree, read into the core's frozen specs.

The datastore has already validated the tree against the YANG model (types, ranges, mandatory leaves,
leafrefs), so this module only reads: missing optional leaves become the spec's defaults, which match
the YANG defaults.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from lxml import etree

from esc_netconf.core.model import (
    Day0Configuration,
    Day0Variable,
    DeploymentSpec,
    InterfaceSpec,
    IpPool,
    KpiSpec,
    RuleSpec,
    ScalingSpec,
    StartupPolicy,
    VmGroupSpec,
    VolumeSpec,
)
from esc_netconf.netconf.errors import ErrorTag, NetconfError
from esc_netconf.netconf.yangmodel import key_values
from esc_netconf.northbound.esc_xml import q

if TYPE_CHECKING:
    from esc_netconf.netconf.yangmodel import YangModel

T = TypeVar("T")

DeploymentKey = tuple[str, str]  # (tenant, deployment name)


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    child = parent.find(q(name))
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _opt(parent: etree._Element | None, name: str, convert: Callable[[str], T]) -> T | None:
    raw = _text(parent, name)
    return None if raw is None else convert(raw)


def _bool(raw: str) -> bool:
    return raw in ("true", "1")


@dataclass(frozen=True, slots=True)
class GroupDefaults:
    """The YANG defaults of the vm_group leaves the core needs, read from the model at start-up."""

    bootup_time: int
    recovery_wait_time: int
    min_active: int
    max_active: int
    elastic: bool

    @classmethod
    def from_model(cls, model: YangModel) -> GroupDefaults:
        group = ("esc_datamodel", "tenants", "tenant", "deployments", "deployment", "vm_group")

        def default(*names: str) -> str:
            node = model.node(tuple(q(n) for n in (*group, *names)))
            if node is None or node.default is None:
                raise LookupError(f"the YANG model has no default for vm_group/{'/'.join(names)}")
            return str(node.default)

        return cls(
            bootup_time=int(default("bootup_time")),
            recovery_wait_time=int(default("recovery_wait_time")),
            min_active=int(default("scaling", "min_active")),
            max_active=int(default("scaling", "max_active")),
            elastic=_bool(default("scaling", "elastic")),
        )


def _int(parent: etree._Element | None, name: str, default: int) -> int:
    value = _opt(parent, name, int)
    return default if value is None else value


def _path(parent: etree._Element | None, *names: str) -> list[etree._Element]:
    """Every element at ``names`` below ``parent`` (containers then list entries)."""
    if parent is None:
        return []
    found = [parent]
    for name in names:
        found = [child for element in found for child in element.findall(q(name))]
    return found


def _interfaces(group: etree._Element) -> tuple[InterfaceSpec, ...]:
    return tuple(
        InterfaceSpec(nicid=int(_text(i, "nicid") or 0), network=_text(i, "network") or "", ip_address=_text(i, "ip_address"))
        for i in _path(group, "interfaces", "interface")
    )


def _volumes(group: etree._Element) -> tuple[VolumeSpec, ...]:
    return tuple(
        VolumeSpec(
            name=_text(v, "name") or "",
            size=_opt(v, "size", int),
            sizeunit=_text(v, "sizeunit"),
            bus=_text(v, "bus"),
            type=_text(v, "type"),
            boot_index=_opt(v, "boot_index", int),
            image=_text(v, "image"),
            volid=_opt(v, "volid", int),
            external_id=_text(v, "external_id"),
        )
        for v in _path(group, "volumes", "volume")
    )


#: The most addresses one ``ip_address_range`` may hold: a pool is handed out one address per VM, so a
#: bigger range is a typo (a /8 written as a range), not a plan.
MAX_RANGE_ADDRESSES = 65536


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _range_ends(start_text: str, end_text: str) -> tuple[Address, Address] | str:
    """The two ends of a range, or why they do not make one."""
    try:
        start, end = ipaddress.ip_address(start_text), ipaddress.ip_address(end_text)
    except ValueError:  # an IPv4 address with a zone suffix, which the YANG type admits
        return "a range needs plain addresses, without a zone"
    if any(isinstance(a, ipaddress.IPv6Address) and a.scope_id for a in (start, end)):
        return "a range needs plain addresses, without a zone"  # a zoned address has no successor
    if start.version != end.version:
        return "start and end are not of the same IP version"
    if int(end) < int(start):
        return "start is after end"
    if int(end) - int(start) + 1 > MAX_RANGE_ADDRESSES:
        return f"the range holds more than {MAX_RANGE_ADDRESSES} addresses"
    return start, end


def _range_addresses(network: str, start_text: str, end_text: str) -> Iterator[str]:
    """The addresses of ``ip_address_range[start end]``, both ends included.

    :raises NetconfError: ``invalid-value`` when the ends are of different families, reversed, zoned,
        or span more than :data:`MAX_RANGE_ADDRESSES`.
    """
    ends = _range_ends(start_text, end_text)
    if isinstance(ends, str):
        raise NetconfError(
            ErrorTag.INVALID_VALUE,
            f"static_ip_address_pool [{network}]: ip_address_range {start_text}..{end_text}: {ends}.",
            info={"bad-element": "ip_address_range"})
    start, end = ends
    return (str(start + n) for n in range(int(end) - int(start) + 1))


def _pool_addresses(pool: etree._Element, network: str) -> tuple[str, ...]:
    """Single addresses first, then the ranges in document order, each address once."""
    addresses = [(a.text or "").strip() for a in pool.findall(q("ip_address"))]
    for span in pool.findall(q("ip_address_range")):
        addresses.extend(_range_addresses(network, _text(span, "start") or "", _text(span, "end") or ""))
    return tuple(dict.fromkeys(addresses))


def _scaling(group: etree._Element, defaults: GroupDefaults) -> ScalingSpec:
    scaling = group.find(q("scaling"))
    pools = tuple(
        IpPool(
            network=_text(p, "network") or "",
            gateway=_text(p, "gateway"),
            netmask=_text(p, "netmask"),
            ip_addresses=_pool_addresses(p, _text(p, "network") or ""),
        )
        for p in _path(scaling, "static_ip_address_pool")
    )
    elastic = _opt(scaling, "elastic", _bool)
    return ScalingSpec(
        min_active=_int(scaling, "min_active", defaults.min_active),
        max_active=_int(scaling, "max_active", defaults.max_active),
        elastic=defaults.elastic if elastic is None else elastic,
        static_ip_pools=pools,
    )


def _kpis(group: etree._Element) -> tuple[KpiSpec, ...]:
    result = []
    for kpi in _path(group, "kpi_data", "kpi"):
        collector = kpi.find(q("metric_collector"))
        result.append(
            KpiSpec(
                event_name=_text(kpi, "event_name") or "",
                metric_value=_text(kpi, "metric_value"),
                metric_cond=_text(kpi, "metric_cond"),
                metric_type=_text(kpi, "metric_type"),
                collector_type=_text(collector, "type"),
                collector_nicid=_opt(collector, "nicid", int),
                poll_frequency=_opt(collector, "poll_frequency", int),
                polling_unit=_text(collector, "polling_unit"),
                occurrences_true=_int(kpi, "metric_occurrences_true", 1),
                occurrences_false=_int(kpi, "metric_occurrences_false", 1),
                continuous_alarm=_bool(_text(collector, "continuous_alarm") or "false"),
                collector_proxy=_text(collector, "proxy"),
                collector_properties=tuple((_text(p, "name") or "", _text(p, "value") or "")
                                           for p in _path(collector, "properties", "property")),
            )
        )
    return tuple(result)


def _rules(group: etree._Element) -> tuple[RuleSpec, ...]:
    return tuple(
        RuleSpec(
            event_name=_text(rule, "event_name") or "",
            actions=tuple((a.text or "").strip() for a in rule.findall(q("action"))),
        )
        for rule in _path(group, "rules", "admin_rules", "rule") + _path(group, "rules", "user_rules", "rule")
    )


def _config_data(group: etree._Element) -> tuple[Day0Configuration, ...]:
    """``config_data/configuration[dst]``; ``data`` keeps its text exactly (a template's whitespace matters).

    ``encrypted_data`` is read as an inline template like ``data`` (it is stored as sent, not encrypted).
    """
    result = []
    for config in _path(group, "config_data", "configuration"):
        data = config.find(q("data"))
        if data is None:
            data = config.find(q("encrypted_data"))
        result.append(Day0Configuration(
            dst=_text(config, "dst") or "",
            file=_text(config, "file"),
            data=None if data is None else data.text or "",
            variables=tuple(
                Day0Variable(name=_text(v, "name") or "", values=tuple(val.text or "" for val in v.findall(q("val"))))
                for v in config.findall(q("variable"))
            ),
        ))
    return tuple(result)


def vm_group_spec(group: etree._Element, defaults: GroupDefaults,
                  deployment_locator: etree._Element | None = None) -> VmGroupSpec:
    """The group's spec; where the group has no ``locator`` of its own, the deployment's applies."""
    locator = group.find(q("locator"))
    if locator is None:
        locator = deployment_locator
    return VmGroupSpec(
        name=_text(group, "name") or "",
        image=_text(group, "image") or "",
        flavor=_text(group, "flavor") or "",
        bootup_time=_int(group, "bootup_time", defaults.bootup_time),
        recovery_wait_time=_int(group, "recovery_wait_time", defaults.recovery_wait_time),
        interfaces=_interfaces(group),
        volumes=_volumes(group),
        scaling=_scaling(group, defaults),
        kpis=_kpis(group),
        rules=_rules(group),
        vim_id=_text(locator, "vim_id"),
        vim_project=_text(locator, "vim_project"),
        config_data=_config_data(group),
    )


def deployment_spec(deployment: etree._Element, defaults: GroupDefaults) -> DeploymentSpec:
    startup = tuple(
        StartupPolicy(
            target=_text(policy, "target_vm_group_ref") or "",
            depends_on=tuple(_text(dep, "vm_group_ref") or "" for dep in policy.findall(q("depends_on"))),
        )
        for policy in _path(deployment, "policies", "startup")
    )
    return DeploymentSpec(
        name=_text(deployment, "name") or "",
        vm_groups=tuple(vm_group_spec(g, defaults, deployment.find(q("locator")))
                        for g in deployment.findall(q("vm_group"))),
        startup=startup,
    )


def deployments_of(data: etree._Element, defaults: GroupDefaults) -> dict[DeploymentKey, DeploymentSpec]:
    """Every configured deployment in a ``<data>`` tree, keyed by (tenant, name)."""
    result: dict[DeploymentKey, DeploymentSpec] = {}
    for tenant in _path(data, "esc_datamodel", "tenants", "tenant"):
        tenant_name = _text(tenant, "name") or ""
        for deployment in _path(tenant, "deployments", "deployment"):
            spec = deployment_spec(deployment, defaults)
            result[(tenant_name, spec.name)] = spec
    return result


def changed_deployments(old: etree._Element, new: etree._Element, touched: frozenset[etree._Element],
                        defaults: GroupDefaults) -> list[tuple[str, DeploymentSpec | None, DeploymentSpec | None]]:
    """(tenant, spec before, spec after) of every deployment added, removed or changed between ``old``
    and ``new``, sorted by (tenant, name), when ``new`` was made from ``old`` by an edit that touched
    ``touched`` (the datastore says which): a tenant or deployment of ``new`` outside it is an unchanged
    copy, so only the touched tenants are looked into and only the touched deployments are read. An edit
    of one deployment among 2,000 reads two deployments, not 4,000."""
    before_tenants = _by_name(_path(old, "esc_datamodel", "tenants", "tenant"))
    after_tenants = _by_name(_path(new, "esc_datamodel", "tenants", "tenant"))
    out: list[tuple[str, DeploymentSpec | None, DeploymentSpec | None]] = []
    for tenant in sorted(before_tenants.keys() | after_tenants.keys()):
        old_tenant, new_tenant = before_tenants.get(tenant), after_tenants.get(tenant)
        if old_tenant is not None and new_tenant is not None and new_tenant not in touched:
            continue
        before = _by_name(_path(old_tenant, "deployments", "deployment"))
        present = _path(new_tenant, "deployments", "deployment")
        after = _by_name([entry for entry in present if entry in touched])
        # an untouched deployment is unchanged: its name is not even read, and neither is its old twin's
        # (the old names no touched one matches are exactly those, unless some were deleted)
        spare = [name for name in before if name not in after]
        if len(spare) != len(present) - len(after):
            kept = _by_name(present)
            spare = [name for name in spare if name in kept]
        for name in spare:
            del before[name]
        for name in sorted(before.keys() | after.keys()):
            was, now = before.get(name), after.get(name)
            was_spec = deployment_spec(was, defaults) if was is not None else None
            now_spec = deployment_spec(now, defaults) if now is not None else None
            if was_spec != now_spec:
                out.append((tenant, was_spec, now_spec))
    return out


def _by_name(entries: list[etree._Element]) -> dict[str, etree._Element]:
    name = (q("name"),)
    return {key_values(entry, name)[0]: entry for entry in entries}


def tenants_of(data: etree._Element) -> dict[str, bool]:
    """Every configured tenant, with whether ESC manages its VIM project (``managed_resource``, default true)."""
    return {_text(t, "name") or "": (_text(t, "managed_resource") or "true") != "false"
            for t in _path(data, "esc_datamodel", "tenants", "tenant")}
