"""Contextual logging, after asyncssh's ``SSHLogger.get_child(context=...)``.

Every line about a connection carries ``conn=<n> peer=<addr>:<port>`` (and ``user=`` once known), both
in the message text, so plain formatters show it, and as ``extra`` fields, so structured handlers can
filter on it. ``conn`` is the transport's own counter; the NETCONF layer logs its session-id itself.

paramiko's own transport log goes to ``esc_netconf.ssh.wire`` and is shown only when debugging: it logs
every port scan and every client that resets its socket at ERROR, with a 2 KB traceback each
(``Socket exception: Connection reset by peer``, ``Error reading SSH protocol banner``). The connection
logs one line of its own instead (see ``Connection``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

LOGGER_NAME = "esc_netconf.ssh"
WIRE_LOGGER_NAME = "esc_netconf.ssh.wire"


class _DebugOnly(logging.Filter):
    """Passes a record only while debug logging is on for its logger, and marks it as debug."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger(WIRE_LOGGER_NAME).addFilter(_DebugOnly())


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter whose context is a small ordered mapping of names to values."""

    def __init__(self, logger: logging.Logger, context: Mapping[str, object] | None = None) -> None:
        super().__init__(logger, dict(context or {}))

    def child(self, **context: object) -> ContextLogger:
        """A logger with this one's context plus ``context``."""
        return ContextLogger(self.logger, {**(self.extra or {}), **context})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        context = dict(self.extra or {})
        kwargs["extra"] = {**context, **kwargs.get("extra", {})}
        if not context:
            return msg, kwargs
        prefix = " ".join(f"{name}={value}" for name, value in context.items())
        return f"[{prefix}] {msg}", kwargs


def transport_logger() -> ContextLogger:
    return ContextLogger(logging.getLogger(LOGGER_NAME))
