"""The bridge applies a commit to the core a slice per loop turn, in commit order, and says when it is done."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import cast

import pytest
from lxml import etree

from esc_netconf.core.errors import LifecycleError
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentSpec
from esc_netconf.netconf.errors import BASE_NS
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound import config_bridge
from esc_netconf.northbound.config_bridge import ConfigBridge
from esc_netconf.northbound.config_specs import GroupDefaults

ESC = "http://www.cisco.com/esc/esc"
YANG_DIR = Path(__file__).resolve().parents[3] / "yang"


class SlowCore:
    """What the bridge calls, each call taking ``cost`` seconds of the loop's time (the bridge's slices are
    measured in wall time)."""

    def __init__(self, cost: float = 0.001, refuse: str | None = None) -> None:
        self.cost = cost
        self.refuse = refuse
        self.calls: list[str] = []

    def _spend(self) -> None:
        time.sleep(self.cost)

    def create_tenant(self, name: str, *, managed: bool = True) -> None:
        self._spend()
        self.calls.append(f"+{name}")

    def delete_tenant(self, name: str) -> None:
        self._spend()
        self.calls.append(f"-{name}")

    def apply_update(self, tenant: str, old: DeploymentSpec | None, new: DeploymentSpec | None) -> None:
        self._spend()
        name = (new or old).name  # type: ignore[union-attr]
        if name == self.refuse:
            raise LifecycleError(f"deployment {name} is busy")
        self.calls.append(f"{tenant}/{name}{'' if new else ' gone'}")


@pytest.fixture(scope="module")
def defaults() -> GroupDefaults:
    return GroupDefaults.from_model(YangModel.load(YANG_DIR))


def data(tenants: dict[str, int]) -> etree._Element:
    body = "".join(
        f"<tenant><name>{tenant}</name><deployments>"
        + "".join(f"<deployment><name>d{i}</name><vm_group><name>g</name><image>i</image><flavor>f</flavor>"
                  "</vm_group></deployment>" for i in range(count))
        + "</deployments></tenant>"
        for tenant, count in tenants.items())
    return etree.fromstring(f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants>{body}</tenants>'
                            "</esc_datamodel></data>")


def bridge(core: SlowCore, defaults: GroupDefaults) -> ConfigBridge:
    return ConfigBridge(cast(EscCore, core), defaults)


async def test_a_bulk_commit_is_applied_a_slice_per_turn_and_others_run_between(defaults: GroupDefaults) -> None:
    core = SlowCore()
    done = bridge(core, defaults).apply(data({}), data({"t": 30}))
    assert done is not None
    made_at_return = len(core.calls)
    assert 1 <= made_at_return < 31, "the first slice now, not all of it"
    seen_between: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: seen_between.append(len(core.calls)))
    await done
    assert core.calls == ["+t", *sorted(f"t/d{i}" for i in range(30))]
    assert seen_between and seen_between[0] < len(core.calls), "another callback ran before the last call"
    slice_calls = config_bridge.APPLY_SLICE / core.cost
    assert made_at_return <= slice_calls + 2


async def test_commits_are_applied_in_their_order(defaults: GroupDefaults) -> None:
    core = SlowCore()
    applier = bridge(core, defaults)
    first = applier.apply(data({}), data({"a": 20}))
    second = applier.apply(data({"a": 20}), data({"b": 1}))
    assert first is not None and second is not None
    await asyncio.gather(first, second)
    names = sorted(f"d{i}" for i in range(20))
    assert core.calls == ["+a", *(f"a/{n}" for n in names), "+b", *(f"a/{n} gone" for n in names), "b/d0", "-a"]


async def test_a_small_commit_is_applied_before_apply_returns(
        defaults: GroupDefaults, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit that fits in the slice is done on return (the slice made long: three calls took over 5 ms on a
    loaded CI machine)."""
    monkeypatch.setattr(config_bridge, "APPLY_SLICE", 60.0)
    core = SlowCore(cost=0.0)
    assert bridge(core, defaults).apply(data({}), data({"t": 2})) is None
    assert core.calls == ["+t", "t/d0", "t/d1"]


def test_without_a_loop_everything_is_applied_at_once(defaults: GroupDefaults) -> None:
    core = SlowCore()
    assert bridge(core, defaults).apply(data({}), data({"t": 30})) is None
    assert len(core.calls) == 31


async def test_a_refused_call_is_logged_and_the_rest_of_the_commit_is_applied(
        defaults: GroupDefaults, caplog: pytest.LogCaptureFixture) -> None:
    core = SlowCore(refuse="d3")
    with caplog.at_level(logging.ERROR, logger="esc_netconf.northbound.config"):
        done = bridge(core, defaults).apply(data({}), data({"t": 10}))
        if done is not None:
            await done
    assert len(core.calls) == 10 and "t/d3" not in core.calls
    assert "deployment d3 is busy" in caplog.text
