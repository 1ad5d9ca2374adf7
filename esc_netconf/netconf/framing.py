"""NETCONF message framing (RFC 6242 section 4), sans-IO: bytes in, whole messages out.

Two framings exist. base:1.0 ends each message with ``]]>]]>`` (end-of-message, EOM). base:1.1
sends each message as one or more chunks, ``\\n#<size>\\n<size bytes>``, closed by ``\\n##\\n``.
A session starts in EOM and switches to chunked right after the hello exchange when both sides
announced base:1.1; the session tells the decoder by setting :attr:`FrameDecoder.framing`.

Theory of operation
-------------------
The decoder owns one ``bytearray`` and a read offset. :meth:`FrameDecoder.feed` appends whatever the
transport read (any split: a delimiter or a chunk header may straddle two reads, or one read may
carry several messages); :meth:`FrameDecoder.next_message` returns one whole message or ``None``
when more bytes are needed. Nothing is ever rescanned: the EOM search resumes where the last one
stopped (minus the length of the delimiter, which may have been cut in two), and chunk data is
copied out as it arrives. So a message that arrives in N reads costs O(size), not O(N * size).

Memory is bounded. A message may not exceed ``max_message_size`` bytes: an EOM message is refused
as soon as the buffer holds more than that without a delimiter, a chunked one as soon as a chunk
header announces more than fits. A chunk header that is not ``\\n#`` + a decimal number from 1 to
4294967295 without leading zeros + ``\\n`` (or ``\\n##\\n`` after at least one chunk) is refused as
soon as the first wrong byte is seen. Both raise :class:`RemoteProtocolError`: the stream cannot be
resynchronised, so the decoder stays broken and the session closes.

The first message (the hello) may come in either framing when the decoder is created with
``framing=None``: a leading ``\\n#`` means chunked, anything else EOM. Whitespace before a chunked
message is skipped; RFC 6242 does not allow it, but clients that end their EOM hello with a newline
exist, and the newline carries no meaning.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from enum import Enum

from esc_netconf.netconf.errors import ErrorTag, RemoteProtocolError

EOM_DELIMITER = b"]]>]]>"
END_OF_CHUNKS = b"\n##\n"
MAX_CHUNK_SIZE = 4294967295
DEFAULT_MAX_MESSAGE_SIZE = 64 * 2**20
MAX_PARTIAL_BYTES_TOTAL = 256 * 2**20

_WHITESPACE = b" \t\r\n"
_LF = 0x0A
_HASH = 0x23
_MAX_DIGITS = len(str(MAX_CHUNK_SIZE))
_DIGITS = frozenset(b"0123456789")


class Framing(str, Enum):
    """The two framings of RFC 6242."""

    EOM = "base:1.0"
    CHUNKED = "base:1.1"


def encode_message(message: bytes, framing: Framing) -> bytes:
    """Frame one serialized message (one chunk is enough: a chunk may hold 4 GiB)."""
    return encode_parts((message,), framing)


def encode_parts(parts: Sequence[bytes], framing: Framing) -> bytes:
    """Frame one serialized message given as consecutive parts, copying them once. Why: a ``get`` of all
    opdata at 10,000 VMs is some megabytes, and each copy of it into freshly mapped memory held the GIL for
    tens of milliseconds of page faults on this machine (``perf``: ``clear_page_erms`` under a ``memmove``)."""
    if framing is Framing.EOM:
        return b"".join((*parts, EOM_DELIMITER))
    size = sum(len(part) for part in parts)
    if not size:
        raise ValueError("a chunked message cannot be empty")
    return b"".join((b"\n#%d\n" % size, *parts, END_OF_CHUNKS))


class FrameDecoder:
    """Incremental decoder for both framings; see the module docstring for the rules it enforces."""

    def __init__(
        self, framing: Framing | None = None, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self._framing = framing
        self.max_message_size = max_message_size
        self._buf = bytearray()
        self._pos = 0
        self._eom_scan = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._chunk_left = 0
        self._in_message = False
        self._broken: RemoteProtocolError | None = None

    @property
    def framing(self) -> Framing | None:
        """The framing of the next message (``None``: detect it, for the hello only)."""
        return self._framing

    @framing.setter
    def framing(self, framing: Framing) -> None:
        if self._in_message:
            raise ValueError("cannot switch framing in the middle of a chunked message")
        self._framing = framing
        self._eom_scan = self._pos

    def feed(self, data: bytes) -> None:
        """Append bytes read from the transport."""
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._eom_scan -= self._pos
            self._pos = 0
        elif self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._eom_scan -= self._pos
            self._pos = 0
        self._buf += data

    def discard(self) -> None:
        """Drop everything buffered (the session is over: its partial message will never complete)."""
        self._buf = bytearray()
        self._parts = []
        self._pos = self._eom_scan = self._size = self._chunk_left = 0
        self._in_message = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet returned as (part of) a message."""
        return len(self._buf) - self._pos + sum(len(part) for part in self._parts)

    def has_partial_message(self) -> bool:
        """True when bytes of an unfinished message are buffered (what EOF would cut off)."""
        if self._in_message or self._chunk_left:
            return True
        return bool(bytes(self._buf[self._pos :]).strip(_WHITESPACE))

    def next_message(self) -> bytes | None:
        """Return the next whole message, or ``None`` if more bytes are needed.

        :raises RemoteProtocolError: bad chunk header or message over the size limit; every later
            call raises the same error.
        """
        if self._broken is not None:
            raise self._broken
        try:
            framing = self._framing or self._detect()
            if framing is None:
                return None
            if framing is Framing.EOM:
                return self._next_eom()
            return self._next_chunked()
        except RemoteProtocolError as exc:
            self._broken = exc
            raise

    def _fail(self, message: str, tag: ErrorTag = ErrorTag.MALFORMED_MESSAGE) -> RemoteProtocolError:
        return RemoteProtocolError(message, error_tag=tag)

    def _detect(self) -> Framing | None:
        buf, pos, end = self._buf, self._pos, len(self._buf)
        while pos < end and buf[pos] in _WHITESPACE:
            if buf[pos] == _LF and pos + 1 < end and buf[pos + 1] == _HASH:
                self._pos = pos
                return Framing.CHUNKED
            pos += 1
        if pos == end:
            # Only whitespace so far: drop it (a peer must not grow our buffer with blanks),
            # but keep a final LF, which may be the start of a chunk header.
            self._pos = end - 1 if buf[end - 1 : end] == b"\n" else end
            return None
        return Framing.EOM

    def _next_eom(self) -> bytes | None:
        buf = self._buf
        start = max(self._pos, self._eom_scan - (len(EOM_DELIMITER) - 1))
        end = buf.find(EOM_DELIMITER, start)
        if end < 0:
            self._eom_scan = len(buf)
            if len(buf) - self._pos > self.max_message_size + len(EOM_DELIMITER) - 1:
                raise self._fail(
                    f"message larger than {self.max_message_size} bytes without ]]>]]>", ErrorTag.TOO_BIG
                )
            return None
        if end - self._pos > self.max_message_size:
            raise self._fail(f"message larger than {self.max_message_size} bytes", ErrorTag.TOO_BIG)
        message = self._copy(self._pos, end)
        self._pos = self._eom_scan = end + len(EOM_DELIMITER)
        return message

    def _next_chunked(self) -> bytes | None:
        buf = self._buf
        while True:
            if self._chunk_left:
                take = min(self._chunk_left, len(buf) - self._pos)
                if take:
                    self._parts.append(self._copy(self._pos, self._pos + take))
                    self._pos += take
                    self._chunk_left -= take
                if self._chunk_left:
                    return None
            if not self._in_message and not self._skip_whitespace():
                return None
            pos, avail = self._pos, len(buf) - self._pos
            if avail < 2:
                if avail == 1 and buf[pos] != _LF:
                    raise self._fail("bad chunk header: expected LF")
                return None
            if buf[pos] != _LF or buf[pos + 1] != _HASH:
                raise self._fail("bad chunk header: expected LF '#'")
            if avail < 3:
                return None
            if buf[pos + 2] == _HASH:
                if avail < 4:
                    return None
                if buf[pos + 3] != _LF:
                    raise self._fail("bad end-of-chunks marker")
                if not self._in_message:
                    raise self._fail("end-of-chunks marker without any chunk")
                self._pos = pos + 4
                message = b"".join(self._parts)
                self._parts, self._size, self._in_message = [], 0, False
                return message
            self._read_chunk_header(pos, avail)
            if not self._chunk_left:
                return None

    def _copy(self, start: int, stop: int) -> bytes:
        """One copy out of the buffer (slicing the bytearray first would make two)."""
        with memoryview(self._buf)[start:stop] as view:  # released at once: feed() may resize
            return bytes(view)

    def _skip_whitespace(self) -> bool:
        """Skip whitespace before a message; False if undecidable until more bytes arrive."""
        buf, pos, end = self._buf, self._pos, len(self._buf)
        while pos < end and buf[pos] in _WHITESPACE:
            if buf[pos] == _LF:
                if pos + 1 == end:
                    self._pos = pos
                    return False
                if buf[pos + 1] == _HASH:
                    break
            pos += 1
        self._pos = pos
        return pos < end

    def _read_chunk_header(self, pos: int, avail: int) -> None:
        """Parse ``\\n#<digits>\\n`` at ``pos``; leaves ``_chunk_left`` at 0 if it is incomplete."""
        buf = self._buf
        first = pos + 2
        if buf[first] not in _DIGITS or buf[first] == ord("0"):
            raise self._fail("bad chunk header: size must start with a digit 1-9")
        stop = min(len(buf), first + _MAX_DIGITS + 1)
        for i in range(first, stop):
            byte = buf[i]
            if byte == _LF:
                size = int(buf[first:i])
                if size > MAX_CHUNK_SIZE:
                    raise self._fail(f"bad chunk header: size {size} exceeds {MAX_CHUNK_SIZE}")
                if self._size + size > self.max_message_size:
                    raise self._fail(
                        f"message larger than {self.max_message_size} bytes", ErrorTag.TOO_BIG
                    )
                self._size += size
                self._chunk_left = size
                self._in_message = True
                self._pos = i + 1
                return
            if byte not in _DIGITS:
                raise self._fail("bad chunk header: size is not a decimal number")
        if avail >= 2 + _MAX_DIGITS + 1:
            raise self._fail(f"bad chunk header: size has more than {_MAX_DIGITS} digits")


class PartialBuffers:
    """Bytes of unfinished messages held by all the decoders of a server, against one limit.

    ``max_message_size`` bounds one session; this bounds them together (20 sessions each holding
    60 MB of a message that never ends would otherwise hold 1.2 GB). Thread-safe: each session
    reports from its own transport thread.
    """

    def __init__(self, limit: int = MAX_PARTIAL_BYTES_TOTAL) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}
        self._total = 0

    @property
    def total(self) -> int:
        return self._total

    def update(self, session_id: int, held: int) -> bool:
        """Record what one session holds now; False when that takes the total over the limit."""
        with self._lock:
            self._total += held - self._held.get(session_id, 0)
            if held:
                self._held[session_id] = held
            else:
                self._held.pop(session_id, None)
            return self._total <= self.limit or held == 0

    def release(self, session_id: int) -> None:
        self.update(session_id, 0)
