"""REST security on a live server: open on loopback, basic auth (the NETCONF users) on any other address."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from esc_netconf.users import hash_password
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.rest.live_helpers import http
from tests.integration.server_process import ServerProcess


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_loopback_needs_no_credentials(shared_server: ServerProcess) -> None:
    reply = http("GET", f"{shared_server.rest_url}/snapshots")
    assert reply.status == 200 and reply.body.startswith(b"<?xml")


def test_non_loopback_bind_requires_basic_auth(tmp_path: Path) -> None:
    config = tmp_path / "users.toml"
    config.write_text(f'[[users]]\nname = "orchestrator"\npassword_hash = "{hash_password("s3cret-pass")}"\n')
    server = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES, host="0.0.0.0",
                           extra_args=["--config", str(config)]).start()
    try:
        url = f"http://127.0.0.1:{server.rest_port}/ESCManager/v0"
        refused = http("GET", f"{url}/snapshots")
        assert refused.status == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert http("GET", f"{url}/snapshots", headers=basic("orchestrator", "wrong")).status == 401
        assert http("GET", f"{url}/deployments", headers=basic("admin", "admin")).status == 401
        assert http("POST", f"{url}/t/deployments/service/d", b'{"operation": "stop"}').status == 401
        ok = http("GET", f"{url}/snapshots", headers={"Accept": "application/json", **basic("orchestrator",
                                                                                             "s3cret-pass")})
        assert ok.status == 200 and ok.json() == {"snapshots": []}
        missing = http("POST", f"{url}/nobody/deployments/service/d", b'{"operation": "stop"}',
                       headers=basic("orchestrator", "s3cret-pass"))
        assert missing.status == 404
    finally:
        server.stop()


def test_non_loopback_bind_without_users_refuses_to_start(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES, host="0.0.0.0")
    with pytest.raises(RuntimeError, match="Refusing to listen on 0.0.0.0"):
        server.start()
