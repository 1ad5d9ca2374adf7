"""Commit-time checks of a group's ``config_data``: what can be refused before anything is deployed."""

from __future__ import annotations

from esc_netconf.core.day0.fetch import scheme_error
from esc_netconf.core.day0.template import referenced_names
from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import VmGroupSpec


def check_config_data(where: str, group: VmGroupSpec) -> None:
    """Refuse a configuration without exactly one template source, with a URL that can never be fetched, or
    whose inline template uses a value pool smaller than ``min_active`` (a ``file`` template is only read at
    deployment: there an exhausted pool fails the VM that finds it empty).

    :raises InvalidRequest: naming the deployment, group and ``dst``.
    """
    for config in group.config_data:
        here = f"{where} vm_group [{group.name}] day-0 configuration [{config.dst}]"
        if (config.file is None) == (config.data is None):
            raise InvalidRequest(f"{here} needs exactly one of file (a URL) or data (inline).")
        if config.file is not None:
            problem = scheme_error(config.file)
            if problem is not None:
                raise InvalidRequest(f"{here}: {problem}")
        used = referenced_names(config.data) if config.data is not None else set()
        for variable in config.variables:
            if variable.is_pool and variable.name in used and len(variable.values) < group.scaling.min_active:
                raise InvalidRequest(
                    f"{here}: variable [{variable.name}] has {len(variable.values)} value(s), too few for "
                    f"min_active {group.scaling.min_active}; add values to its pool.")
