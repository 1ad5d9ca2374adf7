"""A real SNMP agent on loopback for the SNMP collector's tests: Debian's net-snmp ``snmpd``.

Each agent runs in the foreground with a throw-away configuration in its own directory (its persistent
state there too), listens on free UDP ports of 127.0.0.x, answers the community ``kpitest`` from loopback
only, and serves one custom object per value file through net-snmp's ``pass_persist`` protocol: the value of
``CUSTOM_OID.<n>.0`` is the content of ``<dir>/value<n>``, read on every GET, so a test changes what the
agent answers by writing a file.  The standard objects (sysDescr, sysUpTime) come from snmpd itself.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

COMMUNITY = "kpitest"
CUSTOM_OID = "1.3.6.1.4.1.8072.9999"
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"

# net-snmp's pass_persist protocol (one process for the agent's life, asked per request, so nothing is
# cached): "PING" -> "PONG"; "get" then the OID -> the OID, the type and the value, or "NONE"
_PASS_SCRIPT = """#!/bin/sh
dir=$(dirname "$0")
prefix=".{oid}."
while read -r command; do
  case "$command" in
    PING) echo PONG; continue;;
    get) read -r oid;;
    getnext) read -r oid; echo NONE; continue;;
    set) read -r oid; read -r value; echo not-writable; continue;;
    *) exit 0;;
  esac
  n=${{oid#"$prefix"}}; n=${{n%.0}}
  case "$oid" in "$prefix"*.0) ;; *) echo NONE; continue;; esac
  if [ ! -f "$dir/value$n" ]; then echo NONE; continue; fi
  value=$(cat "$dir/value$n")
  echo "$oid"
  case "$value" in ''|*[!0-9]*) echo string;; *) echo gauge;; esac
  echo "$value"
done
"""


def snmpd_path() -> str | None:
    """Where ``snmpd`` is (it lives in /usr/sbin, often outside a user's PATH), or None."""
    return shutil.which("snmpd") or shutil.which("snmpd", path="/usr/sbin:/usr/local/sbin")


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SnmpAgent:
    """``snmpd`` on ``hosts`` (loopback addresses, at most 128) at one UDP port (0: a free one);
    ``set(n, value)`` shapes object n."""

    def __init__(self, directory: Path, hosts: tuple[str, ...] = ("127.0.0.1",), port: int = 0) -> None:
        self.dir = directory
        self.hosts = hosts
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    def set(self, n: int, value: str) -> None:
        """What the agent answers for ``CUSTOM_OID.<n>.0`` from the next GET on."""
        (self.dir / f"value{n}").write_text(value)

    @staticmethod
    def oid(n: int) -> str:
        return f"{CUSTOM_OID}.{n}.0"

    def start(self, timeout: float = 10.0) -> SnmpAgent:
        binary = snmpd_path()
        if binary is None:
            raise FileNotFoundError("snmpd (Debian package snmpd) is not installed")
        self.dir.mkdir(parents=True, exist_ok=True)
        script = self.dir / "pass.sh"
        script.write_text(_PASS_SCRIPT.format(oid=CUSTOM_OID))
        script.chmod(0o755)
        self.port = self.port or free_udp_port(self.hosts[0])
        lines = [",".join(f"udp:{host}:{self.port}" for host in self.hosts[i:i + 50])  # snmpd's line is short
                 for i in range(0, len(self.hosts), 50)]
        (self.dir / "snmpd.conf").write_text(
            "".join(f"agentaddress {line}\n" for line in lines) +
            f"rocommunity {COMMUNITY} 127.0.0.0/8\n"
            f"pass_persist .{CUSTOM_OID} /bin/sh {script}\n"
        )
        self._proc = subprocess.Popen(
            [binary, "-f", "-C", "-c", str(self.dir / "snmpd.conf"), "-M", "/dev/null", "-m", "",
             "-Lf", str(self.dir / "snmpd.log"), "-p", str(self.dir / "snmpd.pid"), "-I", "-smux"],
            env={"SNMP_PERSISTENT_DIR": str(self.dir / "persist"), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "snmpd.log").read_text(errors="replace") if (self.dir / "snmpd.log").exists() else ""
                self.stop()
                raise RuntimeError(f"snmpd did not start on port {self.port}:\n{log}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        """Whether snmpd listens: a GET of sysUpTime gets a reply (a v2c message by hand, no library)."""
        oid = bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])  # 1.3.6.1.2.1.1.3.0, BER-encoded
        varbind = b"\x30" + bytes([len(oid) + 4]) + b"\x06" + bytes([len(oid)]) + oid + b"\x05\x00"
        varbinds = b"\x30" + bytes([len(varbind)]) + varbind
        pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + varbinds
        pdu = b"\xa0" + bytes([len(pdu_body)]) + pdu_body
        community = COMMUNITY.encode()
        body = b"\x02\x01\x01\x04" + bytes([len(community)]) + community + pdu
        message = b"\x30" + bytes([len(body)]) + body
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            try:
                sock.sendto(message, (self.hosts[0], self.port))
                return bool(sock.recv(1500))
            except OSError:
                return False

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
