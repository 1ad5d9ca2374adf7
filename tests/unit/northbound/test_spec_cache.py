"""The bridge's spec cache: diffing consecutive running trees parses only the deployments an edit changed,
and gives exactly what parsing everything gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound import config_specs
from esc_netconf.northbound.config_specs import GroupDefaults, SpecCache, deployments_of

ESC = "http://www.cisco.com/esc/esc"
YANG_DIR = Path(__file__).resolve().parents[3] / "yang"


@pytest.fixture(scope="module")
def defaults() -> GroupDefaults:
    return GroupDefaults.from_model(YangModel.load(YANG_DIR))


def tree(flavors: dict[str, str]) -> etree._Element:
    deployments = "".join(
        f"<deployment><name>{name}</name><vm_group><name>g</name><image>cirros</image><flavor>{flavor}</flavor>"
        "</vm_group></deployment>" for name, flavor in flavors.items())
    return etree.fromstring(f'<data><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t</name><deployments>'
                            f"{deployments}</deployments></tenant></tenants></esc_datamodel></data>")


def test_only_changed_deployments_are_parsed_and_the_result_is_the_same(
        defaults: GroupDefaults, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SpecCache()
    old = tree({f"d{i}": "small" for i in range(50)})
    new = tree({**{f"d{i}": "small" for i in range(50)}, "d7": "large", "d50": "small"})
    assert cache.deployments_of(old, defaults) == deployments_of(old, defaults)
    parsed: list[str] = []
    real = config_specs.deployment_spec

    def counting(deployment: etree._Element, defaults: GroupDefaults) -> config_specs.DeploymentSpec:
        parsed.append(deployment.findtext(f"{{{ESC}}}name") or "")
        return real(deployment, defaults)

    monkeypatch.setattr(config_specs, "deployment_spec", counting)
    got = cache.deployments_of(new, defaults)
    assert parsed == ["d7", "d50"]  # the changed one and the new one; the 49 others come from the cache
    assert cache.deployments_of(old, defaults) is cache.deployments_of(old, defaults)  # the edit's old tree
    assert parsed == ["d7", "d50"]
    monkeypatch.setattr(config_specs, "deployment_spec", real)
    assert got == deployments_of(new, defaults)
    assert got[("t", "d7")].vm_groups[0].flavor == "large"
