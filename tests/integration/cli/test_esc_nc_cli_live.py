"""esc_nc_cli as a subprocess against a live server: the seed's output, ESC RPCs, refusals, notif."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from esc_netconf.users import hash_password
from tests.integration.cli.cli_helpers import (
    CONSOLE_LINE,
    SEED_OK_REPLY,
    nc_cli,
    nc_cli_argv,
    wait_for,
    wait_vm,
    write_deployment,
)
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient
from tests.integration.server_process import ServerProcess

NETCONF_CONSOLE = Path(sys.executable).parent / "netconf-console2"
FREE_PORT = 1  # nothing listens there: a command that gets past validation fails with exit 3


@pytest.fixture
def client(shared_server: ServerProcess) -> Iterator[EscClient]:
    esc = EscClient(shared_server.netconf_port)
    yield esc
    esc.close()


def assert_ok_output(result: subprocess.CompletedProcess[str], title: str) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == title
    assert re.match(CONSOLE_LINE, lines[1]), lines[1]
    assert lines[2:] == SEED_OK_REPLY


def assert_error_output(result: subprocess.CompletedProcess[str], code: str, message: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<error xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">',
        f"  <error_code>{code}</error_code>",
        f"  <error_message>{message}</error_message>",
        "</error>",
    ]


# --- help ---------------------------------------------------------------------------------------------------


def test_help_prints_the_seed_syntax() -> None:
    result = nc_cli(FREE_PORT, "help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    index = lines.index("VM Backup Action : vm-backup-action vm-name backup-name [<action-type>] [<xmlfile>]")
    assert lines[index + 1] == "  action-type := SNAPSHOT|EXPORT"


@pytest.mark.parametrize(
    "command", ["vm-backup-action", "snapshot-action", "vm-action", "service-action", "recovery-vm-action",
                "edit-config", "delete-dep", "get-config", "get", "notif", "help"],
)
def test_every_command_has_help(command: str) -> None:
    result = nc_cli(FREE_PORT, command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"{command}" in result.stdout.splitlines()[0] or command in result.stdout
    assert "Exit status" in result.stdout


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "esc_nc_cli"
    result = subprocess.run([str(script), "help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Notifications : notif" in result.stdout


# --- refusals before anything is sent ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["vm-backup-action", "vm", "b", "BACKUP"], ["[BACKUP]", "SNAPSHOT|EXPORT"]),
        (["vm-backup-action", "vm", "x" * 256], ["backup name", "255"]),
        (["vm-backup-action", "v" * 256, "b"], ["VM name", "255"]),
        (["vm-backup-action", "vm", "b", "SNAPSHOT", "/nonexistent/file.xml"], ["does not exist"]),
        (["snapshot-action", "purge", "s1"], ["[purge]", "DELETE"]),
        (["vm-action", "PAUSE", "vm"], ["[PAUSE]", "START|STOP"]),
        (["vm-action", "STOP", "vm", "please"], ["[force]"]),
        (["service-action", "START", "t" * 256, "d"], ["tenant name", "255"]),
        (["recovery-vm-action", "UNDO", "vm"], ["[UNDO]", "DO"]),
        (["delete-dep", "t", "d" * 300], ["deployment name", "255"]),
        (["get", ""], ["XPath"]),
    ],
)
def test_bad_arguments_are_refused_before_connecting(args: list[str], words: list[str]) -> None:
    result = nc_cli(FREE_PORT, *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    for word in words:
        assert word in result.stderr


def test_an_invalid_xmlfile_is_refused_before_connecting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<vmBackupAction><destination>x</vmBackupAction>")
    for args in (["vm-backup-action", "vm", "b", "EXPORT", str(bad)], ["edit-config", str(bad)]):
        result = nc_cli(FREE_PORT, *args)
        assert result.returncode == 2
        assert f"The xmlfile [{bad}] does not contain a valid XML document" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert nc_cli(FREE_PORT, "vm-action").returncode == 2
    assert nc_cli(FREE_PORT, "no-such-command").returncode == 2
    assert nc_cli(FREE_PORT).returncode == 2


def test_an_unreachable_server_exits_3() -> None:
    result = nc_cli(FREE_PORT, "get-config")
    assert result.returncode == 3
    assert "Cannot connect to the NETCONF server at 127.0.0.1:1" in result.stderr


def test_wrong_password_exits_3(shared_server: ServerProcess) -> None:
    result = nc_cli(shared_server, "--password", "wrong", "get-config")
    assert result.returncode == 3
    assert "refused user [admin]" in result.stderr


# --- server refusals ------------------------------------------------------------------------------------------


def test_a_refused_rpc_prints_the_esc_error_document(shared_server: ServerProcess) -> None:
    result = nc_cli(shared_server, "vm-action", "STOP", "no-such-vm")
    assert_error_output(result, "404", "VM [no-such-vm] not found.")
    assert result.stderr.splitlines()[0] == "VM Action"


def test_a_model_validation_error_gets_an_error_code(shared_server: ServerProcess, tmp_path: Path) -> None:
    doc = tmp_path / "bad.xml"
    doc.write_text('<esc_datamodel xmlns="http://www.cisco.com/esc/esc"><tenants><tenant><name>'
                   + "x" * 300 + "</name></tenant></tenants></esc_datamodel>")
    result = nc_cli(shared_server, "edit-config", str(doc))
    assert result.returncode == 1
    assert "<error_code>400</error_code>" in result.stdout


# --- the lifecycle, command by command ------------------------------------------------------------------------


def test_deploy_act_and_delete_with_the_cli(shared_server: ServerProcess, client: EscClient, tmp_path: Path) -> None:
    doc = write_deployment(tmp_path / "dep.xml", "cli-t1", "cli-d1")
    assert_ok_output(nc_cli(shared_server, "edit-config", str(doc)), "Edit Config")
    vms = wait_for(client, "cli-t1", "cli-d1", "SERVICE_ACTIVE_STATE")
    (vm,) = vms

    got = nc_cli(shared_server, "get-config", "esc_datamodel/tenants/tenant[name='cli-t1']")
    assert got.returncode == 0 and got.stdout.splitlines()[0] == "Get Config"
    assert "<name>cli-d1</name>" in got.stdout
    opdata = nc_cli(shared_server, "get", "esc_datamodel/opdata/tenants/tenant[name='cli-t1']")
    assert opdata.returncode == 0 and opdata.stdout.splitlines()[0] == "Get"
    assert f"<vm_name>{vm}</vm_name>" in opdata.stdout

    assert_ok_output(nc_cli(shared_server, "vm-action", "STOP", vm, "force"), "VM Action")
    wait_vm(client, "cli-t1", "cli-d1", vm, "VM_SHUTOFF_STATE")
    assert_ok_output(nc_cli(shared_server, "vm-action", "start", vm), "VM Action")
    wait_vm(client, "cli-t1", "cli-d1", vm, "VM_ALIVE_STATE")
    assert_ok_output(nc_cli(shared_server, "service-action", "STOP", "cli-t1", "cli-d1"), "Service Action")
    wait_for(client, "cli-t1", "cli-d1", "SERVICE_STOPPED_STATE")
    assert_ok_output(nc_cli(shared_server, "service-action", "START", "cli-t1", "cli-d1"), "Service Action")
    wait_for(client, "cli-t1", "cli-d1", "SERVICE_ACTIVE_STATE")
    assert_ok_output(nc_cli(shared_server, "recovery-vm-action", "DO", vm), "Recovery VM Action")
    wait_for(client, "cli-t1", "cli-d1", "SERVICE_ACTIVE_STATE")

    assert_ok_output(nc_cli(shared_server, "delete-dep", "cli-t1", "cli-d1"), "Delete Deployment")
    deadline = time.monotonic() + 30
    while "<name>cli-d1</name>" in nc_cli(shared_server, "get-config").stdout:
        assert time.monotonic() < deadline, "the deployment was not deleted"
        time.sleep(0.1)


def test_the_printed_netconf_console_line_reruns_the_request(shared_server: ServerProcess) -> None:
    result = nc_cli(shared_server, "--keep-rpc", "get-config")
    assert result.returncode == 0
    line = result.stdout.splitlines()[1]
    rpc_file = Path(line.rsplit("--rpc=", 1)[1])
    try:
        assert rpc_file.read_text().count("<get-config") == 1
        words = line.split()
        rerun = subprocess.run([str(NETCONF_CONSOLE), *words[1:], "--password=admin"],
                               capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert "<data" in rerun.stdout
    finally:
        rpc_file.unlink(missing_ok=True)


def test_the_request_file_is_removed_without_keep_rpc(shared_server: ServerProcess) -> None:
    result = nc_cli(shared_server, "get-config")
    rpc_file = Path(result.stdout.splitlines()[1].rsplit("--rpc=", 1)[1])
    assert not rpc_file.exists()


def test_one_command_is_quick(shared_server: ServerProcess) -> None:
    """Interpreter start, SSH handshake and one round trip, no polling delay anywhere: about 0.4 s on an
    idle machine; the bound leaves room for a loaded CI box but not for a timeout or a retry loop."""
    best = min(_timed(nc_cli, shared_server, "vm-action", "START", "no-such-vm") for _ in range(3))
    assert best < 5.0


def _timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


# --- notif ----------------------------------------------------------------------------------------------------


class NotifProcess:
    """``esc_nc_cli notif`` in the background, its stdout read line by line."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(nc_cli_argv(port, "notif"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, predicate: object, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"notif output so far: {self.seen}") from None
            self.seen.append(line)
            if predicate(line):  # type: ignore[operator]
                return line

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and stderr. stdout stays the pump's (communicate() would read it too, and
        close it under the pump)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._pump_thread.join(timeout=15)
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read()


