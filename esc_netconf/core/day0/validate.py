"""Commit-time checks of a group's ``config_data``: what can be refused before anything is deployed."""

from __future__ import annotations

from esc_netconf.core.day0.fetch import scheme_error
from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import VmGroupSpec


def check_config_data(where: str, group: VmGroupSpec) -> None:
    """Refuse a configuration without exactly one template source, or with a URL that can never be fetched.

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
