"""A throw-away PostgreSQL for the tests: Debian's ``postgresql`` binaries, ``initdb`` into a temporary
directory, one server on a free loopback port, stopped and deleted at the end.

Why a real server rather than a mock: what the PostgreSQL tier proves (migrations, transactions, the
leadership lease) is exactly what a mock would assume. PostgreSQL refuses to run as root, so when the tests
run as root the cluster belongs to the unprivileged ``postgres`` user Debian's package creates, and every
binary runs through ``runuser``. ``fsync=off``: the tests measure behaviour, not durability, and a test
cluster that dies with the machine has nothing to keep; a benchmark that compares costs with SQLite (which
flushes at every commit) asks for ``durable=True``, PostgreSQL's own defaults.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bindir", "postgres"]

SUPERUSER = "esc"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here (package missing, no unprivileged user); the message says which."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that holds ``initdb``."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not candidates:
        raise PostgresUnavailable("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
    return candidates[-1].parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One cluster: ``start()``, then ``url`` / ``create_database()``; ``stop()`` removes everything."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bindir = find_bindir()
        self.durable = durable
        self._as_user: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError as error:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server") from error
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="esc-pg-"))
        self.port = 0

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as_user, *argv], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PostgresServer:
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        data = self.root / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.port = _free_port()
        self.resume()
        return self

    def resume(self) -> None:
        """Start the cluster (again, after :meth:`halt`) on the same port, with the same data."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def halt(self) -> None:
        """Stop the server at once, keeping its data (what a database outage looks like to its clients)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        """The maintenance database, as a user would write the URL (no driver named)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, prefix: str = "esc") -> str:
        """A new empty database; returns its plain ``postgresql://`` URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._run(str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
                  "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def stop(self) -> None:
        data = self.root / "data"
        if data.exists():
            subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session (about 2 s to initdb and start); import it into a
    conftest to use it. Skips, saying why, only when PostgreSQL cannot run on this machine."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL cannot run here: {error}")
    try:
        yield server
    finally:
        server.stop()
