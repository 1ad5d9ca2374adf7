"""Two servers on one PostgreSQL, as an operator runs a pair (CONTRACT section 8): one active, one standby
whose listeners answer reads and refuse changes naming the active; kill -9 of the active and the standby
takes over within --ha-takeover-secs; a clean stop hands the lease over at once.

Real clients only: ncclient for NETCONF, curl for REST, escadm as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ncclient import manager
from ncclient.operations.rpc import RPCError

from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.server_process import ServerProcess
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgresql

TAKEOVER_SECS = 2.0


def connect(port: int) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                           allow_agent=False, look_for_keys=False, timeout=30)


def curl(method: str, url: str, body: str | None = None) -> tuple[int, dict[str, object]]:
    args = ["curl", "-s", "-u", "admin:admin", "-X", method, "-w", "\n%{http_code}", url]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", body]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    text, _, code = done.stdout.rpartition("\n")
    return int(code), json.loads(text) if text.strip() else {}


def ha(server: ServerProcess) -> dict[str, object]:
    code, body = curl("GET", f"{server.rest_url}/ha")
    assert code == 200, body
    return body


def member(tmp_path: Path, name: str, url: str) -> ServerProcess:
    return ServerProcess(tmp_path / name, properties=FAST_PROPERTIES,
                         extra_args=["--database", url, "--ha-takeover-secs", str(TAKEOVER_SECS)])


@pytest.fixture
def pair(tmp_path: Path, postgres: PostgresServer) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres.create_database()
    first = member(tmp_path, "a", url).start()
    second = member(tmp_path, "b", url).start()
    yield first, second
    for proc in (first, second):
        if proc.running():
            proc.kill()


def wait_for_role(server: ServerProcess, role: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if ha(server)["role"] == role:
                return time.monotonic() - started
        except subprocess.CalledProcessError:  # a promoted standby swaps its listeners: a brief refusal
            pass
        time.sleep(0.05)
    raise AssertionError(f"{server.rest_url} did not become {role} in {timeout} s: {ha(server)}")


def test_one_active_one_standby_and_the_standby_refuses_changes_naming_the_active(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    where = {"host": "127.0.0.1", "netconf_port": active.netconf_port, "rest_port": active.rest_port}
    assert ha(active)["role"] == "active" and ha(active)["active"] == where
    assert ha(standby)["role"] == "standby" and ha(standby)["active"] == where
    assert ha(active)["node"] != ha(standby)["node"]

    on_active = escadm(active.rest_url, "status")
    on_standby = escadm(standby.rest_url, "status")
    assert on_active.returncode == 0 and on_active.stdout.splitlines()[0] == "ESC status=0 ESC Master Healthy"
    assert on_standby.returncode == 0 and on_standby.stdout.splitlines()[0] == "ESC status=0 ESC Backup Healthy"

    with connect(active.netconf_port) as nc_active:
        nc_active.edit_config(target="running", config=samples.tenant_only("ha-tenant"))
    with connect(standby.netconf_port) as nc_standby:
        # reads come from the shared store: the active's commit is visible on the standby
        assert "ha-tenant" in nc_standby.get_config(source="running").data_xml
        with pytest.raises(RPCError) as refused:
            nc_standby.edit_config(target="running", config=samples.tenant_only("not-here"))
        assert refused.value.tag == "operation-failed"
        assert f"127.0.0.1:{active.netconf_port}" in str(refused.value.message)
        with pytest.raises(RPCError) as rpc_refused:
            nc_standby.dispatch(_service_action())
        assert rpc_refused.value.tag == "operation-failed"
        assert "not-here" not in nc_standby.get_config(source="running").data_xml

    code, body = curl("POST", f"{standby.rest_url}/tenants/rest-tenant", "{}")
    assert code == 503 and f"http://127.0.0.1:{active.rest_port}" in str(body["error"])
    code, _ = curl("GET", f"{standby.rest_url}/ha")
    assert code == 200


def _service_action() -> object:
    from lxml import etree

    return etree.fromstring(
        f'<serviceAction xmlns="{samples.ESC_NS}"><actionType>STOP</actionType>'
        "<tenantName>t</tenantName><depName>d</depName></serviceAction>")


def test_kill_9_of_the_active_and_the_standby_takes_over_within_the_takeover_time(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    with connect(active.netconf_port) as nc:
        nc.edit_config(target="running", config=samples.tenant_only("before"))
    killed = time.monotonic()
    active.kill()
    wait_for_role(standby, "active", timeout=TAKEOVER_SECS + 3)
    # accepting changes, on the same ports it listened on as a standby
    while True:
        try:
            with connect(standby.netconf_port) as nc:
                nc.edit_config(target="running", config=samples.tenant_only("after"))
                config = nc.get_config(source="running").data_xml
            break
        except (RPCError, OSError, Exception):  # noqa: BLE001 - the listeners are being swapped
            if time.monotonic() - killed > TAKEOVER_SECS + 3:
                raise
            time.sleep(0.1)
    took = time.monotonic() - killed
    assert took <= TAKEOVER_SECS + 1.5, f"took over in {took:.2f} s"
    assert "before" in config and "after" in config
    assert ha(standby)["active"] == {"host": "127.0.0.1", "netconf_port": standby.netconf_port,
                                     "rest_port": standby.rest_port}
    assert escadm(standby.rest_url, "status").stdout.splitlines()[0] == "ESC status=0 ESC Master Healthy"


def test_a_clean_stop_of_the_active_hands_over_at_once(pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    assert active.stop() == 0
    assert wait_for_role(standby, "active", timeout=TAKEOVER_SECS) < TAKEOVER_SECS


def test_a_partitioned_active_is_fenced_and_stops_when_it_comes_back(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    """SIGSTOP of the active for longer than its lease (what a partition looks like to the group), then
    SIGCONT: the standby has taken over; the old active finds its lease gone, stops acting, says so and exits."""
    old, new = pair
    os.kill(old.pid, signal.SIGSTOP)
    try:
        wait_for_role(new, "active", timeout=TAKEOVER_SECS + 3)
        with connect(new.netconf_port) as nc:
            nc.edit_config(target="running", config=samples.tenant_only("on-the-new-active"))
    finally:
        os.kill(old.pid, signal.SIGCONT)
    assert old.wait_exit(timeout=10) == 1
    log = "".join(old.output)
    assert "lost the lease" in log and "stopped acting" in log, log
    assert ha(new)["role"] == "active"
