"""Property-based fuzzing of the ESCManager API from its own OpenAPI description (schemathesis).

The server has a real deployment (boot volume) and a snapshot, and schemathesis draws path parameters from
their real names and ids part of the time (dictionaries), so generated requests reach the core and the
snapshot manager instead of stopping at 404.  Pass criteria: no 5xx answer, no error logged by our
code, and afterwards the server still answers REST and NETCONF and its process is alive.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.esc_client import EscClient
from tests.integration.rest.live_helpers import deploy, http
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.timeout(240)

#: Callbacks go to a local port nobody listens on: the fuzzer must not make the server call out to the
#: Internet, and it exercises the dead-receiver path on the way.
DEAD_RECEIVER = "http://127.0.0.1:9/callbacks"

CONFIG = """\
[generation]
max-examples = {examples}
database = "none"

[dictionaries.tenants]
values = {tenants}
[dictionaries.deployments]
values = {deployments}
[dictionaries.vms]
values = {vms}
[dictionaries.snapshots]
values = {snapshots}

[parameters]
"path.internal_tenant_id" = {{ dictionary = "tenants", probability = 0.7 }}
"path.internal_deployment_id" = {{ dictionary = "deployments", probability = 0.7 }}
"path.vm_name" = {{ dictionary = "vms", probability = 0.7 }}
"path.generated_vm_name" = {{ dictionary = "vms", probability = 0.7 }}
"path.snapshot" = {{ dictionary = "snapshots", probability = 0.7 }}
"path.snapshot_id" = {{ dictionary = "snapshots", probability = 0.7 }}
"query.internalTenantId" = {{ dictionary = "tenants", probability = 0.5 }}
"query.generatedVMName" = {{ dictionary = "vms", probability = 0.5 }}
"header.callback" = "{dead}"
"header.Callback-ESC-Events" = "{dead}"
"""


def _st() -> str:
    path = shutil.which("st", path=str(Path(sys.executable).parent))
    if path is None:
        pytest.skip("schemathesis is not installed (pip install '.[test]')")
    return path


def test_fuzz_from_openapi_finds_no_server_error(server: ServerProcess, tmp_path: Path) -> None:
    st = _st()
    dep = deploy(server, "fuzz-tenant", "fuzz-dep", boot_volume=True)
    vm = dep["vms"][0]["name"]
    reply = http("POST", f"{server.rest_url}/fuzz-tenant/deployments/snapshot-vm/{vm}",
                 json.dumps({"operation": "snapshot", "name": "fuzz-snap"}).encode())
    assert reply.status == 200
    listing = http("GET", f"{server.rest_url}/snapshots", headers={"Accept": "application/json"}).json()
    snapshot_id = listing["snapshots"][0]["id"]
    (tmp_path / "schemathesis.toml").write_text(CONFIG.format(
        examples=25, tenants=json.dumps(["fuzz-tenant"]), deployments=json.dumps([dep["deployment_id"], "fuzz-dep"]),
        vms=json.dumps([vm]), snapshots=json.dumps([snapshot_id, "fuzz-snap"]), dead=DEAD_RECEIVER))
    result = subprocess.run(
        [st, "run", f"{server.rest_url}/openapi.yaml", "--checks", "not_a_server_error", "--seed", "20261125",
         "--no-color", "--workers", "1", "--request-timeout", "10", "--wait-for-schema", "10"],
        cwd=tmp_path, capture_output=True, text=True, timeout=200)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = result.stdout.split("SUMMARY")[-1]
    assert "Tested: 8" in summary and " passed" in summary and "not_a_server_error" not in summary, summary
    print(summary)

    assert server.running()
    assert http("GET", f"{server.rest_url}/snapshots").status == 200
    assert http("GET", f"{server.rest_url}/deployments", headers={"Accept": "application/json"}).status == 200
    client = EscClient(server.netconf_port)
    try:
        client.call('<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>')
    finally:
        client.close()
    # aiohttp itself logs malformed HTTP (bad header bytes) with a traceback; none may come from our code
    log = "".join(server.output)
    assert " ERROR esc_netconf" not in log, log[-5000:]
