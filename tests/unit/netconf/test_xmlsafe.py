"""parse_xml refuses DTDs and entities and tolerates whitespace before the declaration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError
from esc_netconf.netconf.xmlsafe import MESSAGE_LIMITS, parse_xml


def _level(i: int) -> bytes:
    inner = b"&lol;" if i == 1 else b"&lol%d;" % (i - 1)
    return b'<!ENTITY lol%d "%s">' % (i, inner * 10)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(_level(i) for i in range(1, 10))
    + b"]><lolz>&lol9;</lolz>"
)


def _refused(data: bytes) -> NetconfError:
    with pytest.raises(NetconfError) as info:
        parse_xml(data)
    assert info.value.tag is ErrorTag.MALFORMED_MESSAGE
    assert info.value.error_type is ErrorType.RPC
    return info.value


def test_billion_laughs_is_refused_quickly() -> None:
    start = time.perf_counter()
    _refused(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0


def test_external_entity_is_refused_and_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    doc = f'<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://{secret}">]><foo>&xxe;</foo>'.encode()
    err = _refused(doc)
    assert "TOPSECRET" not in err.message


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE rpc SYSTEM "http://example.com/x.dtd"><rpc/>',
        b'<!DOCTYPE rpc PUBLIC "-//x//y" "x.dtd"><rpc/>',
        b"<!DOCTYPE rpc><rpc/>",
        b"<a><b></a>",
        b"not xml at all",
        b"",
        b"   \n\t ",
        b"<a>&undefined;</a>",
    ],
)
def test_refused_documents(data: bytes) -> None:
    _refused(data)


@pytest.mark.parametrize("prefix", [b"", b"\n", b"  \r\n\t"])
def test_whitespace_before_declaration_is_tolerated(prefix: bytes) -> None:
    root = parse_xml(prefix + b'<?xml version="1.0" encoding="UTF-8"?>\n<a xmlns="urn:x"><b>1</b></a>')
    assert root.tag == "{urn:x}a"
    assert root.findtext("{urn:x}b") == "1"


def test_utf8_text_and_predefined_entities_survive() -> None:
    root = parse_xml('<a>caf\u00e9 &amp; &lt;ok&gt; &#233;</a>'.encode())
    assert root.text == "caf\u00e9 & <ok> \u00e9"


_NOT_BYTE_FOR_BYTE = {
    "utf-16 doctype": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16"),
    "utf-7 doctype": b'<?xml version="1.0" encoding="UTF-7"?>+ADw-+ACE-DOCTYPE a+AD4-<a/>',
    "utf-16 too deep": ('<?xml version="1.0" encoding="UTF-16"?>' + "<a>" * 70 + "</a>" * 70).encode("utf-16"),
    "utf-7 too deep": b'<?xml version="1.0" encoding="UTF-7"?>' + b"+ADw-a+AD4-" * 70 + b"+ADw-/a+AD4-" * 70,
}


@pytest.mark.parametrize("data", list(_NOT_BYTE_FOR_BYTE.values()), ids=list(_NOT_BYTE_FOR_BYTE))
def test_small_messages_in_other_encodings_are_still_checked(data: bytes) -> None:
    """A small UTF-8 message skips the DOCTYPE and shape checks its bytes rule out; one whose markup is
    not one ASCII byte per character (UTF-16, UTF-7's ``+ADw-`` for ``<``) is checked in full."""
    with pytest.raises(NetconfError) as refused:
        parse_xml(data, MESSAGE_LIMITS)
    assert refused.value.tag in (ErrorTag.MALFORMED_MESSAGE, ErrorTag.TOO_BIG)
