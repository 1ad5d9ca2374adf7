"""escadm as a subprocess against a live server: the seed's vimmanager output, status, backup/restore."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm, escadm_local
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient
from tests.integration.server_process import ServerProcess

CREATE_POLL = "vim.asyncpoller.snapshot.create.poll.secs"
CREATE_TIMEOUT = "vim.asyncpoller.snapshot.create.timeout.mins"


def show(server: ServerProcess) -> dict[str, str]:
    result = escadm(server.rest_url, "vimmanager", "show")
    assert result.returncode == 0, result.stderr
    title, _, body = result.stdout.partition("\n")
    assert title == "VimManager System Configurations."
    settings = json.loads(body)
    assert isinstance(settings, dict)
    return settings


def test_show_prints_every_setting_as_json_strings(shared_server: ServerProcess) -> None:
    server = shared_server
    settings = show(server)
    assert settings[CREATE_POLL] == FAST_PROPERTIES[CREATE_POLL]
    assert settings[CREATE_TIMEOUT] == "20"
    for key in ("vim.asyncpoller.snapshot.delete.poll.secs", "vim.asyncpoller.snapshot.delete.timeout.mins",
                "vim.asyncpoller.volume.create.poll.secs", "vim.asyncpoller.volume.create.timeout.mins"):
        assert key in settings
    assert all(isinstance(value, str) for value in settings.values())
    lines = escadm(server.rest_url, "vimmanager", "show").stdout.splitlines()
    assert lines[1] == "{" and lines[-1] == "}"
    assert f'  "{CREATE_TIMEOUT}": "20",' in lines


def test_set_show_restart_show(server: ServerProcess) -> None:
    result = escadm(server.rest_url, "vimmanager", "set", "--config", f"{CREATE_POLL}=200", f"{CREATE_TIMEOUT}=1",
                    "vim.sim.fault.server.create=error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"VimManager configuration [{CREATE_POLL}] has updated to [200].",
        f"VimManager configuration [{CREATE_TIMEOUT}] has updated to [1].",
        "VimManager configuration [vim.sim.fault.server.create] has updated to [error].",
    ]
    settings = show(server)
    assert (settings[CREATE_POLL], settings[CREATE_TIMEOUT]) == ("200", "1")
    assert settings["vim.sim.fault.server.create"] == "error"

    # The file changes under the running server; restart (not set) is what reads it.
    server.write_properties({**FAST_PROPERTIES, "vim.asyncpoller.snapshot.delete.timeout.mins": "60"})
    restart = escadm(server.rest_url, "vimmanager", "restart")
    assert restart.returncode == 0, restart.stderr
    assert restart.stdout.splitlines() == ["Stopping vimmanager service: [OK]", "Starting vimmanager service: [OK]"]
    settings = show(server)
    assert settings[CREATE_POLL] == FAST_PROPERTIES[CREATE_POLL]
    assert settings[CREATE_TIMEOUT] == "20"
    assert settings["vim.asyncpoller.snapshot.delete.timeout.mins"] == "60"
    assert settings["vim.sim.fault.server.create"] == "none"

    # A file the VIM manager cannot read is refused, and the running settings stay as they were.
    assert escadm(server.rest_url, "vimmanager", "set", "--config", f"{CREATE_POLL}=7").returncode == 0
    server.properties_path.write_text("vim.asyncpoller.snapshot.create.poll.secs=fast\n")
    refused = escadm(server.rest_url, "vimmanager", "restart")
    assert refused.returncode == 1
    assert "fast" in refused.stderr and "Starting" not in refused.stdout
    assert show(server)[CREATE_POLL] == "7"


def test_unknown_keys_and_bad_values_are_refused_and_change_nothing(shared_server: ServerProcess) -> None:
    server = shared_server
    before = show(server)
    for words, why in (
        ([f"{CREATE_POLL}=5", "no.such.key=1"], "[no.such.key] is not a known key"),
        ([f"{CREATE_POLL}=5", f"{CREATE_TIMEOUT}=soon"], "must be a number, not [soon]"),
        ([f"{CREATE_POLL}=-1"], "must be greater than 0"),
        (["vim.sim.fault.server.create=sometimes"], "must be error, timeout or none"),
    ):
        result = escadm(server.rest_url, "vimmanager", "set", "--config", *words)
        assert result.returncode == 1, result.stdout
        assert why in result.stderr
        assert result.stdout == ""
        assert show(server) == before


def test_status_reports_every_part(shared_server: ServerProcess) -> None:
    server = shared_server
    result = escadm(server.rest_url, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["NETCONF", "OK"], ["REST", "OK"], ["VIM", "OK"], ["STORE", "OK"]]
    assert f"port={server.netconf_port}" in lines[0]
    report = json.loads(escadm(server.rest_url, "status", "--json").stdout)
    assert set(report) == {"netconf", "rest", "vim", "store"} and all(part["ok"] for part in report.values())


def test_the_rest_url_the_server_prints_works_too(shared_server: ServerProcess) -> None:
    assert shared_server.rest_url.endswith("/ESCManager/v0")
    assert escadm(shared_server.rest_url, "status").returncode == 0


def test_wrong_credentials_and_no_server_exit_3(shared_server: ServerProcess) -> None:
    refused = escadm(shared_server.rest_url, "--password", "nope", "vimmanager", "show")
    assert refused.returncode == 3 and "refused the credentials" in refused.stderr
    gone = escadm("http://127.0.0.1:1", "status")
    assert gone.returncode == 3 and "Cannot reach" in gone.stderr


def test_every_command_has_help() -> None:
    for args in ([], ["vimmanager"], ["vimmanager", "show"], ["vimmanager", "set"], ["vimmanager", "restart"],
                 ["status"], ["backup"], ["restore"]):
        result = escadm_local(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Exit status" in result.stdout
    script = Path(sys.executable).parent / "escadm"
    assert subprocess.run([str(script), "--help"], capture_output=True, timeout=30).returncode == 0


# --- backup and restore ------------------------------------------------------------------------------------


def test_backup_under_load_restores_into_a_fresh_data_dir_with_nothing_lost(
    server: ServerProcess, tmp_path: Path
) -> None:
    acknowledged: list[str] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        client = EscClient(server.netconf_port)
        try:
            index = 0
            while not stop.is_set():
                name = f"load-{index:05d}"
                client.edit(samples.tenant_only(name))
                acknowledged.append(name)
                index += 1
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
        finally:
            client.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(acknowledged) < 20:
            assert time.monotonic() < deadline and not failures, failures
            time.sleep(0.01)
        before_backup = list(acknowledged)
        backup = escadm_local("backup", "--data-dir", str(server.data_dir), "--output", str(tmp_path / "esc-backup.db"))
        after_backup = len(acknowledged)
        while len(acknowledged) < after_backup + 5:  # the server keeps taking writes after the backup
            assert time.monotonic() < deadline + 30 and not failures, failures
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures
    assert backup.returncode == 0, backup.stderr
    assert backup.stdout.startswith("Backed up ") and "esc-backup.db" in backup.stdout

    # Restoring under the running server is refused and leaves its database alone.
    refused = escadm_local("restore", "--data-dir", str(server.data_dir), "--input", str(tmp_path / "esc-backup.db"))
    assert refused.returncode == 1 and "in use" in refused.stderr

    fresh = tmp_path / "fresh"
    restored = escadm_local("restore", "--data-dir", str(fresh), "--input", str(tmp_path / "esc-backup.db"))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("Restored ")
    second = ServerProcess(fresh, properties=FAST_PROPERTIES).start()
    try:
        client = EscClient(second.netconf_port)
        try:
            config = client.call(
                '<get-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><source><running/></source></get-config>'
            )
        finally:
            client.close()
    finally:
        second.stop()
    names = {element.text for element in config.iter(f"{{{samples.ESC_NS}}}name")}
    missing = [name for name in before_backup if name not in names]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    assert names <= set(acknowledged)


def test_show_and_set_under_openstack_know_only_the_openstack_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's keys mean nothing to the openstack driver: not shown, and refused by name. The cloud
    here is an unreachable loopback endpoint; only the settings are exercised."""
    pytest.importorskip("openstack")
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  offline:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
                      "      username: u\n      password: p\n      project_name: p\n"
                      "      user_domain_name: Default\n      project_domain_name: Default\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    server = ServerProcess(tmp_path / "data", extra_args=["--vim", "openstack", "--os-cloud", "offline"]).start()
    try:
        settings = show(server)
        assert CREATE_POLL in settings and "vim.monitor.poll.secs" in settings
        assert not [key for key in settings if key.startswith("vim.sim.")]
        refused = escadm(server.rest_url, "vimmanager", "set", "--config", "vim.sim.fault.server.create=error")
        assert refused.returncode == 1 and refused.stdout == ""
        assert ("[vim.sim.fault.server.create] applies to the sim VIM only; this server runs --vim openstack"
                in refused.stderr)
    finally:
        server.stop()
