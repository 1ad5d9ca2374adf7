"""Issue 11, the protocol-side limits without sockets: XPath plans and budgets, the forked runner,
subtree budgets, XML shape limits, the global partial-message budget, edit-config list indexes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, NetconfError
from esc_netconf.netconf.filters import (
    FilterLimits,
    FilterSpec,
    FilterType,
    filter_data,
    plan_xpath,
    subtree_filter,
    xpath_filter,
)
from esc_netconf.netconf.forked import ForkedFailure, ForkedTimeout, run_forked
from esc_netconf.netconf.framing import PartialBuffers
from esc_netconf.netconf.xmlsafe import MESSAGE_LIMITS, XmlLimits, parse_xml
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.netconf.persistence import MemoryConfigStore

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"


def _data(tenants: int) -> etree._Element:
    body = "".join(f"<tenant><name>t{i}</name></tenant>" for i in range(tenants))
    return etree.fromstring(
        f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants>{body}</tenants></esc_datamodel></data>'
    )


@pytest.mark.parametrize(
    ("select", "bounded"),
    [
        ("esc_datamodel/tenants/tenant[name='t1']", True),
        ("//tenant[name='t1']/name", True),
        ("count(//*)", True),
        ("//tenant[count(name) = 1 and string-length(name) > 1]", True),
        ("//*[count(//*) > 0]", False),
        ("//tenant[name = /esc_datamodel/tenants/tenant[1]/name]", False),
        ("//tenant[following-sibling::tenant]", False),
        ("//tenant[$x]", False),
    ],
)
def test_xpath_plan_tells_bounded_shapes(select: str, bounded: bool) -> None:
    assert plan_xpath(select).bounded is bounded


@pytest.mark.parametrize("function", ["re:test", "re:match", "str:tokenize", "exsl:node-set", "document",
                                      "current", "evaluate", "dyn:evaluate"])
def test_xpath_functions_outside_the_core_library_are_refused_by_name(function: str) -> None:
    with pytest.raises(NetconfError) as info:
        plan_xpath(f"//*[{function}(name, 'x')]")
    assert info.value.tag is ErrorTag.INVALID_VALUE
    assert f"'{function}'" in info.value.message


def test_node_type_tests_are_not_functions() -> None:
    for select in ("//name/text()", "//node()", "//comment()", "//processing-instruction()"):
        plan_xpath(select)


def test_exslt_is_off_even_if_the_check_were_bypassed() -> None:
    with pytest.raises(NetconfError):
        xpath_filter(_data(2), "//*[re:test(name, 't')]", {"re": "http://exslt.org/regular-expressions"})


async def test_a_runaway_xpath_is_stopped_at_its_budget() -> None:
    spec = FilterSpec(FilterType.XPATH, select="//*[count(//*[count(//*[count(//*) > 0]) > 0]) > 0]")
    start = time.monotonic()
    with pytest.raises(NetconfError) as info:
        await filter_data(_data(300), spec, limits=FilterLimits(xpath_seconds=0.5))
    assert time.monotonic() - start < 3
    assert info.value.tag is ErrorTag.TOO_BIG and "exceeded its budget" in info.value.message


async def test_an_unbounded_xpath_that_finishes_in_time_gives_the_same_result_as_inline() -> None:
    data = _data(50)
    select = "//tenant[name = //tenant[3]/name]"
    expected = etree.tostring(xpath_filter(data, select, {}))
    result = await filter_data(data, FilterSpec(FilterType.XPATH, select=select))
    assert etree.tostring(result) == expected and b"t2" in expected


async def test_a_small_tree_is_filtered_on_the_loop_a_large_one_or_a_large_filter_in_a_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One deployment's get is filtered without the hops to a worker thread; a datastore-sized tree, or a
    small one with a filter of many siblings (quadratic), still goes to the thread."""
    hops: list[str] = []
    real_to_thread = asyncio.to_thread

    async def to_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(fn.__name__)
        return await real_to_thread(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    one = FilterSpec(FilterType.XPATH, select="esc_datamodel/tenants/tenant[name='t1']")
    small = await filter_data(_data(5), one)
    assert hops == [] and small.findtext(f".//{{{ESC}}}name") == "t1"
    large = await filter_data(_data(2000), one)
    assert hops == ["_select", "_build_from"]
    assert etree.tostring(large) == etree.tostring(small)
    names = "".join(f"<name>t{i}</name>" for i in range(300))
    many = etree.fromstring(f'<filter xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
                            f"{names}</tenant></tenants></esc_datamodel></filter>")
    await filter_data(_data(20), FilterSpec(FilterType.SUBTREE, element=many))
    assert hops[-1] == "subtree_filter"


async def test_an_invalid_xpath_evaluated_in_the_child_is_invalid_value() -> None:
    with pytest.raises(NetconfError) as info:
        await filter_data(_data(3), FilterSpec(FilterType.XPATH, select="count(//*[count(//*) > 0])"))
    assert info.value.tag is ErrorTag.INVALID_VALUE and "does not select nodes" in info.value.message


async def test_forked_runner_kills_on_timeout_and_on_cancel() -> None:
    def spin() -> bytes:
        while True:
            continue

    with pytest.raises(ForkedTimeout):
        await run_forked(spin, 0.2)
    task = asyncio.ensure_future(run_forked(spin, 30))
    await asyncio.sleep(0.2)
    task.cancel()
    start = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 1


async def test_forked_runner_reports_failures() -> None:
    def boom() -> bytes:
        raise ValueError("nope")

    with pytest.raises(ForkedFailure, match="ValueError: nope"):
        await run_forked(boom, 5)
    assert await run_forked(lambda: b"x" * 200_000, 5) == b"x" * 200_000


def test_subtree_filter_budget() -> None:
    data = _data(2000)
    names = "".join(f"<name>t{i}</name>" for i in range(2000))
    flt = etree.fromstring(f'<filter xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
                           f"{names}</tenant></tenants></esc_datamodel></filter>")
    with pytest.raises(NetconfError) as info:
        subtree_filter(data, flt, max_comparisons=100_000)
    assert info.value.tag is ErrorTag.TOO_BIG
    small = etree.fromstring(f'<filter xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
                             "<name>t5</name></tenant></tenants></esc_datamodel></filter>")
    assert len(subtree_filter(data, small, max_comparisons=100_000)[0][0]) == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<r " + b" ".join(b'a%d="1"' % i for i in range(65)) + b"/>", "more than 64 attributes"),
        (b"<a>" * 65 + b"</a>" * 65, "deeper than 64 levels"),
        (b"<r>" + b"<a/>" * 501 + b"</r>", "more than 500 elements"),
    ],
)
def test_xml_shape_limits(document: bytes, message: str) -> None:
    limits = XmlLimits(max_elements=500)
    with pytest.raises(NetconfError) as info:
        parse_xml(document, limits)
    assert info.value.tag is ErrorTag.TOO_BIG and message in info.value.message
    parse_xml(document)  # the server's own data has no such limits


