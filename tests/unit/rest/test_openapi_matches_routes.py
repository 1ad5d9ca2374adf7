"""The OpenAPI description in the repo describes exactly the routes the server adds (no sockets)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from aiohttp import web

from esc_netconf.core.backup import MemorySnapshotStore, SnapshotManager
from esc_netconf.core.events import EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.rest.escmanager import API_PREFIX, add_escmanager_routes
from esc_netconf.vim.sim import SimCloud, SimSettings

OPENAPI = Path(__file__).resolve().parents[3] / "esc_netconf" / "rest" / "openapi.yaml"


def _shape(path: str) -> str:
    """``/snapshots/{snapshot_id}/volumes`` and ``/snapshots/{snapshot}/volumes`` compare equal."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_is_described_and_every_description_is_routed(tmp_path: Path) -> None:
    sim = SimCloud(tmp_path / "sim", lambda: SimSettings(delay_scale=0.0))
    bus = EventBus()
    core = EscCore(sim, MemoryStore(), bus)
    snapshots = SnapshotManager(core, sim, MemorySnapshotStore(), bus, setting=lambda key: 1.0,
                                export_dir=tmp_path / "exports")
    web_app = web.Application()
    add_escmanager_routes(web_app, core=core, snapshots=snapshots, bus=bus)
    routed = {(route.method.lower(), _shape(route.resource.canonical.removeprefix(API_PREFIX)))
              for route in web_app.router.routes()
              if route.resource is not None and route.method != "HEAD"}

    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.0") and document["servers"] == [{"url": API_PREFIX}]
    described = {(method, _shape(path)) for path, item in document["paths"].items() for method in item
                 if method in ("get", "post", "put", "delete", "patch")}
    assert routed == described


def test_every_reference_resolves() -> None:
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    refs = re.findall(r'\$ref: "#/([^"]+)"', OPENAPI.read_text(encoding="utf-8"))
    assert refs
    for ref in refs:
        node = document
        for part in ref.split("/"):
            node = node[part]
        assert node
