"""The day-0 payload of one VM: every ``config_data/configuration`` rendered for it, ready for the VIM.

Called by ``vmsteps.build`` just before the server is requested (after making the ports whose address or
MAC a template needs, see ``ports``) (on every build: first deploy, scale-out
and a recovery's redeploy, which renders the same pool values again).  The destination decides how the
content reaches the guest: ``--user-data`` (ESC's spelling) becomes the server's Nova user data; any other
``dst`` becomes a file on the config drive at that path.  Whenever there is day-0 content the server gets a
config drive, so the guest reads it without a metadata service.  Anything that goes wrong here (a template
that cannot be fetched, a pool with no value left, a token not known yet) fails the VM's deployment before
any VIM call, with ``Day0Failed`` naming the configuration and the cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from esc_netconf.core.context import CoreContext
from esc_netconf.core.day0.fetch import TemplateFetchError
from esc_netconf.core.day0.pools import variable_values
from esc_netconf.core.day0.ports import reserve_ports
from esc_netconf.core.day0.template import TemplateError, referenced_names, render
from esc_netconf.core.day0.tokens import builtin_tokens
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.model import Day0Configuration, VmGroupSpec, VmRecord
from esc_netconf.vim.base import Network, VimError

#: ESC's ``dst`` for content that is the server's user data rather than a file.
USER_DATA_DST = "--user-data"


class Day0Failed(VimOperationFailed):
    """A VM's day-0 configuration could not be produced; its deployment fails like a VIM failure would."""


@dataclass(frozen=True, slots=True)
class Day0Payload:
    """What the VIM is given for one server: user data and config-drive files (path -> content)."""

    user_data: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def config_drive(self) -> bool:
        """Whether the server needs a config drive (it has day-0 content)."""
        return self.user_data is not None or bool(self.files)


async def _template(ctx: CoreContext, vm: VmRecord, config: Day0Configuration) -> str:
    where = f"Day-0 configuration [{config.dst}] of VM [{vm.name}]"
    if config.data is not None:
        return config.data
    if config.file is None:
        raise Day0Failed(f"{where} has neither file nor data.")
    if ctx.fetcher is None:
        raise Day0Failed(f"{where}: no template fetcher is configured to read [{config.file}].")
    try:
        return await ctx.fetcher.fetch(config.file)
    except TemplateFetchError as exc:
        raise Day0Failed(f"{where}: cannot fetch template [{config.file}]: {exc.message}") from exc


async def _networks(ctx: CoreContext, vm: VmRecord) -> dict[str, Network]:
    networks: dict[str, Network] = {}
    for nic in vm.interfaces:
        if nic.network not in networks:
            try:
                networks[nic.network] = await ctx.driver.get_network(nic.network)
            except VimError as exc:
                raise VimOperationFailed(exc.message) from exc
    return networks


async def build_payload(ctx: CoreContext, vm: VmRecord, group: VmGroupSpec) -> Day0Payload:
    """Fetch and render every day-0 configuration of ``group`` for ``vm``.

    :raises Day0Failed: a template cannot be fetched or refers to a value this VM cannot have.
    :raises VimOperationFailed: the VIM could not describe a network of the VM.
    """
    if not group.config_data:
        return Day0Payload()
    templates = [(config, await _template(ctx, vm, config)) for config in group.config_data]
    await reserve_ports(ctx, vm, set().union(*(referenced_names(t) for _, t in templates)))
    tokens, unknown_tokens = builtin_tokens(vm, group, await _networks(ctx, vm))
    user_data: str | None = None
    files: dict[str, str] = {}
    for config, template in templates:
        values, missing = variable_values(config, vm)
        unavailable = {name: reason for name, reason in unknown_tokens.items() if name not in values}
        for name, size in missing.items():
            unavailable[name] = (
                f"Day-0 variable [{name}] of vm_group [{group.name}] has no value left for VM [{vm.name}]: "
                f"all {size} value(s) of its pool are held by other VMs." if size else
                f"Day-0 variable [{name}] of vm_group [{group.name}] has no val.")
        try:
            rendered = render(template, {**tokens, **values}, unavailable=unavailable)
        except TemplateError as exc:
            raise Day0Failed(f"Day-0 configuration [{config.dst}] of VM [{vm.name}]: {exc.message}") from exc
        if config.dst == USER_DATA_DST:
            user_data = rendered
        else:
            files[config.dst] = rendered
    return Day0Payload(user_data, files)