def test_xml_limits_let_real_messages_through() -> None:
    parse_xml(b"<r>" + b"<a b='1'/>" * 1000 + b"<!-- < < < -->" + b"</r>", MESSAGE_LIMITS)
    parse_xml(b"<a>" * 64 + b"</a>" * 64, MESSAGE_LIMITS)
    parse_xml(b"<r>" + b"<![CDATA[" + b"<" * 600_000 + b"]]></r>", MESSAGE_LIMITS)  # '<' in text is not an element


def test_partial_buffers_refuse_the_session_that_takes_the_total_over() -> None:
    buffers = PartialBuffers(limit=100)
    assert buffers.update(1, 60)
    assert buffers.update(2, 40)
    assert not buffers.update(3, 1)
    buffers.release(3)
    buffers.update(1, 0)  # session 1 completed its message
    assert buffers.update(3, 50) and buffers.total == 90



def _tenants_config(names: list[str], operation: str = "") -> etree._Element:
    op = f' nc:operation="{operation}"' if operation else ""
    body = "".join(f"<tenant{op}><name>{n}</name></tenant>" for n in names)
    return etree.fromstring(f'<config xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}"><esc_datamodel xmlns="{ESC}">'
                            f"<tenants>{body}</tenants></esc_datamodel></config>")


def _names(ds: Datastore) -> list[str]:
    return [str(t) for t in ds.get_config().xpath("//*[local-name()='tenant']/*[local-name()='name']/text()")]


def test_list_index_keeps_order_through_merges_deletes_and_duplicates() -> None:
    ds = Datastore(YangModel.load(YANG_DIR), MemoryConfigStore())
    ds.edit(_tenants_config([f"t{i}" for i in range(5)]))
    ds.edit(_tenants_config(["t4", "t2"], "delete"))
    ds.edit(_tenants_config(["x", "t0", "y", "x"]))  # a duplicate in one edit merges into one entry
    assert _names(ds) == ["t0", "t1", "t3", "x", "y"]
    ds.edit(_tenants_config(["y"], "delete"))
    ds.edit(_tenants_config(["z"]))
    assert _names(ds) == ["t0", "t1", "t3", "x", "z"]


def test_list_edit_of_many_entries_is_linear_in_the_edit_walk() -> None:
    """Not a timing test: counts sibling scans. The old _find looked at every sibling for every entry."""
    from esc_netconf.netconf import editconfig

    scans = 0
    original = editconfig._SiblingIndex.__init__

    def counting(self: object, parent: etree._Element, tag: str, identity: object, key: str | None = None) -> None:
        nonlocal scans
        scans += 1
        original(self, parent, tag, identity, key)  # type: ignore[arg-type]

    ds = Datastore(YangModel.load(YANG_DIR), MemoryConfigStore())
    editconfig._SiblingIndex.__init__ = counting  # type: ignore[method-assign]
    try:
        ds.edit(_tenants_config([f"t{i}" for i in range(2000)]))
    finally:
        editconfig._SiblingIndex.__init__ = original  # type: ignore[method-assign]
    assert scans == 1 and len(_names(ds)) == 2000