def test_notif_prints_events_as_they_arrive_and_exits_cleanly_on_ctrl_c(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    notif = NotifProcess(shared_server.netconf_port)
    try:
        assert notif.wait_line(lambda line: True) == "Notifications"
        assert "--create-subscription=escEvent" in notif.wait_line(lambda line: True)
        doc = write_deployment(tmp_path / "dep.xml", "cli-notif", "d1")
        assert nc_cli(shared_server, "edit-config", str(doc)).returncode == 0
        notif.wait_line(lambda line: line.strip() == "<type>SERVICE_ALIVE</type>")
    finally:
        code, stderr = notif.interrupt()
    assert code == 0
    assert "Traceback" not in stderr
    text = "\n".join(notif.seen)
    assert '<?xml version="1.0" encoding="UTF-8"?>' in text
    assert '<notification xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0">' in text
    assert "<depname>d1</depname>" in text
    assert text.index("<type>VM_DEPLOYED</type>") < text.index("<type>SERVICE_ALIVE</type>")
    assert nc_cli(shared_server, "delete-dep", "cli-notif", "d1").returncode == 0


# --- VM backup (snapshot) --------------------------------------------------------------------------------------


def test_vm_backup_and_snapshot_delete_as_in_the_seed(
    shared_server: ServerProcess, client: EscClient, tmp_path: Path
) -> None:
    doc = write_deployment(tmp_path / "dep.xml", "cli-snap", "d1")
    assert nc_cli(shared_server, "edit-config", str(doc)).returncode == 0
    (vm,) = wait_for(client, "cli-snap", "d1", "SERVICE_ACTIVE_STATE")
    notif = NotifProcess(shared_server.netconf_port)
    try:
        notif.wait_line(lambda line: line.startswith("netconf-console2"))
        backup = nc_cli(shared_server, "vm-backup-action", vm, "my-snapshot-name", "SNAPSHOT")
        assert_ok_output(backup, "VM Backup Action")
        for event in ("VM_BACKUP_INIT", "VM_BACKUP_CREATED", "VM_BACKUP_COMPLETE"):
            notif.wait_line(lambda line, e=event: line.strip() == f"<type>{e}</type>")

        missing = nc_cli(shared_server, "snapshot-action", "delete", "my-snapshot-name-1")
        assert_error_output(missing, "404", "Snapshot image [my-snapshot-name-1] not found.")

        assert_ok_output(nc_cli(shared_server, "snapshot-action", "delete", "my-snapshot-name"), "Snapshot Action")
        for event in ("VM_SNAPSHOT_DELETING", "VM_SNAPSHOT_DELETED"):
            notif.wait_line(lambda line, e=event: line.strip() == f"<type>{e}</type>")
    finally:
        code, _ = notif.interrupt()
    assert code == 0
    text = "\n".join(notif.seen)
    assert f"<vmname>{vm}</vmname>" in text
    assert nc_cli(shared_server, "delete-dep", "cli-snap", "d1").returncode == 0


# --- public-key authentication ---------------------------------------------------------------------------------


def test_priv_key_file_authenticates_and_is_shown_on_the_console_line(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    key = tmp_path / "id_ed25519"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                          serialization.NoEncryption()))
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    users = tmp_path / "users.toml"
    users.write_text(
        '[[users]]\nname = "operator"\n'
        f'password_hash = "{hash_password("unused-Secret-1")}"\n'
        f'authorized_keys = ["{public.decode()} operator@test"]\n'
    )
    server = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES, extra_args=["--config", str(users)]).start()
    try:
        result = nc_cli(server, "--user", "operator", "--privKeyFile", str(key), "get-config")
        assert result.returncode == 0, result.stderr
        assert f"--user=operator --privKeyFile={key} --rpc=" in result.stdout.splitlines()[1]
        assert nc_cli(server, "--user", "operator", "get-config").returncode == 3
    finally:
        server.stop()


def test_a_missing_key_file_is_refused_before_connecting(tmp_path: Path) -> None:
    result = nc_cli(FREE_PORT, "--privKeyFile", str(tmp_path / "nope"), "get-config")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
