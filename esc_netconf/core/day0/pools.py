"""Day-0 variable value pools: which value of each pool a VM holds.

A variable with several ``val`` is a pool: each VM of the group takes the first value no other VM of the
group holds, in deployment order (``deploy.new_vm`` allocates as it records each VM, before any VIM
call).  The values a VM holds live in its own record (``VmRecord.day0_values``), written in the same
single-row save as the VM itself, so an allocation can never outlive or predate the VM: a restart or a
``kill -9`` reloads exactly what was handed out, and forgetting the VM (scale-in, undeploy) returns its
values to the pool.  A VM of a group whose pool is exhausted simply holds nothing for it; rendering a
template that refers to that variable then fails with a sentence saying so (``payload``).
"""

from __future__ import annotations

from collections.abc import Iterable

from esc_netconf.core.model import Day0Configuration, VmGroupSpec, VmRecord


def allocate(group: VmGroupSpec, vm: VmRecord, siblings: Iterable[VmRecord]) -> bool:
    """Give ``vm`` a free value of every pool it holds none of; True when it got one (save the VM then)."""
    others = [s for s in siblings if s.vm_id != vm.vm_id]
    changed = False
    for config in group.config_data:
        held = vm.day0_values.get(config.dst, {})
        for variable in config.variables:
            if not variable.is_pool or variable.name in held:
                continue
            taken = {s.day0_values.get(config.dst, {}).get(variable.name) for s in others}
            free = next((value for value in variable.values if value not in taken), None)
            if free is not None:
                vm.day0_values.setdefault(config.dst, {})[variable.name] = free
                held = vm.day0_values[config.dst]
                changed = True
    return changed


def variable_values(config: Day0Configuration, vm: VmRecord) -> tuple[dict[str, str], dict[str, int]]:
    """The variables' values for ``vm``, and the size of each pool (or empty variable) it holds nothing of."""
    values: dict[str, str] = {}
    missing: dict[str, int] = {}
    held = vm.day0_values.get(config.dst, {})
    for variable in config.variables:
        if variable.is_pool and variable.name in held:
            values[variable.name] = held[variable.name]
        elif len(variable.values) == 1:
            values[variable.name] = variable.values[0]
        else:
            missing[variable.name] = len(variable.values)
    return values, missing
