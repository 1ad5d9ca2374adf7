"""Run esc_nc_cli and escadm as an operator does (subprocesses) against a live server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.integration import samples
from tests.integration.esc_client import EscClient
from tests.integration.server_process import ServerProcess

SEED_OK_REPLY = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1">',
    "  <ok/>",
    "</rpc-reply>",
]
CONSOLE_LINE = r"^netconf-console2 --port=\d+ --host=127\.0\.0\.1 --user=admin --rpc=\S*tmp_esc_nc_cli\.\S+$"


def nc_cli_argv(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "esc_netconf.cli.esc_nc_cli", "--port", str(port), "--timeout", "20", *args]


def nc_cli(server: ServerProcess | int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    port = server if isinstance(server, int) else server.netconf_port
    return subprocess.run(nc_cli_argv(port, *args), capture_output=True, text=True, timeout=timeout)


def escadm(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esc_netconf.cli.escadm", "--url", url, "--timeout", "20", *args],
        capture_output=True, text=True, timeout=timeout,
    )


def escadm_local(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esc_netconf.cli.escadm", *args], capture_output=True, text=True, timeout=timeout
    )


def write_deployment(path: Path, tenant: str, name: str) -> Path:
    """The deployment document as an operator keeps it: <esc_datamodel> without the <config> wrapper."""
    config = samples.deployment(tenant, name, [samples.vm_group("g1", min_active=1, max_active=1)])
    path.write_text(samples.without_config_wrapper(config))
    return path


def wait_for(client: EscClient, tenant: str, dep: str, service_state: str, timeout: float = 30.0) -> dict[str, str]:
    """Poll opdata until the deployment is in ``service_state``; returns the VM states."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.service_state(tenant, dep) == service_state:
                return client.vm_states(tenant, dep)
        except AssertionError:
            pass  # not in opdata yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tenant}/{dep} did not reach {service_state}")
        time.sleep(0.05)


def wait_vm(client: EscClient, tenant: str, dep: str, vm: str, vm_state: str, timeout: float = 30.0) -> None:
    """Poll opdata until ``vm`` is in ``vm_state``."""
    deadline = time.monotonic() + timeout
    while client.vm_states(tenant, dep).get(vm) != vm_state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{vm} did not reach {vm_state}: {client.vm_states(tenant, dep)}")
        time.sleep(0.05)
