"""What several workflows share: running VM jobs together, and which VMs make up a group.

Kept apart from ``deploy`` so that ``deploy``, ``restore``, ``recovery`` and ``operations`` can all use it
without importing one another (``deploy`` calls into ``restore`` for the volume swaps of an update).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from esc_netconf.core.context import CoreContext
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.model import DeploymentRecord, VmRecord
from esc_netconf.core.states import VmState


async def gather_failures(jobs: list[Awaitable[None]]) -> list[VimOperationFailed]:
    """Run ``jobs`` together; return the VIM failures (anything else, e.g. cancellation, propagates)."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures: list[VimOperationFailed] = []
    for result in results:
        if isinstance(result, VimOperationFailed):
            failures.append(result)
        elif isinstance(result, BaseException):
            raise result
    return failures


def members(ctx: CoreContext, dep: DeploymentRecord, group: str) -> list[VmRecord]:
    """The VMs that count towards a group's size (all but those being undeployed)."""
    return [vm for vm in ctx.vms_of(dep.dep_id, group) if vm.state is not VmState.UNDEPLOYING]
