"""Subtree filters (RFC 6241 section 6.4 examples) and XPath filters as ESC clients send them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from lxml import etree

from esc_netconf.netconf.errors import ErrorTag, NetconfError
from esc_netconf.netconf.filters import (
    FilterType,
    apply_filter,
    parse_filter,
    rewrite_xpath,
    subtree_filter,
    xpath_filter,
)
from esc_netconf.netconf.messages import BASE_NS, NOTIFICATION_NS

T = "http://example.com/schema/1.2/config"
ESC = "http://www.cisco.com/esc/esc"

RFC_DATA = f"""
<data xmlns="{BASE_NS}"><top xmlns="{T}">
  <users>
    <user><name>root</name><type>superuser</type><full-name>Charlie Root</full-name>
      <company-info><dept>1</dept><id>1</id></company-info></user>
    <user><name>fred</name><type>admin</type><full-name>Fred Flintstone</full-name>
      <company-info><dept>2</dept><id>2</id></company-info></user>
    <user><name>barney</name><type>admin</type><full-name>Barney Rubble</full-name>
      <company-info><dept>2</dept><id>3</id></company-info></user>
  </users>
  <interfaces>
    <interface ifName="eth0"><ifInErrors>45621</ifInErrors></interface>
    <interface ifName="eth1"><ifInErrors>0</ifInErrors></interface>
  </interfaces>
