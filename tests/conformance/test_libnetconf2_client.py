"""The server as CESNET's libnetconf2/libyang clients (netopeer2-cli and everything built on them) see it.

``lnc2-client`` (tests/conformance/lnc2client, built by ``make lnc2-client`` against Debian's
libnetconf2-dev into .cache/) connects with libnetconf2, which builds its YANG context only from the
server's hello, ietf-yang-library and get-schema, then builds, sends and parses every message with libyang
against that context. Each step below is one a netopeer2-cli user takes: connect, get-config, get-schema,
validate, edit-config to running, create-subscription with escEvents received, the ESC RPCs as user RPCs,
get, lock, kill-session.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.file_lock import exclusive
from tests.integration import samples
from tests.integration.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / ".cache" / "lnc2-client"
TENANT, DEP = "lnc2-tenant", "lnc2-dep"


def client_binary() -> Path:
    """The client, (re)built by its make target when the sources changed; a skip only when it cannot be built."""
    have_library = shutil.which("pkg-config") is not None and subprocess.run(
        ["pkg-config", "--exists", "libnetconf2", "libyang"], check=False).returncode == 0
    if have_library and shutil.which("cc") and shutil.which("make"):
        with exclusive(CLIENT.with_name("lnc2-client.lock")):  # parallel workers: one builds, the others wait
            subprocess.run(["make", "-s", "lnc2-client"], cwd=ROOT, check=True, timeout=120)
    elif not CLIENT.exists():
        pytest.skip("libnetconf2-dev, libyang2-dev, pkg-config or a C compiler is not installed; .ci/run installs them")
    return CLIENT


def run(port: int, searchdir: Path, *steps: str, timeout: float = 120) -> tuple[int, str]:
    searchdir.mkdir(exist_ok=True)
    done = subprocess.run([str(client_binary()), "127.0.0.1", str(port), "admin", "admin", *steps],
                          capture_output=True, text=True, timeout=timeout, env={"LNC2_SEARCHDIR": str(searchdir)})
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    esc = samples.ESC_NS
    content = {
        "deploy": samples.without_config_wrapper(
            samples.deployment(TENANT, DEP, [samples.vm_group("g", min_active=1, max_active=1)])),
        "undeploy": samples.without_config_wrapper(samples.delete_deployment(TENANT, DEP)).replace(
            "<esc_datamodel ", '<esc_datamodel xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" ', 1),
        **{
            action: f'<serviceAction xmlns="{esc}"><actionType>{action}</actionType><tenantName>{TENANT}</tenantName>'
                    f"<depName>{dep}</depName></serviceAction>"
            for action, dep in (("STOP", DEP), ("START", DEP), ("REBOOT", "no-such-dep"))
        },
    }
    paths = {}
    for name, text in content.items():
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_text(text)
    yield paths


def test_the_context_libnetconf2_builds_from_the_server_has_what_netopeer2_cli_needs(
        server: ServerProcess, tmp_path: Path) -> None:
    code, out = run(server.netconf_port, tmp_path / "schemas",
                    "module:esc", "module:ietf-netconf", "module:ietf-netconf-monitoring", "module:notifications",
                    "module:nc-notifications", "module:ietf-yang-library",
                    "feature:ietf-netconf:writable-running", "feature:ietf-netconf:validate",
                    "feature:ietf-netconf:rollback-on-error", "feature:ietf-netconf:xpath")
    assert code == 0, out[-4000:]


def test_a_lifecycle_through_libnetconf2(server: ServerProcess, files: dict[str, Path], tmp_path: Path) -> None:
    victim = subprocess.Popen([str(client_binary()), "127.0.0.1", str(server.netconf_port), "admin", "admin",
                               "session-id", "lock", "hold:60"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={"LNC2_SEARCHDIR": str(tmp_path / "victim-schemas")})
    try:
        (tmp_path / "victim-schemas").mkdir()
        assert victim.stdout is not None
        victim_lines = []
        for line in victim.stdout:
            victim_lines.append(line)
            if line.startswith(("DONE lock", "FAILED")):
                break
        assert victim_lines[-1].startswith("DONE lock"), "".join(victim_lines)
        sid = next(line.split()[1] for line in victim_lines if line.startswith("SESSION-ID"))

        code, out = run(
            server.netconf_port, tmp_path / "schemas",
            "get-config", "get-schema:esc", f"validate:{files['deploy']}",
            "expect-error", f"edit:{files['deploy']}",  # running is locked by the other session
            "subscribe:escEvent",
            "expect-error", "lock", f"kill:{sid}", "lock",
            f"edit:{files['deploy']}", "notif:SERVICE_ALIVE:60",
            "get:/esc:esc_datamodel/opdata/tenants",
            f"rpc:{files['STOP']}", "notif:SERVICE_STOPPED:30",
            f"rpc:{files['START']}", "notif:SERVICE_ALIVE:30",
            "expect-error", f"rpc:{files['REBOOT']}",
            "unlock",
        )
        assert code == 0, out[-4000:]
        lines = out.splitlines()
        assert any(line.startswith("REPLY get-schema:esc data") and "module esc" in line for line in lines), out
        assert any(line.startswith("REPLY lock rpc-error") and "lock-denied" in line for line in lines), out
        assert any(line.startswith("REPLY get:") and "<vm_instance>" in line for line in lines), out
        alive = [line for line in lines if line.startswith("NOTIF") and "<type>SERVICE_ALIVE</type>" in line]
        assert len(alive) == 2 and f"<depname>{DEP}</depname>" in alive[0], out
        refused = next(line for line in lines if line.startswith("REPLY rpc:") and "rpc-error" in line)
        assert "<error_code" in refused and "404" in refused, refused

        vm_alive = next(line for line in lines if line.startswith("NOTIF") and "<type>VM_ALIVE</type>" in line)
        vm = re.findall(r"<vmname>([^<]+)</vmname>", vm_alive)[0]
        esc = samples.ESC_NS
        for name, rpc in {
            "vm-stop": f"<actionType>STOP</actionType><vmName>{vm}</vmName><force>true</force>",
            "vm-start": f"<actionType>START</actionType><vmName>{vm}</vmName>",
            "recover": f"<actionType>DO</actionType><vmName>{vm}</vmName>",
        }.items():
            element = "recoveryVmAction" if name == "recover" else "vmAction"
            (tmp_path / f"{name}.xml").write_text(f'<{element} xmlns="{esc}">{rpc}</{element}>')
        code, out = run(
            server.netconf_port, tmp_path / "schemas", "subscribe:escEvent",
            f"rpc:{tmp_path / 'vm-stop.xml'}", "notif:VM_STOPPED:30",
            f"rpc:{tmp_path / 'vm-start.xml'}", "notif:VM_ALIVE:30",
            f"rpc:{tmp_path / 'recover.xml'}", "notif:VM_RECOVERY_COMPLETE:60",
            f"edit:{files['undeploy']}", "notif:SERVICE_UNDEPLOYED:30",
        )
        assert code == 0, out[-4000:]
        assert f"<vmname>{vm}</vmname>" in next(line for line in out.splitlines() if "VM_RECOVERY_COMPLETE" in line)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
