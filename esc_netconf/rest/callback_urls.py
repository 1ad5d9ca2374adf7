"""Which callback URLs a request may name, checked before anything else about the request.

A callback URL makes this server send POSTs wherever the client says, again and again, for a long
time. So the ``callback`` and ``Callback-ESC-Events`` headers are refused with 400 (before the tenant or
resource is even looked up) unless every URL in them is:

* well formed: ``http`` or ``https``, a host that is an IP address or a valid DNS name (no empty label,
  as in ``http://a..b/x``; labels of letters, digits and hyphens, at most 63 characters, 253 in all),
  a port in 1..65535, and accepted by the HTTP client that will deliver it;
* allowed: when ``callback_allowed_hosts`` is set, its host (and port) match one entry: a host name,
  ``*.domain`` (any name below ``domain``), an IP address or network in CIDR notation, each with an
  optional ``:port`` (``[v6]:port`` for IPv6);
* not one of this server's own listeners (NETCONF or REST port on a loopback or the listening
  address), unless an allow-list entry names that host and port explicitly;
* one of at most ``callback_max_urls`` URLs in the request.

``undeliverable(url)`` applies the same checks to a URL read back from the outbox (written by an
older release or before a settings change): the dispatcher drops such a URL with one log line instead
of failing on it at every start.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import yarl

from esc_netconf.errors import EscError

__all__ = ["CallbackUrlError", "CallbackUrlPolicy"]

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_MAX_URL_LENGTH = 2048
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})


class CallbackUrlError(EscError):
    """A callback URL (or header) that is refused; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One allow-list entry: a host name, ``*.domain`` or a network, and an optional port."""

    name: str | None
    suffix: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None

    @classmethod
    def parse(cls, text: str) -> _Entry:
        host, port = text.strip(), None
        bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", host)
        if bracketed:
            host, port = bracketed.group(1), int(bracketed.group(2)) if bracketed.group(2) else None
        elif host.count(":") == 1:
            host, _, digits = host.partition(":")
            if not digits.isdigit():
                return _bad_entry(text)
            port = int(digits)
        if port is not None and not 0 < port < 65536:
            return _bad_entry(text)
        try:
            return cls(None, None, ipaddress.ip_network(host, strict=False), port)
        except ValueError:
            pass
        lowered = host.lower().rstrip(".")
        if lowered.startswith("*.") and _valid_name(lowered[2:]):
            return cls(None, "." + lowered[2:], None, port)
        if _valid_name(lowered):
            return cls(lowered, None, None, port)
        return _bad_entry(text)

    def matches(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and address.version == self.network.version and address in self.network
        if self.suffix is not None:
            return host.endswith(self.suffix)
        return host == self.name


def _bad_entry(text: str) -> _Entry:
    raise CallbackUrlError(
        f"[limits] callback_allowed_hosts entry [{text}] is not a host, *.domain or network with an optional :port")


def _valid_name(host: str) -> bool:
    return 0 < len(host) <= 253 and all(_LABEL.match(label) for label in host.split("."))


class CallbackUrlPolicy:
    """The checks of the module docstring; ``own_ports`` and ``own_host`` describe this server."""

    def __init__(self, *, max_urls: int = 4, allowed_hosts: Sequence[str] = (), own_host: str = "127.0.0.1",
                 own_ports: Callable[[], Collection[int | None]] = lambda: ()) -> None:
        self.max_urls = max_urls
        self._allowed = tuple(_Entry.parse(entry) for entry in allowed_hosts)
        self._own_host = own_host.strip("[]").lower()
        self._own_ports = own_ports

    def urls(self, header_values: Sequence[tuple[str, str]]) -> tuple[str, ...]:
        """The URLs of ``(header, value)`` pairs (comma-separated values), every one checked.

        :raises CallbackUrlError: too many URLs, or one that is malformed or not allowed.
        """
        found: list[str] = []
        for header, value in header_values:
            for url in (part.strip() for part in value.split(",")):
                if not url:
                    continue
                if len(found) >= self.max_urls:
                    raise CallbackUrlError(
                        f"At most {self.max_urls} callback URLs may be given in one request "
                        "(callback and Callback-ESC-Events together).")
                problem = self.undeliverable(url)
                if problem is not None:
                    raise CallbackUrlError(f"The {header} header holds an unusable URL [{_shown(url)}]: {problem}.")
                found.append(url)
        return tuple(found)

    def undeliverable(self, url: str) -> str | None:
        """Why ``url`` must not be posted to, or ``None`` when it may be."""
        if len(url) > _MAX_URL_LENGTH:
            return f"longer than {_MAX_URL_LENGTH} characters"
        if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
            return "it contains blanks or control characters"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            return str(error)
        if parts.scheme not in ("http", "https"):
            return "it must be an http or https URL"
        if port == 0:
            return "port 0 is not a port one can send to"
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return "it has no host"
        address = _address(host)
        if address is None and not _valid_name(host):
            return f"[{host}] is not a valid host name"
        try:
            if yarl.URL(url).host is None:
                return "the HTTP client cannot use it"
        except (ValueError, TypeError) as error:
            return f"the HTTP client cannot use it ({error})"
        effective_port = port if port is not None else (443 if parts.scheme == "https" else 80)
        return self._not_allowed(parts, host, address, effective_port)

    def _not_allowed(self, parts: SplitResult, host: str,
                     address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int) -> str | None:
        explicit = any(entry.port == port and entry.matches(host, address, port) for entry in self._allowed)
        if self._allowed and not any(entry.matches(host, address, port) for entry in self._allowed):
            return f"host [{parts.netloc.rpartition('@')[2]}] is not in callback_allowed_hosts"
        if not explicit and port in set(self._own_ports()) and self._is_self(host, address):
            return "it points at one of this server's own ports"
        return None

    def _is_self(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        if host in _LOCAL_NAMES or host == self._own_host or self._own_host in _ANY_ADDRESS:
            return True
        return address is not None and (address.is_loopback or address.is_unspecified)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:197] + "..."
