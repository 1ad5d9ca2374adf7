"""The listening side: bind, accept, hand each connection to its own thread, stop everything.

The accept thread waits in ``select`` on the listening socket and a wake-up pipe, so ``stop()`` can
interrupt it at once (closing a socket does not wake a thread blocked in ``accept`` on Linux).
Connections are registered while alive; ``stop()`` aborts them all and joins their threads
within a bounded time, so a stuck client cannot hang shutdown.

Admission
---------
A connection that has not logged in yet is *pre-authentication*. Their number is bounded in total
(``max_preauth``) and per source address (``max_preauth_per_source``), and each has ``handshake_timeout``
to open its ``netconf`` session. When a bound is reached, a new connection is admitted and the oldest
pre-authentication connection of the crowd (the source's own when its bound is the one reached) is
evicted: first those that have not sent a byte ``SILENT_AFTER`` seconds after their accept, then those
that spoke but have not logged in for ``STUCK_AFTER``. 512 silent sockets cannot keep a real client out,
because a real client sends its SSH banner as soon as it connects, and the silent sockets are the ones
that go; a burst of 500 real clients connecting at once is not cut down, because none of them is silent. Refusal remains only at the total bound
(``max_connections``) when nothing there is evictable. Evictions are logged once per burst.
"""

from __future__ import annotations

import itertools
import selectors
import socket
import threading
import time
from collections.abc import Sequence

import paramiko

from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.ssh.connection import Connection, SshLimits
from esc_netconf.ssh.errors import ListenError, ServerStateError
from esc_netconf.ssh.handler import HandlerFactory
from esc_netconf.ssh.logcontext import transport_logger
from esc_netconf.users import UserDB

_STOP_JOIN_SECONDS = 5.0
_ACCEPT_ERROR_PAUSE = 0.1
_EVICTION_LOG_INTERVAL = 10.0
#: A real client sends its SSH banner as soon as it connects (milliseconds; well under this on a loaded host).
SILENT_AFTER = 2.0
#: A script logs in within a second of connecting; a person typing a password may take longer.
STUCK_AFTER = 10.0


