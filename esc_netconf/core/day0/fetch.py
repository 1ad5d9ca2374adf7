"""How the core gets a day-0 template named by URL: a protocol the core defines and the app implements.

The core does no network I/O itself (``esc_netconf.day0_fetch`` is the implementation, with its size cap
and timeout); tests give the core a fake.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from esc_netconf.errors import EscError

#: The URL schemes a ``file`` template may use.
SCHEMES = ("http", "https", "file")


class TemplateFetchError(EscError):
    """The template could not be fetched; ``message`` says why in an operator's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateFetcher(Protocol):
    """Reads a template by URL."""

    async def fetch(self, url: str) -> str:
        """The template's text.

        :raises TemplateFetchError: unsupported scheme, unreachable, not found, too big, not text, too slow.
        """
        ...


def scheme_error(url: str) -> str | None:
    """Why ``url`` can never be fetched (a sentence), or None when its scheme is supported."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        return f"Day-0 template URL [{url}] must be an http, https or file URL."
    return None
