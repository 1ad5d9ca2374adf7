"""The package as a user installs it: build the wheel, install it into a clean virtualenv (dependencies
from the package index, through pip's cache), start ``esc-netconf serve`` from that virtualenv, outside
the checkout, and talk NETCONF to it. ``make test-wheel`` runs this (about a minute, mostly pip)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ncclient import manager

from tests.integration.server_process import ServerProcess

pytestmark = [pytest.mark.wheel, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
ESC = "http://www.cisco.com/esc/esc"


def run(*args: str | Path, cwd: Path) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=540,
                            check=False)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_a_wheel_installed_in_a_clean_venv_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)  # nothing may come from the checkout
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", REPO, cwd=tmp_path)
    wheels = list((tmp_path / "dist").glob("esc_netconf-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheels[0],
        cwd=tmp_path)

    where = run(venv / "bin" / "python", "-c",
                "import esc_netconf, importlib.resources as r; "
                "print(esc_netconf.__file__); print(r.files('esc_netconf.yang'))", cwd=tmp_path).split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # the installed copy, not the checkout

    server = ServerProcess(tmp_path / "data", command=[str(venv / "bin" / "esc-netconf")], cwd=tmp_path).start(
        timeout=60)
    try:
        with manager.connect(host="127.0.0.1", port=server.netconf_port, username="admin", password="admin",
                             hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=30) as nc:
            caps = list(nc.server_capabilities)
            assert any(c.startswith(f"{ESC}?module=esc&revision=") for c in caps)
            assert any(c.startswith("urn:ietf:params:netconf:capability:yang-library:1.0?revision=") for c in caps)
            assert nc.get_config(source="running").data_ele is not None
            assert nc.get_schema("esc").data == (REPO / "yang" / "esc.yang").read_text(encoding="utf-8")
            assert nc.get_schema("notifications").data.lstrip().startswith("module notifications")
    finally:
        assert server.stop() == 0, "".join(server.output)
