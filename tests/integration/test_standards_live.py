"""What a standards-driven client (libnetconf2/libyang, yanglint, pyang) relies on, checked through ncclient
against a live server: the hello's capabilities and features, the YANG library, get-schema of every module
(and that the served set parses on its own), RFC 6022 error tags, and RFC 6470 config-change contents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError
from pyang import context as pyang_context
from pyang import error as pyang_error
from pyang import repository as pyang_repository

from esc_netconf.netconf.capabilities import PROTOCOL_CAPABILITIES
from esc_netconf.netconf.yangmodel import YangModel
from tests.integration.server_process import ServerProcess

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
ESC = "http://www.cisco.com/esc/esc"
YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
MON = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
NS = {"yl": YL, "mon": MON, "ncn": NCN}
YANG_LIBRARY_CAP = re.compile(
    r"^urn:ietf:params:netconf:capability:yang-library:1\.0\?revision=2019-01-04&module-set-id=([0-9a-f]{16})$")


def connect(server: ServerProcess) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=server.netconf_port, username="admin", password="admin",
                           hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=20)


@pytest.fixture
def nc(shared_server: ServerProcess) -> Iterator[manager.Manager]:
    m = connect(shared_server)
    yield m
    if m.connected:
        m.close_session()


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


def library_modules(nc: manager.Manager) -> dict[str, tuple[str, bool]]:
    """name -> (revision, implemented) from /yang-library."""
    tree = nc.get(filter=("subtree", f'<yang-library xmlns="{YL}"/>')).data_ele
    found: dict[str, tuple[str, bool]] = {}
    for kind, implemented in (("module", True), ("import-only-module", False)):
        for entry in tree.iterfind(f"yl:yang-library/yl:module-set/yl:{kind}", NS):
            found[entry.findtext("yl:name", namespaces=NS) or ""] = (
                entry.findtext("yl:revision", namespaces=NS) or "", implemented)
    return found


def library_submodules(nc: manager.Manager) -> dict[str, str]:
    """name -> revision of the submodules /yang-library lists under their modules."""
    tree = nc.get(filter=("subtree", f'<yang-library xmlns="{YL}"/>')).data_ele
    return {entry.findtext("yl:name", namespaces=NS) or "": entry.findtext("yl:revision", namespaces=NS) or ""
            for entry in tree.iterfind("yl:yang-library/yl:module-set/yl:module/yl:submodule", NS)}


def test_hello_announces_exactly_what_the_server_implements(nc: manager.Manager, model: YangModel) -> None:
    caps = list(nc.server_capabilities)
    esc_revision = next(m.revision for m in model.modules if m.name == "esc")
    modules = sorted(c for c in caps if "?module=" in c)
    assert modules == sorted([
        f"{ESC}?module=esc&revision={esc_revision}",
        "urn:ietf:params:xml:ns:netconf:base:1.0?module=ietf-netconf&revision=2011-06-01"
        "&features=writable-running,rollback-on-error,validate,xpath",
        "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring?module=ietf-netconf-monitoring&revision=2010-10-04",
        "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications?module=ietf-netconf-notifications"
        "&revision=2012-02-06",
        "urn:ietf:params:xml:ns:netconf:notification:1.0?module=notifications&revision=2008-07-14",
        "urn:ietf:params:xml:ns:netmod:notification?module=nc-notifications&revision=2008-07-14",
        "urn:ietf:params:xml:ns:yang:ietf-yang-library?module=ietf-yang-library&revision=2019-01-04",
        "urn:ietf:params:xml:ns:yang:ietf-datastores?module=ietf-datastores&revision=2018-02-14",
    ])
    library = [c for c in caps if c.startswith("urn:ietf:params:netconf:capability:yang-library:")]
    assert len(library) == 1 and YANG_LIBRARY_CAP.match(library[0]), library
    protocol = [c for c in caps if "?" not in c]
    assert protocol == list(PROTOCOL_CAPABILITIES)
    assert not any(":candidate:" in c or ":startup:" in c or ":url:" in c for c in caps)


def test_yang_library_agrees_with_the_hello_and_netconf_state(nc: manager.Manager) -> None:
    data = nc.get(filter=f'<filter type="subtree"><yang-library xmlns="{YL}"/><modules-state xmlns="{YL}"/>'
                         f'<netconf-state xmlns="{MON}"><schemas/></netconf-state></filter>').data_ele
    set_id = YANG_LIBRARY_CAP.match(next(c for c in nc.server_capabilities if "yang-library:1.0" in c))
    assert set_id is not None
    assert data.findtext("yl:yang-library/yl:content-id", namespaces=NS) == set_id.group(1)
    assert data.findtext("yl:modules-state/yl:module-set-id", namespaces=NS) == set_id.group(1)

    library = library_modules(nc)
    announced = {c.split("module=")[1].split("&")[0] for c in nc.server_capabilities if "?module=" in c}
    assert {name for name, (_, implemented) in library.items() if implemented} == announced
    assert {"ietf-inet-types", "ietf-yang-types"} <= {n for n, (_, impl) in library.items() if not impl}
    legacy = {m.findtext("yl:name", namespaces=NS): (m.findtext("yl:revision", namespaces=NS),
                                                     m.findtext("yl:conformance-type", namespaces=NS) == "implement")
              for m in data.iterfind("yl:modules-state/yl:module", NS)}
    assert legacy == library
    schemas = {(s.findtext("mon:identifier", namespaces=NS), s.findtext("mon:version", namespaces=NS))
               for s in data.iterfind("mon:netconf-state/mon:schemas/mon:schema", NS)}
    submodules = {(s.findtext("yl:name", namespaces=NS), s.findtext("yl:revision", namespaces=NS))
                  for s in data.iterfind("yl:yang-library/yl:module-set/yl:module/yl:submodule", NS)}
    assert any(name == "esc-config" for name, _ in submodules)
    assert schemas == {(name, revision) for name, (revision, _) in library.items()} | submodules


def test_modules_state_answers_the_xpath_filter_libnetconf2_sends(nc: manager.Manager) -> None:
    reply = nc.get(filter=("xpath", ({"yl": YL}, "/yl:modules-state")))
    names = reply.data_ele.xpath("yl:modules-state/yl:module/yl:name/text()", namespaces=NS)
    assert "ietf-netconf" in names and "esc" in names
    assert reply.data_ele.find("yl:yang-library", NS) is None


@pytest.mark.parametrize("how", ["subtree", "xpath", "none"])
def test_datastore_identities_keep_their_prefix_through_filters(nc: manager.Manager, how: str) -> None:
    """``ds:running`` is an identityref: its prefix must be declared wherever a filter copies the leaf."""
    if how == "subtree":
        data = nc.get(filter=("subtree", f'<yang-library xmlns="{YL}"><datastore/></yang-library>')).data_ele
    elif how == "xpath":
        data = nc.get(filter=("xpath", ({"yl": YL}, "/yl:yang-library/yl:datastore/yl:name"))).data_ele
    else:
        data = nc.get().data_ele
    names = data.findall("yl:yang-library/yl:datastore/yl:name", NS)
    assert [n.text for n in names] == ["ds:running", "ds:operational"]
    assert all(n.nsmap.get("ds") == "urn:ietf:params:xml:ns:yang:ietf-datastores" for n in names)


def test_get_schema_serves_every_module_and_the_set_parses_on_its_own(nc: manager.Manager, tmp_path: Path) -> None:
    library = library_modules(nc)
    assert len(library) >= 10
    submodules = library_submodules(nc)
    assert "esc-config" in submodules
    for name, revision in [(n, r) for n, (r, _) in library.items()] + list(submodules.items()):
        text = nc.get_schema(name, version=revision).data
        assert re.match(rf"\s*(module|submodule)\s+{re.escape(name)}\s*\{{", text), name
        assert nc.get_schema(name).data == text  # one revision each: no version needed
        (tmp_path / f"{name}@{revision}.yang").write_text(text, encoding="utf-8")
    # pyang, searching only what the server served: every import resolves and every module validates
    ctx = pyang_context.Context(pyang_repository.FileRepository(str(tmp_path), use_env=False))
    for path in sorted(tmp_path.glob("*.yang")):
        assert ctx.add_module(str(path), path.read_text(encoding="utf-8")) is not None, path.name
    ctx.validate()
    errors = [f"{pos}: {pyang_error.err_to_str(tag, args)}" for pos, tag, args in ctx.errors
              if pyang_error.is_error(pyang_error.err_level(tag))]
    assert errors == []


def test_a_whole_get_belongs_to_the_served_modules_and_satisfies_them(nc: manager.Manager, model: YangModel) -> None:
    data = nc.get().data_ele
    tops = {etree.QName(child).localname for child in data}
    assert {"netconf-state", "netconf", "yang-library", "modules-state"} <= tops
    model.validate_data(data)  # an element from an unknown module or an invalid value raises


@pytest.mark.parametrize(("identifier", "version", "fmt", "tag", "bad"), [
    ("no-such-module", None, None, "invalid-value", "identifier"),
    ("esc", "1999-01-01", None, "invalid-value", "version"),
    ("notifications", "2013-09-29", None, "invalid-value", "version"),
    ("esc", None, "yin", "invalid-value", "format"),
])
def test_get_schema_errors_are_rfc_6022s(nc: manager.Manager, identifier: str, version: str | None,
                                         fmt: str | None, tag: str, bad: str) -> None:
    with pytest.raises(RPCError) as info:
        nc.get_schema(identifier, version=version, format=fmt)
    assert info.value.tag == tag
    assert bad in etree.tostring(info.value.xml).decode()


def test_get_schema_without_identifier_is_missing_element(nc: manager.Manager) -> None:
    with pytest.raises(RPCError) as info:
        nc.dispatch(etree.fromstring(f'<get-schema xmlns="{MON}"><version>2008-07-14</version></get-schema>'))
    assert info.value.tag == "missing-element"


def _config(body: str) -> str:
    return (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
            f'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><esc_datamodel xmlns="{ESC}"><tenants>'
            f"{body}</tenants></esc_datamodel></config>")


def _next_config_change(watcher: manager.Manager) -> list[tuple[str, str, dict[str, str]]]:
    for _ in range(20):
        notification = watcher.take_notification(block=True, timeout=10)
        assert notification is not None, "no netconf-config-change arrived"
        event = etree.fromstring(notification.notification_xml.encode())
        change = event.find("ncn:netconf-config-change", NS)
        if change is not None:
            return [(e.findtext("ncn:target", namespaces=NS) or "", e.findtext("ncn:operation", namespaces=NS) or "",
                     dict(e.find("ncn:target", NS).nsmap))  # type: ignore[union-attr]
                    for e in change.iterfind("ncn:edit", NS)]
    raise AssertionError("only other events on the NETCONF stream")


def test_config_change_names_each_changed_node_and_its_operation(shared_server: ServerProcess) -> None:
    watcher, editor = connect(shared_server), connect(shared_server)
    try:
        watcher.create_subscription(stream_name="NETCONF")
        tenant = "/esc:esc_datamodel/esc:tenants/esc:tenant"
        editor.edit_config(target="running", config=_config(
            "<tenant nc:operation='create'><name>cc-a</name></tenant><tenant><name>cc-b</name></tenant>"))
        edits = _next_config_change(watcher)
        assert sorted((t, op) for t, op, _ in edits) == [(f"{tenant}[esc:name='cc-a']", "create"),
                                                          (f"{tenant}[esc:name='cc-b']", "merge")]
        assert all(nsmap.get("esc") == ESC for _, _, nsmap in edits)

        editor.edit_config(target="running", config=_config(
            "<tenant><name>cc-b</name><description>now described</description></tenant>"))
        assert [(t, op) for t, op, _ in _next_config_change(watcher)] == [
            (f"{tenant}[esc:name='cc-b']/esc:description", "merge")]

        editor.edit_config(target="running", config=_config(
            "<tenant nc:operation='delete'><name>cc-a</name></tenant>"
            "<tenant><name>cc-b</name><description nc:operation='remove'/></tenant>"))
        assert sorted((t, op) for t, op, _ in _next_config_change(watcher)) == [
            (f"{tenant}[esc:name='cc-a']", "delete"), (f"{tenant}[esc:name='cc-b']/esc:description", "remove")]
    finally:
        editor.close_session()
        watcher.close_session()
