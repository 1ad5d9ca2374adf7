"""The day-0 template fetcher against real servers on 127.0.0.1 and real files: every way a fetch fails
says why, the size cap holds whether or not the server announces a length, and the timeout covers a
server that never finishes answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from esc_netconf.core.day0.fetch import TemplateFetchError
from esc_netconf.day0_fetch import FetchLimits, UrlTemplateFetcher

LIMITS = FetchLimits(max_bytes=64, timeout_secs=0.5)


async def _streamed(request: web.Request) -> web.StreamResponse:
    """A body with no Content-Length: only counting while reading can enforce the cap."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(10):
        await response.write(b"x" * 16)
    await response.write_eof()
    return response


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="late")


def _fixed(body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body)
    return handler


@pytest.fixture
async def site() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ok", _fixed(b"hostname ${HOSTNAME}\n"))
    app.router.add_get("/big", _fixed(b"y" * 65))
    app.router.add_get("/streamed", _streamed)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/latin1", _fixed("caf\u00e9".encode("latin-1")))
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_http_and_file_templates_are_read(site: str, tmp_path: Path) -> None:
    fetcher = UrlTemplateFetcher(lambda: LIMITS)
    assert await fetcher.fetch(f"{site}/ok") == "hostname ${HOSTNAME}\n"
    template = tmp_path / "day 0.cfg"
    template.write_text("from a file\n")
    assert await fetcher.fetch(template.as_uri()) == "from a file\n"


@pytest.mark.parametrize(("path", "reason"), [
    ("/missing", "the server answered HTTP 404 Not Found."),
    ("/big", "the template is larger than 64 bytes (day0.fetch.max.bytes)."),
    ("/streamed", "the template is larger than 64 bytes (day0.fetch.max.bytes)."),
    ("/slow", "no complete answer within 0.5 seconds (day0.fetch.timeout.secs)."),
    ("/latin1", "the template is not UTF-8 text (byte 3)."),
])
async def test_http_failures_say_why(site: str, path: str, reason: str) -> None:
    with pytest.raises(TemplateFetchError) as caught:
        await UrlTemplateFetcher(lambda: LIMITS).fetch(site + path)
    assert caught.value.message == reason


async def test_file_and_scheme_failures_say_why(tmp_path: Path) -> None:
    fetcher = UrlTemplateFetcher(lambda: LIMITS)
    (tmp_path / "big.cfg").write_bytes(b"z" * 65)
    cases = {
        (tmp_path / "absent.cfg").as_uri(): f"no such file [{tmp_path / 'absent.cfg'}].",
        (tmp_path / "big.cfg").as_uri(): "the template is larger than 64 bytes (day0.fetch.max.bytes).",
        tmp_path.as_uri(): f"[{tmp_path}] is a directory.",
        "file://elsewhere/etc/motd": "a file URL names a local path, not host [elsewhere].",
        "ftp://127.0.0.1/x.cfg": "Day-0 template URL [ftp://127.0.0.1/x.cfg] must be an http, https or file URL.",
    }
    for url, reason in cases.items():
        with pytest.raises(TemplateFetchError) as caught:
            await fetcher.fetch(url)
        assert caught.value.message == reason, url


async def test_unreachable_server(unused_tcp_port: int) -> None:
    with pytest.raises(TemplateFetchError, match="ClientConnectorError: Cannot connect to host 127.0.0.1"):
        await UrlTemplateFetcher(lambda: LIMITS).fetch(f"http://127.0.0.1:{unused_tcp_port}/x")
