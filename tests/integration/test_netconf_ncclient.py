"""The NETCONF foundation through ncclient, against a live server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError
from ncclient.transport.errors import AuthenticationError, TransportError

from tests.integration import samples
from tests.integration.server_process import ServerProcess

ESC = samples.ESC_NS
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
MON = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


def connect(server: ServerProcess, **kwargs: object) -> manager.Manager:
    params: dict[str, object] = dict(
        host="127.0.0.1", port=server.netconf_port, username="admin", password="admin",
        hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20,
    )
    params.update(kwargs)
    return manager.connect(**params)


@pytest.fixture
def nc(shared_server: ServerProcess) -> Iterator[manager.Manager]:
    m = connect(shared_server)
    yield m
    if m.connected:
        m.close_session()


def test_hello_advertises_base_and_esc_module(nc: manager.Manager) -> None:
    caps = list(nc.server_capabilities)
    assert "urn:ietf:params:netconf:base:1.1" in caps
    assert "urn:ietf:params:netconf:capability:notification:1.0" in caps
    esc = [c for c in caps if c.startswith(ESC)]
    assert esc and "module=esc" in esc[0] and "revision=2026-11-25" in esc[0]
    assert nc.session_id is not None and int(nc.session_id) > 0


def test_edit_then_get_config_with_subtree_and_xpath_filters(nc: manager.Manager) -> None:
    nc.edit_config(target="running", config=samples.tenant_only("filter-tenant-a"))
    nc.edit_config(target="running", config=samples.tenant_only("filter-tenant-b"))
    subtree = (
        f'<esc_datamodel xmlns="{ESC}"><tenants><tenant><name>filter-tenant-b</name></tenant></tenants></esc_datamodel>'
    )
    reply = nc.get_config(source="running", filter=("subtree", subtree))
    names = reply.data_ele.xpath("//e:tenant/e:name/text()", namespaces={"e": ESC})
    assert names == ["filter-tenant-b"]
    reply = nc.get_config(
        source="running", filter=("xpath", "esc_datamodel/tenants/tenant[name='filter-tenant-a']")
    )
    names = reply.data_ele.xpath("//e:tenant/e:name/text()", namespaces={"e": ESC})
    assert names == ["filter-tenant-a"]


def test_invalid_value_is_refused_with_error_path_and_nothing_changes(nc: manager.Manager) -> None:
    before = nc.get_config(source="running").data_xml
    bad = samples.deployment("bad-tenant", "dep", [samples.vm_group("g", min_active=3, max_active=2)])
    with pytest.raises(RPCError) as info:
        nc.edit_config(target="running", config=bad)
    assert info.value.tag in ("operation-failed", "invalid-value")
    assert "min_active" in (info.value.message or "")
    bad_type = samples.tenant_only("t").replace("<name>t</name>", "<name>t</name><bogus>1</bogus>")
    with pytest.raises(RPCError) as info:
        nc.edit_config(target="running", config=bad_type)
    assert info.value.tag == "unknown-element"
    assert nc.get_config(source="running").data_xml == before


def test_unknown_operation_is_operation_not_supported(nc: manager.Manager) -> None:
    with pytest.raises(RPCError) as info:
        nc.dispatch(etree.fromstring('<frobnicate xmlns="urn:example:nothing"/>'))
    assert info.value.tag == "operation-not-supported"


def test_unsupported_datastore_is_invalid_value(nc: manager.Manager) -> None:
    with pytest.raises(RPCError) as info:
        nc.get_config(source="candidate")
    assert info.value.tag == "invalid-value"


def test_get_schema_serves_the_esc_module(nc: manager.Manager) -> None:
    reply = nc.get_schema("esc")
    assert "module esc" in reply.data
    assert "namespace \"http://www.cisco.com/esc/esc\"" in reply.data
    with pytest.raises(RPCError):
        nc.get_schema("no-such-module")


def test_monitoring_state_lists_sessions_and_schemas(shared_server: ServerProcess, nc: manager.Manager) -> None:
    other = connect(shared_server)
    try:
        reply = nc.get(filter=("subtree", f'<netconf-state xmlns="{MON}"><sessions/><schemas/></netconf-state>'))
        ids = reply.data_ele.xpath("//m:session/m:session-id/text()", namespaces={"m": MON})
        assert str(nc.session_id) in ids and str(other.session_id) in ids
        users = reply.data_ele.xpath("//m:session/m:username/text()", namespaces={"m": MON})
        assert set(users) == {"admin"}
        schemas = reply.data_ele.xpath("//m:schema/m:identifier/text()", namespaces={"m": MON})
        assert "esc" in schemas
    finally:
        other.close_session()


def test_lock_contention_names_the_holder_and_blocks_edits(shared_server: ServerProcess) -> None:
    a, b = connect(shared_server), connect(shared_server)
    try:
        a.lock("running")
        with pytest.raises(RPCError) as info:
            b.lock("running")
        assert info.value.tag == "lock-denied"
        assert info.value.info is not None and f"<session-id>{a.session_id}</session-id>" in info.value.info.replace(
            ' xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"', ""
        )
        with pytest.raises(RPCError) as info:
            b.edit_config(target="running", config=samples.tenant_only("locked-out"))
        assert info.value.tag == "in-use"
        a.edit_config(target="running", config=samples.tenant_only("lock-owner-edit"))
        a.unlock("running")
        b.lock("running")
        b.unlock("running")
    finally:
        a.close_session()
        b.close_session()


def test_lock_is_released_when_the_holder_disconnects(shared_server: ServerProcess) -> None:
    a, b = connect(shared_server), connect(shared_server)
    a.lock("running")
    a.close_session()
    deadline = time.monotonic() + 5
    while True:
        try:
            b.lock("running")
            break
        except RPCError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    b.unlock("running")
    b.close_session()


def test_kill_session_ends_the_target(shared_server: ServerProcess) -> None:
    a, b = connect(shared_server), connect(shared_server)
    b.lock("running")
    with pytest.raises(RPCError) as info:
        a.kill_session(a.session_id)
    assert info.value.tag == "invalid-value"
    a.kill_session(b.session_id)
    deadline = time.monotonic() + 5
    while b.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not b.connected
    a.lock("running")  # the killed session's lock is gone
    a.unlock("running")
    with pytest.raises(RPCError) as info:
        a.kill_session("99999")
    assert info.value.tag == "invalid-value"
    a.close_session()


def test_wrong_password_is_refused(shared_server: ServerProcess) -> None:
    with pytest.raises((AuthenticationError, TransportError)):
        connect(shared_server, password="wrong")


def test_validate_running_and_inline_config(nc: manager.Manager) -> None:
    nc.validate(source="running")
    bad = etree.fromstring(
        samples.deployment("v", "d", [samples.vm_group("g", min_active=5, max_active=1)])
    )
    with pytest.raises(RPCError):
        nc.validate(source=bad)


def test_rollback_on_error_leaves_nothing_half_done(nc: manager.Manager) -> None:
    before = nc.get_config(source="running").data_xml
    config = (
        f'<config xmlns="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants>'
        "<tenant><name>rollback-good</name></tenant>"
        "<tenant><name>rollback-bad</name><bogus/></tenant>"
        "</tenants></esc_datamodel></config>"
    )
    with pytest.raises(RPCError):
        nc.edit_config(target="running", config=config, error_option="rollback-on-error")
    assert nc.get_config(source="running").data_xml == before


def test_create_and_delete_operations(nc: manager.Manager) -> None:
    create = samples.tenant_only("create-me").replace(
        "<tenant>", '<tenant xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="create">'
    )
    nc.edit_config(target="running", config=create)
    with pytest.raises(RPCError) as info:
        nc.edit_config(target="running", config=create)
    assert info.value.tag == "data-exists"
    delete = create.replace('nc:operation="create"', 'nc:operation="delete"')
    nc.edit_config(target="running", config=delete)
    with pytest.raises(RPCError) as info:
        nc.edit_config(target="running", config=delete)
    assert info.value.tag == "data-missing"
    remove = create.replace('nc:operation="create"', 'nc:operation="remove"')
    nc.edit_config(target="running", config=remove)  # remove of a missing entry is not an error


def test_unqualified_config_and_filter_strings_as_ncclient_documents_them(nc: manager.Manager) -> None:
    config = (
        '<config xmlns:xc="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<esc_datamodel xmlns="{ESC}"><tenants><tenant><name>unqualified</name></tenant></tenants></esc_datamodel>'
        "</config>"
    )
    nc.edit_config(target="running", config=config)
    reply = nc.get(filter=f'<filter type="subtree"><netconf-state xmlns="{MON}"><statistics/></netconf-state></filter>')
    assert reply.data_ele.find(f"{{{ESC}}}esc_datamodel") is None, "the filter must apply"
    assert reply.data_ele.find(f"{{{MON}}}netconf-state/{{{MON}}}statistics") is not None


def test_unknown_parameter_is_refused(nc: manager.Manager) -> None:
    with pytest.raises(RPCError) as info:
        nc.dispatch(etree.fromstring(f'<get-config xmlns="{BASE}"><source><running/></source><bogus/></get-config>'))
    assert info.value.tag == "unknown-element"


def test_protocol_modules_are_announced_and_served(nc: manager.Manager) -> None:
    caps = list(nc.server_capabilities)
    for module in ("ietf-netconf-monitoring", "ietf-netconf-notifications"):
        assert any(f"module={module}&" in c for c in caps), module
        assert f"module {module}" in nc.get_schema(module).data
