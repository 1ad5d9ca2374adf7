"""The limits that keep a peer from freezing the server, exhausting it, or guessing its passwords.

They live in the ``[limits]`` table of the ``--config`` TOML file (the same file as ``[[users]]``; each
table belongs to its own reader). Every key is optional; an unknown key or a value of the wrong type or
out of range stops the server at start-up with the key named, as a typo in ``[[users]]`` does::

    [limits]
    ssh_max_preauth = 64                  # unauthenticated SSH connections, all sources together
    ssh_max_preauth_per_source = 16       # ... from one address
    callback_allowed_hosts = ["receiver.example.com", "10.0.0.0/8", "*.ops.example.com", "127.0.0.1:9009"]

Why the defaults are what they are is in the field comments; the README's limits table repeats them.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from esc_netconf.users import ConfigError

TABLE = "limits"


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What one peer may hold or do at the server's edge (SSH, REST, callbacks, logins)."""

    # -- SSH --------------------------------------------------------------------------------------
    #: Every SSH connection, authenticated or not (each costs two threads).
    ssh_max_connections: int = 512
    #: Connections still in key exchange or authentication. When full, a new connection evicts the
    #: oldest one that has not sent a byte 2 s after connecting (then one stuck before login for 10 s),
    #: so silent sockets can never keep a real client out.
    ssh_max_preauth: int = 128
    #: The same, from one source address (beyond it the source's own oldest is evicted).
    ssh_max_preauth_per_source: int = 32
    #: Seconds from the TCP accept to an open ``netconf`` subsystem (banner, key exchange, login).
    ssh_login_grace: float = 20.0
    #: Session channels a connection may open in its life; NETCONF needs one.
    ssh_max_channels: int = 2
    #: Wrong passwords or keys on one connection before it is closed.
    ssh_max_auth_failures: int = 6

    # -- REST -------------------------------------------------------------------------------------
    #: Open HTTP connections. When full, a new one evicts the oldest connection that has no request
    #: in progress.
    rest_max_connections: int = 256
    #: Seconds an HTTP connection may stay without a complete request: a fresh connection that sends
    #: no (or only part of a) request line and headers, or a keep-alive connection between requests.
    rest_idle_timeout: float = 15.0
    #: Seconds to receive a request body once its headers are in.
    rest_body_timeout: float = 30.0

    # -- logins (SSH and REST basic auth), per source address -------------------------------------
    #: Failed logins from one address before it has to wait.
    auth_free_failures: int = 5
    #: The first wait, doubled with each further failure up to ``auth_max_backoff``.
    auth_first_backoff: float = 1.0
    auth_max_backoff: float = 60.0
    #: Seconds without a failure after which an address starts afresh (the end of a burst).
    auth_forget_after: float = 300.0

    # -- REST callbacks ---------------------------------------------------------------------------
    #: URLs in the ``callback`` and ``Callback-ESC-Events`` headers of one request, together.
    callback_max_urls: int = 4
    #: Hosts callbacks may go to: empty means any http(s) host. Entries: a host name, ``*.domain``,
    #: an IP address or network (``10.0.0.0/8``), each optionally with ``:port``.
    callback_allowed_hosts: tuple[str, ...] = field(default_factory=tuple)

    def with_overrides(self, values: Mapping[str, Any], source: Path | str = "[limits]") -> EdgeLimits:
        """A copy with ``values`` applied, each checked against its field's type and range.

        :raises ConfigError: an unknown key, or a value of the wrong type or not positive.
        """
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            spec = known.get(key)
            if spec is None:
                raise ConfigError(source, f"[{TABLE}] {key} is not a known limit (known: {', '.join(sorted(known))})")
            changes[key] = _checked(source, key, getattr(self, key), value)
        return replace(self, **changes)

    @classmethod
    def from_toml(cls, path: Path | None) -> EdgeLimits:
        """The defaults, with the ``[limits]`` table of ``path`` (if given) applied.

        :raises ConfigError: the file cannot be read or the table is invalid.
        """
        if path is None:
            return cls()
        try:
            document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(path, f"cannot read: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(path, f"not valid TOML: {exc}") from exc
        table = document.get(TABLE, {})
        if not isinstance(table, dict):
            raise ConfigError(path, f"'{TABLE}' must be a table ([{TABLE}])")
        return cls().with_overrides(table, path)


def _checked(source: Path | str, key: str, default: object, value: object) -> object:
    where = f"[{TABLE}] {key}"
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(source, f"{where} must be a list of non-empty strings")
        return tuple(v.strip() for v in value)
    if isinstance(default, bool) or isinstance(value, bool):
        raise ConfigError(source, f"{where} must be a number, not {value!r}")
    if isinstance(default, int):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(source, f"{where} must be a whole number of at least 1, not {value!r}")
        return value
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(source, f"{where} must be a number greater than 0, not {value!r}")
    return float(value)
