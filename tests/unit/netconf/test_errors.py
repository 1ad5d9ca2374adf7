"""NetconfError renders RFC 6241 <rpc-error> elements; protocol errors are typed."""

from __future__ import annotations

import pytest
from lxml import etree

from esc_netconf.errors import EscError
from esc_netconf.netconf.errors import (
    BASE_NS,
    ErrorTag,
    ErrorType,
    LocalProtocolError,
    NetconfError,
    NetconfErrors,
    ProtocolError,
    RemoteProtocolError,
)

NS = {"nc": BASE_NS}
RFC_6241_TAGS = {
    "in-use", "invalid-value", "too-big", "missing-attribute", "bad-attribute", "unknown-attribute",
    "missing-element", "bad-element", "unknown-element", "unknown-namespace", "access-denied",
    "lock-denied", "resource-denied", "rollback-failed", "data-exists", "data-missing",
    "operation-not-supported", "operation-failed", "malformed-message",
}


def test_every_rfc_error_tag_exists() -> None:
    assert {tag.value for tag in ErrorTag} == RFC_6241_TAGS
    assert {t.value for t in ErrorType} == {"transport", "rpc", "protocol", "application"}


def test_minimal_error_renders_type_tag_severity_message() -> None:
    el = NetconfError(ErrorTag.DATA_MISSING, "No such deployment.").to_element()
    assert el.tag == f"{{{BASE_NS}}}rpc-error"
    children = [etree.QName(c).localname for c in el]
    assert children == ["error-type", "error-tag", "error-severity", "error-message"]
    assert el.findtext("nc:error-type", namespaces=NS) == "application"
    assert el.findtext("nc:error-tag", namespaces=NS) == "data-missing"
    assert el.findtext("nc:error-severity", namespaces=NS) == "error"
    msg = el.find("nc:error-message", NS)
    assert msg is not None and msg.text == "No such deployment."
    assert msg.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_full_error_renders_app_tag_path_with_namespaces_and_info() -> None:
    err = NetconfError(
        ErrorTag.INVALID_VALUE,
        "bad size",
        type=ErrorType.PROTOCOL,
        path="/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='t']",
        path_nsmap={"esc": "http://www.cisco.com/esc/esc"},
        info={"bad-element": "size", "error_code": "400", "{urn:x}extra": "1"},
        app_tag="too-large",
        severity="warning",
    )
    el = err.to_element()
    order = [etree.QName(c).localname for c in el]
    assert order == [
        "error-type", "error-tag", "error-severity", "error-app-tag", "error-path", "error-message", "error-info",
    ]
    assert el.findtext("nc:error-severity", namespaces=NS) == "warning"
    path = el.find("nc:error-path", NS)
    assert path is not None and path.nsmap["esc"] == "http://www.cisco.com/esc/esc"
    # the path's prefixes survive serialization and re-parsing
    reparsed = etree.fromstring(etree.tostring(el))
    rpath = reparsed.find("nc:error-path", NS)
    assert rpath is not None and rpath.nsmap.get("esc") == "http://www.cisco.com/esc/esc"
    info = el.find("nc:error-info", NS)
    assert info is not None
    assert info.findtext("nc:bad-element", namespaces=NS) == "size"
    assert info.findtext("nc:error_code", namespaces=NS) == "400"
    assert info.findtext("{urn:x}extra") == "1"


def test_netconf_errors_flattens_and_renders_all() -> None:
    a = NetconfError(ErrorTag.MISSING_ELEMENT, "a missing")
    b = NetconfError(ErrorTag.INVALID_VALUE, "b bad")
    c = NetconfError(ErrorTag.DATA_EXISTS, "c exists")
    errs = NetconfErrors([a, NetconfErrors([b, c])])
    assert errs.errors == (a, b, c)
    assert list(errs) == [a, b, c]
    assert errs.tag is ErrorTag.MISSING_ELEMENT and errs.message == "a missing"
    tags = [e.findtext("nc:error-tag", namespaces=NS) for e in errs.to_elements()]
    assert tags == ["missing-element", "invalid-value", "data-exists"]
    assert NetconfError(ErrorTag.IN_USE, "x").to_elements()[0].findtext("nc:error-tag", namespaces=NS) == "in-use"
    with pytest.raises(ValueError):
        NetconfErrors([])


def test_error_hierarchy() -> None:
    assert issubclass(NetconfError, EscError)
    assert issubclass(NetconfErrors, NetconfError)
    assert issubclass(LocalProtocolError, ProtocolError) and issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(ProtocolError, EscError)
    assert not issubclass(ProtocolError, NetconfError)
    err = RemoteProtocolError("too big", error_tag=ErrorTag.TOO_BIG)
    assert err.error_tag is ErrorTag.TOO_BIG and err.error_type is ErrorType.RPC
    assert NetconfError("in-use", "x").tag is ErrorTag.IN_USE  # type: ignore[arg-type]
