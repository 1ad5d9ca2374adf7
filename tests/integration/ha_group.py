"""Helpers for the failure scenarios and benches of a group of servers on one PostgreSQL (CONTRACT section 8).

What they observe is what an operator can observe: the shared simulated cloud's state (``--sim-dir``), the
escEvent replay log through a ``startTime`` subscription, ``GET /ESCManager/v0/ha``, the servers' own logs,
and the REST callbacks a receiver gets. The receiver here also notes which process sent each callback (by
the socket's owner in ``/proc``), so a test can prove that a fenced server sent nothing.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ncclient import manager

from esc_netconf.ha import STANDBY_CAPABILITY
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration.esc_client import Event
from tests.integration.esc_client import replayed_esc_events as replayed_esc_events  # the scenarios import it from here
from tests.integration.raw_client import RawNetconf
from tests.integration.rest.live_helpers import http
from tests.integration.rest.receiver import CallbackReceiver
from tests.integration.server_process import ServerProcess

NOTIFICATION_NS = "urn:ietf:params:xml:ns:netmod:notification"
#: what the debug log of ``VimCallCounter.record`` says for every call a driver makes
VIM_CALL = "esc_netconf.vim.calls: VIM call "


def member(root: Path, name: str, database: str, properties: dict[str, str], takeover_secs: float,
           extra_args: Iterable[str] = ()) -> ServerProcess:
    """One server of the group: its own data dir; the group's database and simulated cloud (``root/cloud``)."""
    return ServerProcess(root / name, properties=properties,
                         extra_args=["--database", database, "--ha-takeover-secs", str(takeover_secs),
                                     "--sim-dir", str(root / "cloud"), *extra_args])


def role(server: ServerProcess) -> str | None:
    """The role ``GET /ESCManager/v0/ha`` reports, or None while the listeners are being swapped."""
    try:
        reply = http("GET", f"{server.rest_url}/ha", headers={"Authorization": "Basic YWRtaW46YWRtaW4="},
                     timeout=5)
    except OSError:
        return None
    return str(reply.json()["role"]) if reply.status == 200 else None


def _active_netconf(port: int) -> bool:
    """Whether the NETCONF listener on ``port`` is an active's (its hello lacks the standby capability)."""
    try:
        session = RawNetconf(port)
    except Exception:  # noqa: BLE001 - refused or reset: the listeners are being swapped
        return False
    try:
        return STANDBY_CAPABILITY not in session.hello.capabilities
    finally:
        session.close()


def wait_active(server: ServerProcess, timeout: float) -> float:
    """Seconds until ``server`` is the active with the active's listeners up.

    A standby that wins the lease reports ``active`` at once, on its standby listeners, which it then
    closes and opens again as the active's; so this waits for the role, then for a NETCONF hello without
    the standby capability, then for REST to answer again."""
    started = time.monotonic()
    while not (role(server) == "active" and _active_netconf(server.netconf_port) and role(server) == "active"):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{server.rest_url} did not become the active in {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def connect(port: int, timeout: float = 30) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                           allow_agent=False, look_for_keys=False, timeout=timeout)


def _in_cloud(sim_dir: Path, query: str) -> list[tuple[str, str, str]]:
    async def run() -> list[tuple[str, str, str]]:
        cloud = SimCloud(sim_dir, lambda: SimSettings())
        try:
            if query == "servers":
                return [(s.id, s.name, s.status.value) for s in await cloud.list_servers()]
            return [(i.id, i.name, i.status.value) for i in await cloud.list_images()]
        finally:
            await cloud.close()

    return asyncio.run(run())


def servers(sim_dir: Path, prefix: str = "") -> list[tuple[str, str, str]]:
    """(id, name, status) of every server in the group's cloud whose name starts with ``prefix``."""
    return [row for row in _in_cloud(sim_dir, "servers") if row[1].startswith(prefix)]


def images(sim_dir: Path, name: str) -> list[tuple[str, str, str]]:
    """(id, name, status) of the cloud's images called ``name``."""
    return [row for row in _in_cloud(sim_dir, "images") if row[1] == name]


def vm_name(event: Event) -> str:
    """The event's VM, or "" for a tenant or service event (whose ``vm_source`` is empty)."""
    source = event.fields.get("vm_source")
    return str(source.get("vmname", "")) if isinstance(source, dict) else ""


def event_key(event: Event) -> tuple[str, str, str, str]:
    """What makes an escEvent distinct in one scenario: type, deployment, VM (for ESC_IN_SERVICE and
    ESC_OUT_OF_SERVICE the message, which names the member: one each per change of active) and outcome."""
    who = event.status_message if event.type.startswith("ESC_") else vm_name(event)
    return (event.type, str(event.fields.get("depname", "")), who, event.status)


def rejoined_as_standby(server: ServerProcess, timeout: float = 15.0) -> None:
    """Wait until a fenced active says it rejoined its group as a standby (it keeps running)."""
    deadline = time.monotonic() + timeout
    while "rejoined its group as a standby" not in "".join(server.output):
        assert server.running(), "".join(server.output)
        assert time.monotonic() < deadline, "".join(server.output)
        time.sleep(0.1)


def duplicated(events: list[Event]) -> list[tuple[tuple[str, str, str, str], int]]:
    """The events that appear more than once, with their counts."""
    return [(key, n) for key, n in Counter(map(event_key, events)).items() if n > 1]


def vim_calls(lines: Iterable[str]) -> list[str]:
    """The VIM calls a server's DEBUG log records (``VimCallCounter.record``)."""
    return [line.split(VIM_CALL, 1)[1].strip() for line in lines if VIM_CALL in line]


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the loopback TCP socket ``127.0.0.1:local_port -> :remote_port`` (``/proc/net/tcp``)."""
    wanted = (f"{local_port:04X}", f"{remote_port:04X}")
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if (fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]) == wanted:
                return fields[9]
    return None


def socket_owner(local_port: int, remote_port: int, pids: Iterable[int]) -> int | None:
    """Which of ``pids`` holds that socket open, if any."""
    inode = _socket_inode(local_port, remote_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


@dataclass(frozen=True)
class Sender:
    """Who sent one callback POST, and when it arrived (``time.monotonic()``)."""

    pid: int | None
    event_id: str
    received: float


class OwnedCallbackReceiver(CallbackReceiver):
    """A :class:`CallbackReceiver` that also notes, for every POST, which server process sent it."""

    def __init__(self) -> None:
        super().__init__()
        self.pids: list[int] = []
        self.senders: list[Sender] = []
        receiver = self
        base = self._server.RequestHandlerClass
        lock = threading.Lock()

        class Owned(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                owner = socket_owner(self.client_address[1], receiver.port, list(receiver.pids))
                with lock:
                    receiver.senders.append(Sender(owner, self.headers.get("ESC-Event-Id", ""), time.monotonic()))
                super().do_POST()

        self._server.RequestHandlerClass = Owned