class SshServer:
    """A NETCONF-over-SSH listener (RFC 6242 transport only; the handler speaks NETCONF)."""

    def __init__(self, host: str, port: int, host_keys: Sequence[paramiko.PKey], users: UserDB,
                 handler_factory: HandlerFactory, *, banner: str | None = None,
                 limits: SshLimits = SshLimits(), throttle: AuthThrottle | None = None) -> None:
        if not host_keys:
            raise ValueError("an SSH server needs at least one host key")
        self._host = host.strip("[]")
        self._port = port
        self._host_keys = tuple(host_keys)
        self._users = users
        self._factory = handler_factory
        self._banner = banner
        self._limits = limits
        self._throttle = throttle
        self._evictions = _BurstCounter()
        self._refusals = _BurstCounter()
        self._log = transport_logger()
        self._lock = threading.Lock()
        self._connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread: threading.Thread | None = None
        self._stopping = False

    @property
    def connection_count(self) -> int:
        """Connections alive now, including those still in the handshake."""
        with self._lock:
            return len(self._connections)

    @property
    def port(self) -> int | None:
        """The bound port once started."""
        return None if self._listener is None else self._listener.getsockname()[1]

    def start(self) -> int:
        """Bind and start accepting; returns the bound port (useful with port 0).

        :raises ListenError: the address cannot be resolved or bound.
        :raises ServerStateError: already started, or stopped.
        """
        if self._accept_thread is not None or self._stopping:
            raise ServerStateError("SSH server already started")
        self._listener = self._bind()
        port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="esc-ssh-accept", daemon=True)
        self._accept_thread.start()
        self._log.info("NETCONF/SSH listening on %s port %d", self._host, port)
        return port

    def stop(self) -> None:
        """Stop accepting, abort every connection and join all threads (bounded; idempotent)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            connections = list(self._connections)
        self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(_STOP_JOIN_SECONDS)
        if self._listener is not None:
            self._listener.close()
        for connection in connections:
            connection.abort()
        deadline = time.monotonic() + _STOP_JOIN_SECONDS
        for connection in connections:
            connection.thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [c.conn_id for c in connections if c.thread.is_alive()]
        if stuck:
            self._log.warning("connections %s did not end within %.0f s", stuck, _STOP_JOIN_SECONDS)
        self._wake_r.close()
        self._wake_w.close()
        self._log.info("NETCONF/SSH server stopped")

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self._host or None, self._port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ListenError(self._host, self._port, exc) from exc
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(128)
        except OSError as exc:
            listener.close()
            raise ListenError(self._host, self._port, exc) from exc
        listener.setblocking(False)
        return listener

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    self._accept_one()

    def _accept_one(self) -> None:
        assert self._listener is not None
        try:
            sock, address = self._listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:  # EMFILE and friends: pause instead of spinning on a ready listener
            self._log.error("accept failed: %s", exc)
            time.sleep(_ACCEPT_ERROR_PAUSE)
            return
        sock.setblocking(True)
        source = str(address[0])
        with self._lock:
            victims = [] if self._stopping else self._make_room(source)
            refused = self._stopping or len(self._connections) >= self._limits.max_connections
            if not refused:
                connection = Connection(
                    next(self._ids), sock, (source, int(address[1])), host_keys=self._host_keys,
                    users=self._users, handler_factory=self._factory, limits=self._limits,
                    banner=self._banner, log=self._log, on_exit=self._forget, throttle=self._throttle)
                self._connections.add(connection)
        for victim in victims:
            victim.abort()
        evicted = self._evictions.report(len(victims))
        if evicted:
            self._log.warning("pre-authentication connections full (%d in total, %d per source): evicting the "
                              "oldest silent ones (%d since the last report)", self._limits.max_preauth,
                              self._limits.max_preauth_per_source, evicted)
        if refused:
            shown = self._refusals.report(1)
            if shown:
                self._log.warning("refusing connections: %d already open, none of them evictable "
                                  "(%d refused since the last report, the last from %s)",
                                  self._limits.max_connections, shown, source)
            sock.close()
            return
        connection.thread.start()

    def _make_room(self, source: str) -> list[Connection]:
        """Pick the pre-authentication connections to evict so that one from ``source`` fits (under the lock).

        Only *evictable* connections go (``_evictable``): a burst of real clients that are all still in
        their key exchange is admitted over the bounds rather than cut down; the hard bound
        (``max_connections``) still refuses. Evicted connections leave the registry at once (their
        threads end on their own), so the bounds count only connections that can still become sessions.
        """
        limits = self._limits
        now = time.monotonic()
        preauth = [c for c in self._connections if not c.authenticated]
        own = [c for c in preauth if c.source == source]
        victims = _evictable(own, now)[: max(0, len(own) - limits.max_preauth_per_source + 1)]
        need = max(len(preauth) - limits.max_preauth + 1,
                   len(self._connections) - limits.max_connections + 1) - len(victims)
        if need > 0:
            victims += [c for c in _evictable(preauth, now) if c not in victims][:need]
        for victim in victims:
            self._connections.discard(victim)
        return victims

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            self._connections.discard(connection)


class _BurstCounter:
    """Counts events and says when to log them: at the first of a burst, then at most every
    ``_EVICTION_LOG_INTERVAL`` seconds with the count since the last report (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = 0
        self._reported_at = -_EVICTION_LOG_INTERVAL

    def report(self, count: int) -> int:
        """Add ``count``; returns how many to report now (0: stay silent)."""
        if not count:
            return 0
        now = time.monotonic()
        with self._lock:
            self._pending += count
            if now - self._reported_at < _EVICTION_LOG_INTERVAL:
                return 0
            self._reported_at, pending, self._pending = now, self._pending, 0
            return pending


def _evictable(connections: list[Connection], now: float) -> list[Connection]:
    """Who may be evicted, first to go first: connections that have not sent a byte for ``SILENT_AFTER``
    seconds, oldest first; then connections that spoke but have not logged in for ``STUCK_AFTER``."""
    silent = [c for c in connections if now - c.accepted_at >= SILENT_AFTER and not c.spoke]
    stuck = [c for c in connections if now - c.accepted_at >= STUCK_AFTER and c.spoke]
    return sorted(silent, key=lambda c: c.accepted_at) + sorted(stuck, key=lambda c: c.accepted_at)
