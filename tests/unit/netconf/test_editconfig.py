"""apply_edit: RFC 6241 section 7.2 edit-config semantics over lxml trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.editconfig import (
    DefaultOperation,
    ErrorOption,
    TestOption as EditTestOption,
    apply_edit,
    canonical_bytes,
    changed_subtrees,
    parse_option,
)
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, NetconfError, NetconfErrors
from esc_netconf.netconf.yangmodel import YangModel

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"
T = f"{{{ESC}}}"


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


def tenants(inner: str, *, root: str = "data") -> etree._Element:
    return etree.fromstring(f'<{root} xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}"><esc_datamodel xmlns="{ESC}">'
                            f"<tenants>{inner}</tenants></esc_datamodel></{root}>")


def config(inner: str) -> etree._Element:
    return tenants(inner, root="config")


def group(name: str = "g", extra: str = "") -> str:
    return f"<vm_group><name>{name}</name><image>i</image><flavor>f</flavor>{extra}</vm_group>"


def tenant(name: str = "t", deployments: str = "", attrs: str = "") -> str:
    body = f"<deployments>{deployments}</deployments>" if deployments else ""
    return f"<tenant{attrs}><name>{name}</name>{body}</tenant>"


def deployment(name: str = "d", body: str = "", attrs: str = "") -> str:
    return f"<deployment{attrs}><name>{name}</name>{body}</deployment>"


def apply(model: YangModel, data: etree._Element, edit: etree._Element, **options: object) -> etree._Element:
    return apply_edit(data, edit, model, **options)  # type: ignore[arg-type]


def fail(model: YangModel, data: etree._Element, edit: etree._Element, **options: object) -> NetconfError:
    before = canonical_bytes(data)
    with pytest.raises(NetconfError) as caught:
        apply(model, data, edit, **options)
    assert canonical_bytes(data) == before
    return caught.value


def groups(result: etree._Element) -> list[str]:
    return [g.findtext(f"{T}name") or "" for g in result.iter(f"{T}vm_group")]


EMPTY = etree.fromstring(f'<data xmlns="{BASE_NS}"/>')


# ---------------------------------------------------------------- merge

def test_merge_creates_ancestors_and_keeps_input(model: YangModel) -> None:
    edit = config(tenant(deployments=deployment(body=group())))
    result = apply(model, EMPTY, edit)
    assert groups(result) == ["g"]
    assert len(EMPTY) == 0
    dep = result.find(f".//{T}deployment")
    assert dep is not None and dep.nsmap[None] == ESC and dep.prefix is None


def test_merge_updates_leaf_and_adds_entries(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant(deployments=deployment(body=group()))))
    edit = config(tenant(deployments=deployment(
        body="<vm_group><name>g</name><flavor>m1.large</flavor></vm_group>" + group("h"))))
    result = apply(model, data, edit)
    assert groups(result) == ["g", "h"]
    g = result.find(f".//{T}vm_group")
    assert g is not None and g.findtext(f"{T}flavor") == "m1.large" and g.findtext(f"{T}image") == "i"


def test_list_keys_are_placed_first(model: YangModel) -> None:
    edit = config("<tenant><description>x</description><name>t</name></tenant>")
    result = apply(model, EMPTY, edit)
    entry = result.find(f".//{T}tenant")
    assert entry is not None and [etree.QName(c).localname for c in entry] == ["name", "description"]


def test_leaf_list_merge_by_value(model: YangModel) -> None:
    def pool(*ips: str, attrs: str = "") -> etree._Element:
        addresses = "".join(f"<ip_address{attrs}>{ip}</ip_address>" for ip in ips)
        scaling = (f"<scaling><static_ip_address_pool><network>n</network>{addresses}"
                   "</static_ip_address_pool></scaling>")
        return config(tenant(deployments=deployment(body=group(extra=scaling))))
    data = apply(model, EMPTY, pool("10.0.0.1", "10.0.0.2"))
    data = apply(model, data, pool("10.0.0.2", "10.0.0.3"))
    assert [e.text for e in data.iter(f"{T}ip_address")] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    data = apply(model, data, pool("10.0.0.2", attrs=' nc:operation="delete"'))
    assert [e.text for e in data.iter(f"{T}ip_address")] == ["10.0.0.1", "10.0.0.3"]
    error = fail(model, data, pool("10.0.0.1", attrs=' nc:operation="create"'))
    assert error.tag is ErrorTag.DATA_EXISTS and error.path is not None and "[.='10.0.0.1']" in error.path


# ---------------------------------------------------------------- replace, create, delete, remove

def test_replace_drops_what_the_edit_does_not_mention(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant(deployments=deployment(
        body=group(extra="<bootup_time>60</bootup_time>") + group("h")))))
    result = apply(model, data, config(tenant(deployments=deployment(
        body=group(), attrs=' nc:operation="replace"'))))
    assert groups(result) == ["g"]
    assert result.find(f".//{T}bootup_time") is None
    assert result.find(f".//{T}deployment/{T}name") is not None


def test_replace_of_absent_entry_creates_it(model: YangModel) -> None:
    result = apply(model, EMPTY, config(tenant(deployments=deployment(body=group(), attrs=' nc:operation="replace"'))))
    assert groups(result) == ["g"]


def test_create(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant(deployments=deployment(body=group(), attrs=' nc:operation="create"'))))
    assert groups(data) == ["g"]
    error = fail(model, data, config(tenant(deployments=deployment(body=group(), attrs=' nc:operation="create"'))))
    assert error.tag is ErrorTag.DATA_EXISTS
    assert error.path == "/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='t']/esc:deployments/" \
                         "esc:deployment[esc:name='d']"
    assert error.path_nsmap == {"esc": ESC}


def test_delete_and_remove(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant(deployments=deployment(body=group() + group("h")))))
    result = apply(model, data, config(tenant(deployments=deployment(
        body='<vm_group nc:operation="delete"><name>h</name></vm_group>'))))
    assert groups(result) == ["g"]
    error = fail(model, result, config(tenant(deployments=deployment(
        body='<vm_group nc:operation="delete"><name>h</name></vm_group>'))))
    assert error.tag is ErrorTag.DATA_MISSING
    same = apply(model, result, config(tenant(deployments=deployment(
        body='<vm_group nc:operation="remove"><name>h</name></vm_group>'))))
    assert canonical_bytes(same) == canonical_bytes(result)


def test_operation_at_depth_inside_merge(model: YangModel) -> None:
    body = group(extra="<bootup_time>60</bootup_time>")
    data = apply(model, EMPTY, config(tenant(deployments=deployment(body=body))))
    result = apply(model, data, config(tenant(deployments=deployment(
        body='<vm_group><name>g</name><bootup_time nc:operation="delete"/><flavor>big</flavor></vm_group>'))))
    g = result.find(f".//{T}vm_group")
    assert g is not None and g.find(f"{T}bootup_time") is None and g.findtext(f"{T}flavor") == "big"


def test_deleting_last_entry_leaves_no_empty_containers(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant(deployments=deployment(body=group()))))
    result = apply(model, data, config(tenant(deployments=deployment(attrs=' nc:operation="delete"'))))
    assert result.find(f".//{T}deployments") is None
    assert result.find(f".//{T}tenant/{T}name") is not None


# ---------------------------------------------------------------- default-operation

def test_default_operation_none_creates_nothing(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant(deployments=deployment(body=group()))))
    error = fail(model, data, config(tenant("other", deployments=deployment(body=group()))),
                 default_operation=DefaultOperation.NONE)
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.path == "/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='other']"
    # an explicit operation still applies, below existing ancestors
    result = apply(model, data, config(tenant(deployments=deployment(body=group("h", extra="").replace(
        "<vm_group>", '<vm_group nc:operation="create">')))), default_operation=DefaultOperation.NONE)
    assert groups(result) == ["g", "h"]
    # leaves without an operation are left alone under none
    unchanged = apply(model, data, config(tenant(deployments=deployment(
        body="<vm_group><name>g</name><image>other</image></vm_group>"))), default_operation=DefaultOperation.NONE)
    assert canonical_bytes(unchanged) == canonical_bytes(data)


def test_default_operation_none_remove_of_absent_is_fine(model: YangModel) -> None:
    result = apply(model, EMPTY, config(tenant("x", attrs=' nc:operation="remove"')),
                   default_operation=DefaultOperation.NONE)
    assert canonical_bytes(result) == canonical_bytes(EMPTY)


def test_default_operation_replace_replaces_everything(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant("a") + tenant("b", deployments=deployment(body=group()))))
    result = apply(model, data, config(tenant("c")), default_operation=DefaultOperation.REPLACE)
    assert [t.findtext(f"{T}name") for t in result.iter(f"{T}tenant")] == ["c"]
    wiped = apply(model, data, etree.fromstring(f'<config xmlns="{BASE_NS}"/>'),
                  default_operation=DefaultOperation.REPLACE)
    assert len(wiped) == 0


# ---------------------------------------------------------------- errors

def test_unknown_namespace_element_and_bad_operation(model: YangModel) -> None:
    error = fail(model, EMPTY, etree.fromstring(f'<config xmlns="{BASE_NS}"><x xmlns="urn:nope"/></config>'))
    assert error.tag is ErrorTag.UNKNOWN_NAMESPACE and error.info["bad-namespace"] == "urn:nope"
    error = fail(model, EMPTY, config("<tenant><name>t</name><colour>red</colour></tenant>"))
    assert error.tag is ErrorTag.UNKNOWN_ELEMENT and error.info == {"bad-element": "colour"}
    assert error.path == "/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='t']"
    error = fail(model, EMPTY, config(tenant(attrs=' nc:operation="destroy"')))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE
    assert error.info == {"bad-attribute": "operation", "bad-element": "tenant"}
    error = fail(model, EMPTY, config(tenant(attrs=' nc:operation="none"')))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE


def test_missing_key_in_edit(model: YangModel) -> None:
    error = fail(model, EMPTY, config("<tenant><description>x</description></tenant>"))
    assert error.tag is ErrorTag.MISSING_ELEMENT and error.info == {"bad-element": "name"}


def test_state_data_cannot_be_edited(model: YangModel) -> None:
    edit = etree.fromstring(
        f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><opdata/></esc_datamodel></config>')
    assert fail(model, EMPTY, edit).tag is ErrorTag.UNKNOWN_ELEMENT


def test_error_options(model: YangModel) -> None:
    edit = config(tenant("a", attrs=' nc:operation="delete"') + tenant("b", attrs=' nc:operation="delete"'))
    for option in (ErrorOption.STOP_ON_ERROR, ErrorOption.ROLLBACK_ON_ERROR):
        error = fail(model, EMPTY, edit, error_option=option)
        assert not isinstance(error, NetconfErrors) and "'a'" in str(error.path)
    errors = fail(model, EMPTY, edit, error_option=ErrorOption.CONTINUE_ON_ERROR)
    assert isinstance(errors, NetconfErrors)
    assert [e.path for e in errors] == [f"/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='{n}']" for n in "ab"]


def test_continue_on_error_applies_nothing(model: YangModel) -> None:
    edit = config(tenant("new") + tenant("b", attrs=' nc:operation="delete"'))
    fail(model, EMPTY, edit, error_option=ErrorOption.CONTINUE_ON_ERROR)
    assert len(EMPTY) == 0


def test_parse_option() -> None:
    assert parse_option(EditTestOption, "test-only", "test-option") is EditTestOption.TEST_ONLY
    assert parse_option(DefaultOperation, DefaultOperation.NONE, "default-operation") is DefaultOperation.NONE
    with pytest.raises(NetconfError) as caught:
        parse_option(ErrorOption, "ignore-errors", "error-option")
    assert caught.value.tag is ErrorTag.INVALID_VALUE and caught.value.info == {"bad-element": "error-option"}


def test_changed_subtrees(model: YangModel) -> None:
    data = apply(model, EMPTY, config(tenant()))
    assert changed_subtrees(EMPTY, data) == (f"{T}esc_datamodel",)
    assert changed_subtrees(data, apply(model, data, config(tenant()))) == ()
