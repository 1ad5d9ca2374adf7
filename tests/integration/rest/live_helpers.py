"""Helpers for REST tests against a live ``esc-netconf serve``: plain HTTP, curl, deploying over NETCONF."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration import samples
from tests.integration.esc_client import EscClient
from tests.integration.server_process import ServerProcess


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def deployments(server: ServerProcess) -> list[dict[str, Any]]:
    reply = http("GET", f"{server.rest_url}/deployments", headers={"Accept": "application/json"})
    assert reply.status == 200, reply
    result: list[dict[str, Any]] = reply.json()["deployments"]
    return result


def wait_until_idle(server: ServerProcess, tenant: str, name: str, state: str,
                    timeout: float = 30.0) -> dict[str, Any]:
    """The deployment once it is in ``state`` with no operation running."""
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in deployments(server) if d["tenant"] == tenant and d["name"] == name]
        if found and found[0]["state"] == state and found[0]["busy_with"] is None:
            return found[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tenant}/{name} not {state}: {found}")
        time.sleep(0.05)


def deploy(server: ServerProcess, tenant: str, name: str, *, group: str = "new-gr",
           boot_volume: bool = False) -> dict[str, Any]:
    """Deploy one VM over NETCONF (as an operator would) and wait until the service is active."""
    client = EscClient(server.netconf_port)
    try:
        client.edit(samples.deployment(tenant, name, [samples.vm_group(group, boot_volume=boot_volume,
                                                                       max_active=1)]))
    finally:
        client.close()
    return wait_until_idle(server, tenant, name, "SERVICE_ACTIVE_STATE")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {'libxml2-utils' if name == 'xmllint' else name})")
    return path


def shell(command: str, cwd: Path, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run an operator's command line (pipes included) with bash, failing on any stage of a pipe."""
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
