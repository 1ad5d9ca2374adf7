"""The sans-IO framer: both framings, any split, size limits, bad chunk headers, fuzzing."""

from __future__ import annotations

import contextlib

import time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esc_netconf.netconf.errors import ErrorTag, RemoteProtocolError
from esc_netconf.netconf.framing import (
    MAX_CHUNK_SIZE,
    FrameDecoder,
    Framing,
    encode_parts,
    encode_message,
)

MESSAGES = [b"<rpc message-id='1'><get/></rpc>", b"<a>]]>]]&gt;</a>", b"<b>\n#5\n</b>", b"x" * 300]


def decode_all(decoder: FrameDecoder, pieces: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        decoder.feed(piece)
        while (message := decoder.next_message()) is not None:
            out.append(message)
    return out


def stream(framing: Framing, messages: list[bytes] = MESSAGES) -> bytes:
    return b"".join(encode_message(m, framing) for m in messages)


def test_encode_message() -> None:
    assert encode_message(b"<a/>", Framing.EOM) == b"<a/>]]>]]>"
    assert encode_message(b"<a/>", Framing.CHUNKED) == b"\n#4\n<a/>\n##\n"
    with pytest.raises(ValueError):
        encode_message(b"", Framing.CHUNKED)


@pytest.mark.parametrize("framing", list(Framing))
def test_split_at_every_byte(framing: Framing) -> None:
    data = stream(framing)
    for cut in range(len(data) + 1):
        assert decode_all(FrameDecoder(framing), [data[:cut], data[cut:]]) == MESSAGES, cut


@pytest.mark.parametrize("framing", list(Framing))
def test_one_byte_at_a_time_and_coalesced(framing: Framing) -> None:
    data = stream(framing)
    assert decode_all(FrameDecoder(framing), [data[i : i + 1] for i in range(len(data))]) == MESSAGES
    assert decode_all(FrameDecoder(framing), [data]) == MESSAGES


def test_several_chunks_make_one_message() -> None:
    data = b"\n#4\n<rpc\n#1\n>\n#6\n</rpc>\n##\n\n#2\nok\n##\n"
    for cut in range(len(data) + 1):
        assert decode_all(FrameDecoder(Framing.CHUNKED), [data[:cut], data[cut:]]) == [b"<rpc></rpc>", b"ok"]


def test_hello_in_eom_then_chunked_rpc_in_the_same_read() -> None:
    decoder = FrameDecoder(None)
    decoder.feed(b"\n  <hello/>]]>]]>\n#5\n<rpc>\n#1\n/\n##\n")
    assert decoder.next_message() == b"\n  <hello/>"
    decoder.framing = Framing.CHUNKED
    assert decoder.next_message() == b"<rpc>/"
    assert decoder.next_message() is None


def test_hello_in_chunked_framing_is_detected() -> None:
    decoder = FrameDecoder(None)
    assert decode_all(decoder, [b"\n", b"#7\n<hello>", b"\n##\n"]) == [b"<hello>"]


@pytest.mark.parametrize("framing", [None, *Framing])
def test_endless_whitespace_does_not_grow_the_buffer(framing: Framing | None) -> None:
    decoder = FrameDecoder(framing, max_message_size=1000)
    try:
        for _ in range(2000):
            decoder.feed(b" \r\n\t" * 64)
            assert decoder.next_message() is None
            assert decoder.buffered_bytes <= 1000 + 6
    except RemoteProtocolError as exc:  # EOM counts blanks as message bytes and refuses them
        assert framing is Framing.EOM and exc.error_tag is ErrorTag.TOO_BIG


def test_whitespace_between_chunked_messages_is_skipped() -> None:
    data = b"\n#1\na\n##\n\r\n \n#1\nb\n##\n"
    assert decode_all(FrameDecoder(Framing.CHUNKED), [data]) == [b"a", b"b"]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\n#0\n", "size must start with a digit 1-9"),
        (b"\n#01\nx", "size must start with a digit 1-9"),
        (b"\n#4294967296\n", "exceeds"),
        (b"\n#99999999999", "more than 10 digits"),
        (b"\n#12a\n", "not a decimal number"),
        (b"\n#-1\n", "size must start"),
        (b"\n# 1\n", "size must start"),
        (b"\n#\n", "size must start"),
        (b"x#1\n", "expected LF"),
        (b"\nx1\n", "expected LF '#'"),
        (b"\n##\n", "without any chunk"),
        (b"\n#1\na\n##x", "bad end-of-chunks"),
        (b"\n#1\nab", "expected LF"),
        (b"\n#2\nab#", "expected LF"),
        (b"<rpc/>", "expected LF"),
    ],
)
def test_bad_chunk_headers_are_fatal(data: bytes, why: str) -> None:
    decoder = FrameDecoder(Framing.CHUNKED, max_message_size=1 << 40)
    decoder.feed(data)
    with pytest.raises(RemoteProtocolError, match=why):
        decoder.next_message()
    with pytest.raises(RemoteProtocolError):  # the decoder stays broken
        decoder.next_message()


def test_bad_header_is_refused_at_the_first_wrong_byte() -> None:
    decoder = FrameDecoder(Framing.CHUNKED)
    decoder.feed(b"\n#z")  # no newline yet, but it can never become a header
    with pytest.raises(RemoteProtocolError):
        decoder.next_message()


def test_largest_chunk_size_is_a_valid_header() -> None:
    decoder = FrameDecoder(Framing.CHUNKED, max_message_size=1 << 40)
    decoder.feed(b"\n#%d\nabc" % MAX_CHUNK_SIZE)
    assert decoder.next_message() is None
    assert decoder.has_partial_message()


