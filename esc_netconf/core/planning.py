"""Pure decisions about deployments: validation, startup order, addresses, indices, update plans.

Nothing here awaits or touches the VIM; the workflows call these functions to decide and then act.
Validation raises ``InvalidRequest`` (400) with a sentence naming the deployment and group, so a refused
edit-config tells the operator exactly what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from esc_netconf.core.collectors import check_kpis
from esc_netconf.core.day0.validate import check_config_data
from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import DeploymentSpec, IpPool, VmGroupSpec, VmInterface, VmRecord, VolumeSpec


def validate_spec(tenant: str, spec: DeploymentSpec) -> None:
    """Refuse a deployment the core cannot carry out.

    :raises InvalidRequest: bad min/max, unknown or cyclic ``depends_on``, or a static pool too small.
    """
    where = f"Deployment [{tenant}/{spec.name}]"
    names = [g.name for g in spec.vm_groups]
    if not names:
        raise InvalidRequest(f"{where} has no vm_group.")
    if len(set(names)) != len(names):
        raise InvalidRequest(f"{where} names a vm_group twice.")
    for group in spec.vm_groups:
        check_vm_name_length(where, spec.name, group.name)
        scaling = group.scaling
        if scaling.min_active < 0 or scaling.max_active < 1:
            raise InvalidRequest(f"{where} vm_group [{group.name}]: min_active must be at least 0 "
                                 f"and max_active at least 1.")
        if scaling.min_active > scaling.max_active:
            raise InvalidRequest(f"{where} vm_group [{group.name}]: min_active {scaling.min_active} "
                                 f"is above max_active {scaling.max_active}.")
        check_pool_capacity(where, group, scaling.min_active)
        check_config_data(where, group)
        check_kpis(where, group)
    for policy in spec.startup:
        for ref in (policy.target, *policy.depends_on):
            if ref not in names:
                raise InvalidRequest(f"{where}: startup policy names unknown vm_group [{ref}].")
    startup_waves(spec)


def check_pool_capacity(where: str, group: VmGroupSpec, count: int) -> None:
    """Refuse ``count`` VMs when a static pool of the group has fewer addresses.

    :raises InvalidRequest: the pool of some network cannot give every VM an address.
    """
    for pool in group.scaling.static_ip_pools:
        if _pool_used(group, pool) and len(pool.ip_addresses) < count:
            raise InvalidRequest(
                f"{where} vm_group [{group.name}]: the static IP pool of network [{pool.network}] has "
                f"{len(pool.ip_addresses)} address(es), too few for {count} VM(s); add addresses to the pool.")


def _pool_used(group: VmGroupSpec, pool: IpPool) -> bool:
    return any(i.network == pool.network and i.ip_address is None for i in group.interfaces)


def startup_waves(spec: DeploymentSpec) -> list[list[str]]:
    """Groups in deployment order: each wave depends only on earlier waves (config order within a wave).

    :raises InvalidRequest: the ``depends_on`` relation has a cycle.
    """
    remaining = [g.name for g in spec.vm_groups]
    done: set[str] = set()
    waves: list[list[str]] = []
    while remaining:
        wave = [g for g in remaining if set(spec.depends_on(g)) <= done]
        if not wave:
            raise InvalidRequest(f"Deployment [{spec.name}]: the startup depends_on of vm_group(s) "
                                 f"{', '.join(remaining)} form a cycle.")
        waves.append(wave)
        done.update(wave)
        remaining = [g for g in remaining if g not in done]
    return waves


def allocate_interfaces(group: VmGroupSpec, siblings: list[VmRecord]) -> list[VmInterface]:
    """The interfaces of a new VM: fixed addresses as configured, pool addresses not used by ``siblings``.

    :raises InvalidRequest: a pool is exhausted.
    """
    taken = {(i.network, i.ip_address) for vm in siblings for i in vm.interfaces if i.ip_address}
    pools = {p.network: p for p in group.scaling.static_ip_pools}
    result: list[VmInterface] = []
    for spec in sorted(group.interfaces, key=lambda i: i.nicid):
        address = spec.ip_address
        pool = pools.get(spec.network)
        if address is None and pool is not None:
            free = [a for a in pool.ip_addresses if (spec.network, a) not in taken]
            if not free:
                raise InvalidRequest(f"vm_group [{group.name}]: the static IP pool of network "
                                     f"[{spec.network}] has no free address left.")
            address = free[0]
        result.append(VmInterface(spec.nicid, spec.network, address))
    return result


def next_index(siblings: list[VmRecord]) -> int:
    """The smallest index not used by a VM of the group."""
    used = {vm.index for vm in siblings}
    return next(i for i in range(len(used) + 1) if i not in used)


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """What an update does to one group: add ``scale_out`` VMs or remove ``scale_in`` of them."""

    group: str
    scale_out: int = 0
    scale_in: int = 0


def plan_group(new: VmGroupSpec, active: int) -> GroupPlan:
    """Scale out up to ``min_active``, scale in down to ``max_active``, else leave the count alone."""
    if active < new.scaling.min_active:
        return GroupPlan(new.name, scale_out=new.scaling.min_active - active)
    if active > new.scaling.max_active:
        return GroupPlan(new.name, scale_in=active - new.scaling.max_active)
    return GroupPlan(new.name)


#: The longest VM name the VM RPCs accept (``vmName`` is an ``esc_name``, 1..255 characters).
VM_NAME_LIMIT = 255
#: What a generated name adds to the deployment and group names: three ``_``, a UUID (36) and an index
#: counted as up to 10 digits (no group ever reaches ten billion VMs).
_GENERATED_PART = 3 + 36 + 10
#: The most characters a deployment name and a group name may have together.
NAME_PAIR_LIMIT = VM_NAME_LIMIT - _GENERATED_PART


def check_vm_name_length(where: str, deployment: str, group: str) -> None:
    """Refuse names whose generated VM names could exceed what the VM RPCs accept.

    Why refuse rather than shorten: a truncated name could collide with another VM's, and an operator
    could not address a VM whose name the RPCs reject.

    :raises InvalidRequest: ``deployment`` and ``group`` together are longer than ``NAME_PAIR_LIMIT``.
    """
    if len(deployment) + len(group) > NAME_PAIR_LIMIT:
        raise InvalidRequest(
            f"{where} vm_group [{group[:40]}{'...' if len(group) > 40 else ''}]: the generated VM names "
            f"<deployment>_<group>_<index>_<uuid> would exceed the {VM_NAME_LIMIT} characters the VM RPCs "
            f"accept; the deployment and vm_group names may have at most {NAME_PAIR_LIMIT} characters "
            f"together (they have {len(deployment) + len(group)}).")


def vm_name(deployment: str, group: str, index: int, vm_id: str) -> str:
    """The generated name ``<deployment>_<group>_<index>_<uuid>`` (also the VIM server name).

    :raises InvalidRequest: the name would be longer than ``VM_NAME_LIMIT`` (``validate_spec`` refuses such
        names first; this guards every other path, never truncating).
    """
    name = f"{deployment}_{group}_{index}_{vm_id}"
    if len(name) > VM_NAME_LIMIT:
        raise InvalidRequest(f"Generated VM name of vm_group [{group}] would have {len(name)} characters, "
                             f"more than the {VM_NAME_LIMIT} the VM RPCs accept.")
    return name


def volume_build_order(volumes: tuple[VolumeSpec, ...]) -> list[VolumeSpec]:
    """A group's volumes in the order a server gets them (boot volume first, data volumes after).

    ``vmsteps`` builds the block devices in this order and the VIM hands out devices in it, so the n-th
    volume here is the volume on a server's n-th attached device: that is how a spec entry is matched with
    the VIM volume it became.
    """
    return sorted(volumes, key=lambda v: (v.boot_index is None, v.boot_index or 0, v.name))


@dataclass(frozen=True, slots=True)
class VolumeSwap:
    """A service update replacing volume ``old`` of a group's VMs by the existing VIM volume of ``new``.

    ``slot`` is the position of ``old`` in ``volume_build_order`` of the group *before* the update.
    """

    group: str
    slot: int
    old: VolumeSpec
    new: VolumeSpec


def plan_volume_swaps(old: VmGroupSpec, new: VmGroupSpec) -> tuple[VolumeSwap, ...]:
    """The volume swaps a service update of one group asks for (the seed's restore from a volume).

    A swap is either a deleted volume plus an added one naming an ``external_id`` with the same
    ``boot_index`` (the seed's shape: "a delete operation against the named original volume, and a create
    operation specifying the new, bootable volume"), or an entry kept under its name whose ``external_id``
    changes.  Other volume changes are not swaps: like ``image`` they only affect VMs built later.

    :raises InvalidRequest: an added external volume replaces no deleted volume, or several (ambiguous),
        or two swaps name the same external volume.
    """
    where = f"vm_group [{new.name}]"
    before = {v.name: v for v in old.volumes}
    after = {v.name: v for v in new.volumes}
    order = [v.name for v in volume_build_order(old.volumes)]
    removed = [v for v in old.volumes if v.name not in after]
    pairs: list[tuple[VolumeSpec, VolumeSpec]] = []
    for volume in new.volumes:
        previous = before.get(volume.name)
        if previous is not None:
            if volume.external_id and volume.external_id != previous.external_id:
                pairs.append((previous, volume))
            continue
        if not volume.external_id:
            continue
        partners = [r for r in removed if r.boot_index == volume.boot_index]
        if len(partners) != 1:
            index = "no boot_index" if volume.boot_index is None else f"boot_index {volume.boot_index}"
            raise InvalidRequest(
                f"{where}: volume [{volume.name}] names external volume [{volume.external_id}] but "
                f"{'no' if not partners else 'more than one'} deleted volume with {index} is replaced by it; "
                f"delete exactly one original volume with the same boot_index in the same update.")
        pairs.append((partners[0], volume))
    used = [old_spec.name for old_spec, _ in pairs]
    if len(set(used)) != len(used):
        raise InvalidRequest(f"{where}: one original volume is replaced by several external volumes.")
    externals = [new_spec.external_id for _, new_spec in pairs]
    if len(set(externals)) != len(externals):
        raise InvalidRequest(f"{where}: one external volume replaces several volumes.")
    return tuple(VolumeSwap(new.name, order.index(o.name), o, n) for o, n in pairs)
