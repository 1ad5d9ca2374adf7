"""Fetching day-0 templates named by URL (``config_data/configuration/file``): the core's ``TemplateFetcher``.

``http``/``https`` are read with aiohttp on the event loop, ``file`` URLs on a worker thread; both stop
reading at the size cap, and both give up after the timeout (one budget for the whole fetch: connect,
headers and body).  The cap and timeout are VIM manager settings (``day0.fetch.max.bytes``,
``day0.fetch.timeout.secs``), read at every fetch so ``escadm vimmanager set`` applies to the next
deployment.  Every failure is a ``TemplateFetchError`` whose message says what happened (HTTP status,
missing file, too big, not UTF-8, timed out); the core adds the URL and the VM.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from esc_netconf.core.day0.fetch import TemplateFetchError, scheme_error

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT_SECS = 30.0


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How much a template may weigh and how long fetching it may take."""

    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_secs: float = DEFAULT_TIMEOUT_SECS


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateFetchError(f"the template is not UTF-8 text (byte {exc.start}).") from None


def _too_big(limits: FetchLimits) -> TemplateFetchError:
    return TemplateFetchError(f"the template is larger than {limits.max_bytes} bytes (day0.fetch.max.bytes).")


def _read_file(path: Path, limits: FetchLimits) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise TemplateFetchError(f"no such file [{path}].") from None
    except IsADirectoryError:
        raise TemplateFetchError(f"[{path}] is a directory.") from None
    except OSError as exc:
        raise TemplateFetchError(f"cannot read [{path}]: {exc.strerror}.") from None
    if len(raw) > limits.max_bytes:
        raise _too_big(limits)
    return raw


async def _read_http(url: str, limits: FetchLimits) -> bytes:
    timeout = aiohttp.ClientTimeout(total=limits.timeout_secs)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                raise TemplateFetchError(f"the server answered HTTP {response.status} {response.reason or ''}".rstrip()
                                         + ".")
            if response.content_length is not None and response.content_length > limits.max_bytes:
                raise _too_big(limits)
            body = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                body += chunk
                if len(body) > limits.max_bytes:
                    raise _too_big(limits)
            return bytes(body)
    except aiohttp.ClientError as exc:
        raise TemplateFetchError(f"{exc.__class__.__name__}: {exc}.") from None


class UrlTemplateFetcher:
    """``TemplateFetcher`` for http, https and file URLs; ``limits`` is read at every fetch."""

    def __init__(self, limits: Callable[[], FetchLimits] = FetchLimits) -> None:
        self._limits = limits

    async def fetch(self, url: str) -> str:
        problem = scheme_error(url)
        if problem is not None:
            raise TemplateFetchError(problem)
        limits = self._limits()
        parts = urlsplit(url)
        try:
            async with asyncio.timeout(limits.timeout_secs):
                if parts.scheme.lower() == "file":
                    if parts.netloc not in ("", "localhost"):
                        raise TemplateFetchError(f"a file URL names a local path, not host [{parts.netloc}].")
                    raw = await asyncio.to_thread(_read_file, Path(unquote(parts.path)), limits)
                else:
                    raw = await _read_http(url, limits)
        except TimeoutError:
            raise TemplateFetchError(
                f"no complete answer within {limits.timeout_secs:g} seconds (day0.fetch.timeout.secs).") from None
        return _text(raw)
