"""``config_data`` read into the core's day-0 spec: templates verbatim, pools in the order written."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from esc_netconf.core.model import Day0Configuration, Day0Variable
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound.config_specs import GroupDefaults, deployments_of

ESC = "http://www.cisco.com/esc/esc"
YANG_DIR = Path(__file__).resolve().parents[3] / "yang"


def test_config_data_is_read_verbatim() -> None:
    tree = etree.fromstring(
        f'<data><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t</name><deployments><deployment>'
        "<name>d</name><vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor><config_data>"
        "<configuration><dst>--user-data</dst><data>\n  #cloud-config\n  hostname: $H\n</data>"
        "<variable><name>H</name><val>b</val><val>a</val></variable></configuration>"
        "<configuration><dst>secret.cfg</dst><encrypted_data>pw $P</encrypted_data></configuration>"
        "<configuration><dst>x.cfg</dst><file>http://127.0.0.1/x.cfg</file></configuration>"
        "</config_data></vm_group></deployment></deployments></tenant></tenants></esc_datamodel></data>")
    (spec,) = deployments_of(tree, GroupDefaults.from_model(YangModel.load(YANG_DIR))).values()
    assert spec.vm_groups[0].config_data == (
        Day0Configuration("--user-data", data="\n  #cloud-config\n  hostname: $H\n",
                          variables=(Day0Variable("H", ("b", "a")),)),
        Day0Configuration("secret.cfg", data="pw $P"),
        Day0Configuration("x.cfg", file="http://127.0.0.1/x.cfg"),
    )