@pytest.mark.parametrize("framing", list(Framing))
def test_message_of_exactly_the_limit_passes(framing: Framing) -> None:
    body = b"y" * 100
    assert decode_all(FrameDecoder(framing, max_message_size=100), [encode_message(body, framing)]) == [body]


def test_eom_message_over_the_limit_is_fatal_without_waiting_for_the_delimiter() -> None:
    decoder = FrameDecoder(Framing.EOM, max_message_size=100)
    decoder.feed(b"z" * 50)
    assert decoder.next_message() is None
    decoder.feed(b"z" * 60)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_message()
    assert info.value.error_tag is ErrorTag.TOO_BIG


def test_eom_message_over_the_limit_in_one_read_is_fatal() -> None:
    decoder = FrameDecoder(Framing.EOM, max_message_size=100)
    decoder.feed(b"z" * 101 + b"]]>]]>")
    with pytest.raises(RemoteProtocolError):
        decoder.next_message()


def test_chunked_message_over_the_limit_is_fatal_at_the_header() -> None:
    decoder = FrameDecoder(Framing.CHUNKED, max_message_size=100)
    decoder.feed(b"\n#60\n" + b"a" * 60 + b"\n#41\n")
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_message()
    assert info.value.error_tag is ErrorTag.TOO_BIG


def test_partial_message_detection() -> None:
    decoder = FrameDecoder(Framing.EOM)
    assert not decoder.has_partial_message()
    decoder.feed(b"  \n")
    assert not decoder.has_partial_message()
    decoder.feed(b"<a")
    assert decoder.next_message() is None and decoder.has_partial_message()
    decoder.feed(b"/>]]>]]>")
    assert decoder.next_message() == b"  \n<a/>"
    assert not decoder.has_partial_message()


def test_switching_framing_inside_a_chunked_message_is_refused() -> None:
    decoder = FrameDecoder(Framing.CHUNKED)
    decoder.feed(b"\n#5\nab")
    assert decoder.next_message() is None
    with pytest.raises(ValueError):
        decoder.framing = Framing.EOM


@pytest.mark.parametrize("framing", list(Framing))
def test_large_message_in_small_reads_is_linear(framing: Framing) -> None:
    body = b"<data>" + b"q" * (8 << 20) + b"</data>"
    data = encode_message(body, framing)
    decoder = FrameDecoder(framing)
    start = time.perf_counter()
    got = decode_all(decoder, [data[i : i + 1024] for i in range(0, len(data), 1024)])
    assert got == [body]
    assert time.perf_counter() - start < 3.0  # a rescan per read would be ~8000 x 4 MiB


def test_many_small_messages_in_one_read() -> None:
    messages = [b"<rpc message-id='%d'/>" % i for i in range(5000)]
    for framing in Framing:
        assert decode_all(FrameDecoder(framing), [stream(framing, messages)]) == messages


@st.composite
def split_points(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


@settings(max_examples=150, deadline=None)
@given(
    framing=st.sampled_from(list(Framing)),
    messages=st.lists(st.binary(min_size=1, max_size=40).filter(lambda m: b"]]>]]>" not in m), min_size=1, max_size=5),
    data=st.data(),
)
def test_fuzz_valid_streams_decode_exactly(framing: Framing, messages: list[bytes], data: st.DataObject) -> None:
    encoded = stream(framing, messages)
    pieces = data.draw(split_points(encoded))
    expected = messages
    if framing is Framing.EOM:  # an EOM message may end in a prefix of the delimiter: ]]>]]>]]>]]>
        joined = b"".join(m + b"]]>]]>" for m in messages)
        expected = [m for m in joined.split(b"]]>]]>")[:-1]]
    assert decode_all(FrameDecoder(framing), pieces) == expected


@settings(max_examples=300, deadline=None)
@given(
    framing=st.sampled_from([*Framing, None]),
    garbage=st.binary(max_size=200),
    data=st.data(),
)
def test_fuzz_garbage_never_hangs_or_raises_foreign_errors(
    framing: Framing | None, garbage: bytes, data: st.DataObject
) -> None:
    seeds = [b"\n#", b"\n##\n", b"]]>]]>", b"\n#1\n", b"\n#4294967295\n", b"\n"]
    mixed = garbage + data.draw(st.sampled_from(seeds)) + data.draw(st.binary(max_size=50))
    decoder = FrameDecoder(framing, max_message_size=64)
    with contextlib.suppress(RemoteProtocolError):  # our error type is an allowed outcome; nothing else is
        for piece in data.draw(split_points(mixed)):
            decoder.feed(piece)
            for _ in range(len(mixed) + 2):  # each call consumes bytes or asks for more
                if decoder.next_message() is None:
                    break
            else:
                raise AssertionError("decoder returned messages without consuming input")


@pytest.mark.parametrize("framing", list(Framing))
def test_a_message_in_parts_is_framed_as_the_whole_and_decodes_to_it(framing: Framing) -> None:
    parts = (b"<?xml version='1.0'?>", b'<rpc-reply message-id="1">', b"<data/>" * 1000, b"</rpc-reply>")
    whole = b"".join(parts)
    assert encode_parts(parts, framing) == encode_message(whole, framing)
    assert decode_all(FrameDecoder(framing), [encode_parts(parts, framing)]) == [whole]
    if framing is Framing.CHUNKED:
        with pytest.raises(ValueError):
            encode_parts((b"", b""), framing)
