"""The bridge's diff of an edit, found where the edit went (``changed_deployments`` with the datastore's
``touched``), is the diff of the whole trees, for every kind of edit: and it reads only the deployments
the edit touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.errors import BASE_NS
from esc_netconf.netconf.persistence import MemoryConfigStore
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound import config_specs
from esc_netconf.northbound.config_specs import GroupDefaults, changed_deployments, deployments_of

ESC = "http://www.cisco.com/esc/esc"
YANG_DIR = Path(__file__).resolve().parents[3] / "yang"


def dep(name: str, flavor: str = "small", op: str = "") -> str:
    attr = f' nc:operation="{op}"' if op else ""
    if op in ("delete", "remove"):
        return f"<deployment{attr}><name>{name}</name></deployment>"
    return (f"<deployment{attr}><name>{name}</name><vm_group><name>g</name><image>cirros</image>"
            f"<flavor>{flavor}</flavor></vm_group></deployment>")


def config(tenants: dict[str, str], tenant_op: str = "") -> etree._Element:
    attr = f' nc:operation="{tenant_op}"' if tenant_op else ""
    body = "".join(f"<tenant{attr}><name>{t}</name>" + (f"<deployments>{d}</deployments>" if d else "") + "</tenant>"
                   for t, d in tenants.items())
    return etree.fromstring(f'<config xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}"><esc_datamodel xmlns="{ESC}">'
                            f"<tenants>{body}</tenants></esc_datamodel></config>")


EDITS = [
    (config({"t1": "".join(dep(f"d{i}") for i in range(20)), "t2": dep("x")}), "merge"),
    (config({"t1": dep("d3", "large")}), "merge"),                    # one deployment changed
    (config({"t1": dep("d3", "large")}), "merge"),                    # the same again: nothing
    (config({"t1": dep("d4", op="delete") + dep("d20")}), "merge"),   # one gone, one new
    (config({"t2": ""}, tenant_op="delete"), "merge"),                # a tenant and its deployment gone
    (config({"t1": dep("d5") + dep("d6", "large")}, tenant_op="replace"), "merge"),  # all but two dropped
    (config({"t3": dep("y")}), "replace"),                            # everything replaced
]


def test_the_diff_where_the_edit_went_is_the_diff_of_the_whole_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    model = YangModel.load(YANG_DIR)
    defaults = GroupDefaults.from_model(model)
    ds = Datastore(model, MemoryConfigStore())
    for cfg, default_operation in EDITS:
        old = ds.running
        result = ds.edit(cfg, default_operation=default_operation)
        new = ds.running
        whole_before, whole_after = deployments_of(old, defaults), deployments_of(new, defaults)
        want = [(t, whole_before.get((t, n)), whole_after.get((t, n)))
                for t, n in sorted(whole_before.keys() | whole_after.keys())
                if whole_before.get((t, n)) != whole_after.get((t, n))]
        touched = ds.touched(new)
        if not result.committed:
            assert want == []
            continue
        assert touched is not None
        read: list[str] = []
        real = config_specs.deployment_spec

        def counting(element: etree._Element, d: GroupDefaults) -> config_specs.DeploymentSpec:
            read.append(element.findtext(f"{{{ESC}}}name") or "")
            return real(element, d)

        monkeypatch.setattr(config_specs, "deployment_spec", counting)
        assert changed_deployments(old, new, touched, defaults) == want
        monkeypatch.undo()
        if default_operation == "merge" and cfg is EDITS[1][0]:
            assert read == ["d3", "d3"]  # before and after of the one deployment edited, nothing else
