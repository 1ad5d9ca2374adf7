"""Issue 11, partial messages bounded across sessions: sessions that each send part of a message and
never finish it cannot together hold more than the server-wide budget; the one that would take the
total over it is closed, and others are served meanwhile. In-process, so the budget can be set small
(the default is 256 MiB; bench/hardening_attacks.py runs 20 x 60 MB against it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from esc_netconf.app import Application, Options
from tests.integration.hardening import Bystander
from tests.integration.raw_client import RawNetconf

MiB = 2**20
BUDGET = 8 * MiB


def _hold_partial(port: int, size: int) -> bool:
    """Send ``size`` bytes of a chunk announced larger; True if the server closed the session."""
    client = RawNetconf(port)
    try:
        client.channel.settimeout(3)
        client.send_raw(b"\n#%d\n" % (size + 100))
        try:
            for _ in range(size // MiB):
                client.send_raw(b"<" + b"x" * (MiB - 1))
            return client.channel.recv(1) == b""  # the server answers nothing: it closes, or we time out
        except TimeoutError:  # before OSError: socket.timeout is one
            return False
        except (OSError, EOFError):
            return True
    finally:
        client.close()


def _attack(port: int, held: list[RawNetconf]) -> tuple[list[bool], Bystander]:
    with Bystander(port) as bystander:
        first = RawNetconf(port)  # keeps 5 MiB of a message pending for the whole attack
        held.append(first)
        first.send_raw(b"\n#%d\n" % (10 * MiB) + b"<" + b"x" * (5 * MiB - 1))
        results = [_hold_partial(port, 5 * MiB) for _ in range(2)]
    return results, bystander


async def test_partial_messages_are_bounded_across_sessions(tmp_path: Path) -> None:
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=tmp_path))
    await app.start()
    app.netconf.partial_buffers.limit = BUDGET
    held: list[RawNetconf] = []
    try:
        assert app.netconf_port is not None
        results, bystander = await asyncio.to_thread(_attack, app.netconf_port, held)
        assert results == [True, True]  # each second 5 MiB would take the total over 8 MiB: closed
        bystander.check(minimum_answers=1)
        assert app.netconf.partial_buffers.total <= BUDGET
    finally:
        for client in held:
            client.close()
        await app.stop()
