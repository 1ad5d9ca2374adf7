from __future__ import annotations

import errno
import socket
import subprocess
import sys
from pathlib import Path

from esc_netconf.cli.serve import explain_bind_error


def test_permission_denied_names_the_make_command() -> None:
    message = explain_bind_error(PermissionError(errno.EACCES, "Permission denied"))
    assert message is not None and "make run NETCONF_PORT=2830 REST_PORT=8081" in message


def test_other_os_errors_are_not_explained() -> None:
    assert explain_bind_error(OSError(errno.ENOENT, "No such file")) is None


def test_port_in_use_is_one_line_and_non_zero_exit(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "esc_netconf.cli.serve", "serve", "--netconf-port", str(port),
             "--rest-port", "0", "--data-dir", str(tmp_path / "d"), "--log-level", "ERROR"],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert "already in use" in result.stderr and "NETCONF_PORT=2830" in result.stderr
    assert "Traceback" not in result.stderr
