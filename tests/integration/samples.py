"""Deployment documents the integration tests send, as an operator would write them."""

from __future__ import annotations

ESC_NS = "http://www.cisco.com/esc/esc"


def vm_group(
    name: str,
    *,
    image: str = "cirros",
    flavor: str = "m1.tiny",
    min_active: int = 1,
    max_active: int = 2,
    network: str = "net-mgmt",
    pool: list[str] | None = None,
    boot_volume: bool = False,
    recovery_wait_time: int = 5,
    bootup_time: int = 60,
) -> str:
    pool_xml = ""
    if pool is not None:
        addresses = "".join(f"<ip_address>{ip}</ip_address>" for ip in pool)
        pool_xml = f"<static_ip_address_pool><network>{network}</network>{addresses}</static_ip_address_pool>"
    volume_xml = ""
    if boot_volume:
        volume_xml = (
            "<volumes><volume><name>boot</name><size>1</size><sizeunit>GiB</sizeunit><bus>virtio</bus>"
            f"<type>LVM</type><boot_index>0</boot_index><image>{image}</image></volume></volumes>"
        )
    return (
        f"<vm_group><name>{name}</name><image>{image}</image><flavor>{flavor}</flavor>"
        f"<bootup_time>{bootup_time}</bootup_time><recovery_wait_time>{recovery_wait_time}</recovery_wait_time>"
        f"<interfaces><interface><nicid>0</nicid><network>{network}</network></interface></interfaces>"
        f"{volume_xml}"
        f"<scaling><min_active>{min_active}</min_active><max_active>{max_active}</max_active>{pool_xml}</scaling>"
        "</vm_group>"
    )


def deployment(tenant: str, name: str, groups: list[str], depends: dict[str, list[str]] | None = None) -> str:
    policies = ""
    if depends:
        rules = "".join(
            f"<startup><target_vm_group_ref>{target}</target_vm_group_ref>"
            + "".join(f"<depends_on><vm_group_ref>{d}</vm_group_ref></depends_on>" for d in deps)
            + "</startup>"
            for target, deps in depends.items()
        )
        policies = f"<policies>{rules}</policies>"
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<esc_datamodel xmlns="{ESC_NS}"><tenants><tenant><name>{tenant}</name><deployments>'
        f"<deployment><name>{name}</name>{''.join(groups)}{policies}</deployment>"
        "</deployments></tenant></tenants></esc_datamodel></config>"
    )


def delete_deployment(tenant: str, name: str) -> str:
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
        f'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<esc_datamodel xmlns="{ESC_NS}"><tenants><tenant><name>{tenant}</name><deployments>'
        f'<deployment nc:operation="delete"><name>{name}</name></deployment>'
        "</deployments></tenant></tenants></esc_datamodel></config>"
    )


def tenant_only(tenant: str) -> str:
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<esc_datamodel xmlns="{ESC_NS}"><tenants><tenant><name>{tenant}</name></tenant></tenants>'
        "</esc_datamodel></config>"
    )


def without_config_wrapper(config: str) -> str:
    """The ``<esc_datamodel>`` document alone, as operators keep it in files for netconf-console."""
    start = config.index("<esc_datamodel")
    end = config.rindex("</config>")
    return config[start:end]
