"""Where and as whom ``esc_nc_cli`` connects; apart from the client so that printing and validating
need not import paramiko (``help`` and every argument refusal stay instant)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 830
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "admin"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Where and as whom to connect; the defaults are those of ``make run``."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    user: str = DEFAULT_USER
    password: str | None = None
    priv_key_file: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
