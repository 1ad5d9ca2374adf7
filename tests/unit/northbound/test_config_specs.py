"""Reading ESC's config tree into core specs: what the core acts on is mapped, the rest is left to the datastore."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.errors import NetconfError
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound.config_specs import MAX_RANGE_ADDRESSES, GroupDefaults, deployments_of

ESC = "http://www.cisco.com/esc/esc"
GUIDES = Path(__file__).resolve().parents[2] / "data" / "esc_guides"
YANG_DIR = Path(__file__).resolve().parents[3] / "yang"


@pytest.fixture(scope="module")
def defaults() -> GroupDefaults:
    return GroupDefaults.from_model(YangModel.load(YANG_DIR))


def data(group_body: str) -> etree._Element:
    return etree.fromstring(
        f'<data><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t</name><deployments><deployment>'
        f"<name>d</name><vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>{group_body}"
        "</vm_group></deployment></deployments></tenant></tenants></esc_datamodel></data>")


def pool(*parts: str) -> str:
    return ("<scaling><static_ip_address_pool><network>net</network>" + "".join(parts)
            + "</static_ip_address_pool></scaling>")


def span(start: str, end: str) -> str:
    return f"<ip_address_range><start>{start}</start><end>{end}</end></ip_address_range>"


def addresses(defaults: GroupDefaults, body: str) -> tuple[str, ...]:
    (spec,) = deployments_of(data(body), defaults).values()
    return spec.vm_groups[0].scaling.static_ip_pools[0].ip_addresses


def test_address_ranges_join_the_pool_after_single_addresses(defaults: GroupDefaults) -> None:
    body = pool(span("10.0.0.254", "10.0.1.1"), "<ip_address>10.0.0.5</ip_address>",
                "<ip_address>10.0.1.0</ip_address>")
    assert addresses(defaults, body) == ("10.0.0.5", "10.0.1.0", "10.0.0.254", "10.0.0.255", "10.0.1.1")
    assert addresses(defaults, pool(span("2001:db8::fe", "2001:db8::100"))) == (
        "2001:db8::fe", "2001:db8::ff", "2001:db8::100")


@pytest.mark.parametrize(("start", "end", "why"), [
    ("10.0.0.9", "10.0.0.1", "start is after end"),
    ("10.0.0.1", "2001:db8::1", "not of the same IP version"),
    ("10.0.0.0", "10.1.0.0", f"more than {MAX_RANGE_ADDRESSES} addresses"),
    ("fe80::1%eth0", "fe80::9%eth0", "without a zone"),
])
def test_a_range_that_is_no_range_is_refused_by_name(defaults: GroupDefaults, start: str, end: str, why: str) -> None:
    with pytest.raises(NetconfError) as refused:
        addresses(defaults, pool(span(start, end)))
    assert refused.value.tag.value == "invalid-value"
    assert why in refused.value.message and f"{start}..{end}" in refused.value.message


def test_a_threshold_is_kept_as_written(defaults: GroupDefaults) -> None:
    body = ("<kpi_data><kpi><event_name>E</event_name><metric_value>80.5</metric_value><metric_type>FLOAT</metric_type>"
            "</kpi><kpi><event_name>S</event_name><metric_value>DEGRADED</metric_value></kpi></kpi_data>")
    (spec,) = deployments_of(data(body), defaults).values()
    assert [k.metric_value for k in spec.vm_groups[0].kpis] == ["80.5", "DEGRADED"]


def test_elements_the_core_does_not_act_on_leave_the_spec_unchanged(defaults: GroupDefaults) -> None:
    """Extensions, placement, properties and the like are the datastore's: they do not make a service update."""
    plain = deployments_of(data(""), defaults)
    annotated = deployments_of(data(
        "<extensions><extension><name>NSO</name><properties><property><name>VDU</name><value>v</value></property>"
        "</properties></extension></extensions><placement><type>affinity</type></placement>"
        "<properties><property><name>p</name><value>1</value></property></properties>"), defaults)
    assert annotated == plain


@pytest.mark.parametrize("name", ["deployment_attributes.xml", "kpi_rules.xml", "nso_nfvo.xml",
                                  "day0_configuration.xml"])
def test_every_guide_file_maps_to_a_deployment(defaults: GroupDefaults, name: str) -> None:
    document = etree.parse(str(GUIDES / name), etree.XMLParser(resolve_entities=False, no_network=True))
    wrapper = etree.Element("data")
    wrapper.append(document.getroot())
    specs = deployments_of(wrapper, defaults)
    assert len(specs) == 1
    (spec,) = specs.values()
    assert spec.vm_groups and all(g.image and g.flavor for g in spec.vm_groups)


def test_a_group_without_a_locator_takes_the_deployments(defaults: GroupDefaults) -> None:
    tree = data("")
    deployment = tree.find(f".//{{{ESC}}}deployment")
    assert deployment is not None
    deployment.insert(1, etree.fromstring(
        f'<locator xmlns="{ESC}"><vim_id>vim-b</vim_id><vim_project>proj-b</vim_project></locator>'))
    own = etree.fromstring(
        f'<vm_group xmlns="{ESC}"><name>h</name><image>cirros</image><flavor>m1.tiny</flavor>'
        "<locator><vim_id>vim-c</vim_id></locator></vm_group>")
    deployment.append(own)
    (spec,) = deployments_of(tree, defaults).values()
    assert [(g.name, g.vim_id, g.vim_project) for g in spec.vm_groups] == [
        ("g", "vim-b", "proj-b"), ("h", "vim-c", None)]