</top></data>"""


def data() -> etree._Element:
    return etree.fromstring(RFC_DATA.encode(), etree.XMLParser(remove_blank_text=True))


def flt(inner: str, **attrs: str) -> etree._Element:
    attributes = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return etree.fromstring(f'<filter xmlns="{BASE_NS}"{attributes}>{inner}</filter>'.encode())


def shape(element: etree._Element) -> object:
    """A compact, namespace-free picture of a tree: (name, text or [children])."""
    children = list(element.iterchildren(tag=etree.Element))
    name = etree.QName(element).localname
    if not children:
        return (name, (element.text or "").strip())
    return (name, [shape(c) for c in children])


def users(*entries: object) -> object:
    return ("data", [("top", [("users", list(entries))])])


def user_keys(path: tuple[str, ...]) -> Sequence[str]:
    return [f"{{{T}}}name"] if path and path[-1] == f"{{{T}}}user" else []


def full_user(name: str, type_: str, full: str, dept: str, id_: str) -> object:
    return ("user", [("name", name), ("type", type_), ("full-name", full),
                     ("company-info", [("dept", dept), ("id", id_)])])


ROOT = full_user("root", "superuser", "Charlie Root", "1", "1")
FRED = full_user("fred", "admin", "Fred Flintstone", "2", "2")
BARNEY = full_user("barney", "admin", "Barney Rubble", "2", "3")


def test_6_4_2_empty_filter_selects_nothing() -> None:
    result = subtree_filter(data(), flt(""))
    assert result.tag == f"{{{BASE_NS}}}data" and len(result) == 0
    assert len(subtree_filter(data(), flt("   \n "))) == 0


def test_6_4_3_select_the_entire_users_subtree() -> None:
    result = subtree_filter(data(), flt(f'<top xmlns="{T}"><users/></top>'))
    assert shape(result) == users(ROOT, FRED, BARNEY)


def test_6_4_4_select_all_name_elements() -> None:
    result = subtree_filter(data(), flt(f'<top xmlns="{T}"><users><user><name/></user></users></top>'))
    assert shape(result) == users(("user", [("name", "root")]), ("user", [("name", "fred")]),
                                  ("user", [("name", "barney")]))


def test_6_4_5_one_specific_user_entry() -> None:
    result = subtree_filter(data(), flt(f'<top xmlns="{T}"><users><user><name>fred</name></user></users></top>'))
    assert shape(result) == users(FRED)


def test_6_4_6_specific_elements_from_a_specific_entry() -> None:
    result = subtree_filter(
        data(), flt(f'<top xmlns="{T}"><users><user><name>fred</name><type/><full-name/></user></users></top>')
    )
    assert shape(result) == users(("user", [("name", "fred"), ("type", "admin"), ("full-name", "Fred Flintstone")]))


def test_6_4_7_multiple_subtrees() -> None:
    result = subtree_filter(data(), flt(f"""<top xmlns="{T}"><users>
        <user><name>root</name><company-info/></user>
        <user><name>fred</name><company-info><id/></company-info></user>
        <user><name>barney</name><type>superuser</type><company-info/></user>
    </users></top>"""))
    assert shape(result) == users(
        ("user", [("name", "root"), ("company-info", [("dept", "1"), ("id", "1")])]),
        ("user", [("name", "fred"), ("company-info", [("id", "2")])]),
    )


def test_6_4_8_elements_with_attribute_naming() -> None:
    result = subtree_filter(
        data(), flt(f'<t:top xmlns:t="{T}"><t:interfaces><t:interface ifName="eth0"/></t:interfaces></t:top>')
    )
    assert shape(result) == ("data", [("top", [("interfaces", [("interface", [("ifInErrors", "45621")])])])])
    assert result.find(f".//{{{T}}}interface").get("ifName") == "eth0"


def test_namespace_selection() -> None:
    assert len(subtree_filter(data(), flt('<top xmlns="urn:other"><users/></top>'))) == 0
    unqualified = subtree_filter(data(), flt('<top xmlns=""><users/></top>'))
    assert shape(unqualified) == users(ROOT, FRED, BARNEY)
    assert etree.QName(unqualified[0]).namespace == T


def test_unqualified_filter_inside_an_rpc_inherits_no_namespace() -> None:
    rpc = etree.fromstring(f'<rpc xmlns="{BASE_NS}"><get><filter><top><users/></top></filter></get></rpc>'.encode())
    result = subtree_filter(data(), rpc[0][0])
    assert shape(result) == users(ROOT, FRED, BARNEY)
    sub = etree.fromstring(f'<filter xmlns="{NOTIFICATION_NS}"><top><users><user><name>fred</name></user>'
                           '</users></top></filter>'.encode())
    assert shape(subtree_filter(data(), sub)) == users(FRED)


def test_content_match_on_missing_entry_selects_nothing() -> None:
    wilma = flt(f'<top xmlns="{T}"><users><user><name>wilma</name></user></users></top>')
    assert len(subtree_filter(data(), wilma)) == 0


def test_all_sibling_content_matches_must_hold() -> None:
    both = f'<top xmlns="{T}"><users><user><type>admin</type><name>barney</name></user></users></top>'
    assert shape(subtree_filter(data(), flt(both))) == users(BARNEY)
    clash = f'<top xmlns="{T}"><users><user><type>superuser</type><name>barney</name></user></users></top>'
    assert len(subtree_filter(data(), flt(clash))) == 0


def test_list_keys_of_matched_entries_are_returned() -> None:
    result = subtree_filter(
        data(), flt(f'<top xmlns="{T}"><users><user><company-info><id/></company-info></user></users></top>'),
        keys=user_keys,
    )
    assert shape(result) == users(*[("user", [("name", n), ("company-info", [("id", i)])])
                                    for n, i in (("root", "1"), ("fred", "2"), ("barney", "3"))])


def test_overlapping_subtrees_give_no_duplicates_and_document_order() -> None:
    result = subtree_filter(data(), flt(f"""<top xmlns="{T}"><users>
        <user><name>barney</name></user><user><name>root</name></user><user><name>barney</name></user>
    </users></top>"""))
    assert shape(result) == users(ROOT, BARNEY)


def test_sibling_top_level_subtrees() -> None:
    result = subtree_filter(data(), flt(f'<top xmlns="{T}"><interfaces/></top><other xmlns="urn:o"/>'))
    assert [etree.QName(e).localname for e in result[0]] == ["interfaces"]


# -- parse_filter / apply_filter ----------------------------------------------------------------


def test_parse_filter() -> None:
    assert parse_filter(None) is None
    sub = parse_filter(flt("<x/>"))
    assert sub is not None and sub.type is FilterType.SUBTREE and sub.element is not None
    xp = etree.fromstring(f'<filter xmlns="{BASE_NS}" xmlns:t="{T}" type="xpath" select="/t:top"/>'.encode())
    spec = parse_filter(xp)
    assert spec is not None and spec.type is FilterType.XPATH and spec.select == "/t:top"
    assert spec.nsmap == {"t": T}
    nc = etree.fromstring(f'<filter xmlns:nc="{BASE_NS}" nc:type="xpath" nc:select="a"/>'.encode())
    spec2 = parse_filter(nc)
    assert spec2 is not None and spec2.select == "a"


def test_parse_filter_errors() -> None:
    with pytest.raises(NetconfError) as missing:
        parse_filter(flt("", type="xpath"))
    assert missing.value.tag is ErrorTag.MISSING_ATTRIBUTE
    assert missing.value.info == {"bad-attribute": "select", "bad-element": "filter"}
    with pytest.raises(NetconfError) as bad:
        parse_filter(flt("", type="regex"))
    assert bad.value.tag is ErrorTag.BAD_ATTRIBUTE


def test_apply_filter_dispatches() -> None:
    sub = parse_filter(flt(f'<top xmlns="{T}"><users><user><name>fred</name></user></users></top>'))
    xp = parse_filter(flt("", type="xpath", select="top/users/user[name='fred']"))
    assert sub is not None and xp is not None
    assert shape(apply_filter(data(), sub)) == shape(apply_filter(data(), xp)) == users(FRED)


# -- XPath ---------------------------------------------------------------------------------------


def test_xpath_unprefixed_relative_path_as_esc_sends_it() -> None:
    esc = etree.fromstring(f"""<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><opdata><tenants>
        <tenant><name>x</name><deployments><deployment_name>d1</deployment_name>
            <state_machine><state>SERVICE_ACTIVE_STATE</state></state_machine></deployments></tenant>
        <tenant><name>y</name></tenant></tenants></opdata></esc_datamodel></data>""".encode(),
        etree.XMLParser(remove_blank_text=True))
    result = xpath_filter(esc, "esc_datamodel/opdata/tenants/tenant[name='x']", {})
    assert [t.findtext(f"{{{ESC}}}name") for t in result.iter(f"{{{ESC}}}tenant")] == ["x"]
    assert result[0].tag == f"{{{ESC}}}esc_datamodel"

    def esc_keys(path: tuple[str, ...]) -> Sequence[str]:
        last = etree.QName(path[-1]).localname
        return {"tenant": [f"{{{ESC}}}name"], "deployments": [f"{{{ESC}}}deployment_name"]}.get(last, [])

    deep = xpath_filter(
        esc, "esc_datamodel/opdata/tenants/tenant[name='x']/deployments[deployment_name='d1']/state_machine/state",
        {}, keys=esc_keys,
    )
    assert shape(deep) == ("data", [("esc_datamodel", [("opdata", [("tenants", [("tenant", [
        ("name", "x"), ("deployments", [("deployment_name", "d1"),
                                        ("state_machine", [("state", "SERVICE_ACTIVE_STATE")])])])])])])])


def test_xpath_ancestors_carry_only_their_keys() -> None:
    result = xpath_filter(data(), "top/users/user/company-info/id", {}, keys=user_keys)
    assert shape(result) == users(*[("user", [("name", n), ("company-info", [("id", i)])])
                                    for n, i in (("root", "1"), ("fred", "2"), ("barney", "3"))])
    bare = xpath_filter(data(), "top/users/user/company-info/id", {})
    assert shape(bare)[1][0][1][0][1][0] == ("user", [("company-info", [("id", "1")])])  # type: ignore[index]


def test_xpath_prefixed_absolute_path() -> None:
    result = xpath_filter(data(), "/t:top/t:users/t:user[t:name='fred']/t:type", {"t": T, None: T})  # type: ignore[dict-item]
    assert shape(result) == users(("user", [("type", "admin")]))
    assert len(xpath_filter(data(), "/t:top/t:users", {"t": "urn:wrong"})) == 0


def test_xpath_no_duplicates_and_document_order() -> None:
    result = xpath_filter(data(), "top/users/user[name='barney'] | //user[name='root'] | //user[name='barney']", {})
    assert shape(result) == users(ROOT, BARNEY)


def test_xpath_text_and_attribute_results_select_their_element() -> None:
    result = xpath_filter(data(), "//user[name='fred']/type/text()", {})
    assert shape(result) == users(("user", [("type", "admin")]))
    attr = xpath_filter(data(), "//interface/@ifName[. = 'eth1']", {})
    assert [e.get("ifName") for e in attr.iter(f"{{{T}}}interface")] == ["eth1"]


def test_xpath_root_selects_everything() -> None:
    assert shape(xpath_filter(data(), "/", {})) == shape(data())


def test_xpath_functions_and_operators_are_not_rewritten() -> None:
    result = xpath_filter(data(), "//user[count(company-info) = 1 and company-info/dept div 2 = 1]/name", {})
    assert [e.text for e in result.iter(f"{{{T}}}name")] == ["fred", "barney"]
    assert rewrite_xpath("count(a) > 1") == "count ( *[local-name()='a'] ) > 1"


@pytest.mark.parametrize(
    "select", ["top/[", "///", "top/users/user[", "unknown:prefix/x", "count(//user)", "1 + 1", "a # b"]
)
def test_invalid_xpath_is_invalid_value_naming_the_expression(select: str) -> None:
    with pytest.raises(NetconfError) as info:
        xpath_filter(data(), select, {})
    assert info.value.tag is ErrorTag.INVALID_VALUE
    assert select in info.value.message
