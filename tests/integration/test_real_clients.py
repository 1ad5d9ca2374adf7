"""The clients operators actually use, as subprocesses or libraries: netconf-console2, OpenSSH, scrapli."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_netconf.users import hash_password
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.server_process import ServerProcess

NETCONF_CONSOLE = Path(sys.executable).parent / "netconf-console2"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


def console(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NETCONF_CONSOLE), "--host", "127.0.0.1", "--port", str(server.netconf_port),
         "-u", "admin", "-p", "admin", *args],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_netconf_console2_hello_and_get_config(shared_server: ServerProcess, version: str) -> None:
    hello = console(shared_server, "-v", version, "--hello")
    assert hello.returncode == 0, hello.stderr
    assert "urn:ietf:params:netconf:base:1.1" in hello.stdout
    assert "http://www.cisco.com/esc/esc?module=esc" in hello.stdout
    get_config = console(shared_server, "-v", version, "--get-config")
    assert get_config.returncode == 0, get_config.stderr
    assert "<data" in get_config.stdout


def test_netconf_console2_edit_and_xpath_get(shared_server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "tenant.xml"
    config.write_text(samples.without_config_wrapper(samples.tenant_only("console-tenant")))
    edit = console(shared_server, "--edit-config", str(config))
    assert edit.returncode == 0, edit.stderr + edit.stdout
    got = console(shared_server, "--get-config", "-x", "esc_datamodel/tenants/tenant[name='console-tenant']")
    assert got.returncode == 0, got.stderr
    assert "<name>console-tenant</name>" in got.stdout


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """A server whose admin logs in with a public key (and a non-default password)."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    users = tmp_path / "users.toml"
    users.write_text(
        "[[users]]\n"
        'name = "admin"\n'
        f'password_hash = "{hash_password("s3cret")}"\n'
        f'authorized_keys = ["{key.with_suffix(".pub").read_text().strip()}"]\n'
    )
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES, extra_args=["--config", str(users)]).start()
    yield proc, key
    proc.stop()


def test_openssh_subsystem_with_public_key(keyed_server: tuple[ServerProcess, Path]) -> None:
    if shutil.which("ssh") is None:
        pytest.skip("ssh (openssh-client) is not installed")
    server, key = keyed_server
    hello = (
        f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{BASE}"><capabilities>'
        "<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>"
        f'<rpc message-id="1" xmlns="{BASE}"><get-config><source><running/></source></get-config></rpc>]]>]]>'
        f'<rpc message-id="2" xmlns="{BASE}"><close-session/></rpc>]]>]]>'
    )
    result = subprocess.run(
        ["ssh", "-i", str(key), "-p", str(server.netconf_port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
         "admin@127.0.0.1", "-s", "netconf"],
        input=hello, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "<session-id>" in result.stdout
    assert 'message-id="1"' in result.stdout and "<data" in result.stdout
    assert 'message-id="2"' in result.stdout and "<ok/>" in result.stdout


def test_default_password_is_not_accepted_when_users_are_configured(keyed_server: tuple[ServerProcess, Path]) -> None:
    server, _ = keyed_server
    result = subprocess.run(
        [str(NETCONF_CONSOLE), "--host", "127.0.0.1", "--port", str(server.netconf_port), "-u", "admin",
         "-p", "admin", "--hello"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    ok = subprocess.run(
        [str(NETCONF_CONSOLE), "--host", "127.0.0.1", "--port", str(server.netconf_port), "-u", "admin",
         "-p", "s3cret", "--hello"],
        capture_output=True, text=True, timeout=60,
    )
    assert ok.returncode == 0, ok.stderr


def test_scrapli_netconf_over_openssh(keyed_server: tuple[ServerProcess, Path]) -> None:
    if shutil.which("ssh") is None:
        pytest.skip("ssh (openssh-client) is not installed")
    from scrapli_netconf.driver import NetconfDriver

    server, key = keyed_server
    conn = NetconfDriver(
        host="127.0.0.1", port=server.netconf_port, auth_username="admin", auth_private_key=str(key),
        auth_strict_key=False, transport="system", timeout_ops=30,
        ssh_config_file=False,
    )
    conn.open()
    try:
        reply = conn.get_config(source="running")
        assert not reply.failed, reply.result
        assert "<data" in reply.result
    finally:
        conn.close()


def test_non_loopback_bind_without_users_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "esc_netconf.cli.serve", "serve", "--host", "0.0.0.0", "--netconf-port", "0",
         "--rest-port", "0", "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "admin/admin" in result.stderr and "--config" in result.stderr
