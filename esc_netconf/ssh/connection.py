"""One accepted TCP connection, from handshake to teardown, on its own thread.

Theory of operation
-------------------
The accept loop only accepts; everything slow happens here, so one silent or slow client cannot
hold up the others. Each connection goes through four phases on its thread:

1. HANDSHAKE: ``TCP_NODELAY`` (without it every request/reply pays Nagle + delayed ACK, 40-90 ms),
   then paramiko's transport thread runs key exchange and authentication while this thread waits
   on ``ConnectionPolicy.ready``, for at most ``handshake_timeout`` from the TCP accept. It ends when
   the ``netconf`` subsystem is granted; a timeout, a dead transport or too many failed logins end
   the connection instead.
2. SESSION: the handler is created and fed from a blocking ``recv()``. ``recv() == b""`` means the
   channel reached end of file: the client sent EOF or closed, the transport died, or
   ``ChannelWriter.close``/``abort`` closed it. We never poll for data, so an idle session costs nothing.
3. LINGER: after an EOF that was only a half-close, ``connection_lost`` is called, and writes keep
   working until the handler closes the writer, the client closes the channel, or ``eof_linger``
   passes, so ``ssh -s netconf < rpcs.xml`` still gets its replies.
4. CLOSED: the channel is closed (with exit status 0); the client gets up to ``_CLOSE_GRACE`` to
   disconnect by itself, then the transport is closed on this thread and the thread ends.

``connection_lost`` is called exactly once, whatever ends the session.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paramiko

from esc_netconf.auth_throttle import AuthThrottle
from esc_netconf.ssh.handler import HandlerFactory, PeerInfo, SessionHandler
from esc_netconf.ssh.logcontext import WIRE_LOGGER_NAME, ContextLogger
from esc_netconf.ssh.policy import ConnectionPolicy
from esc_netconf.users import UserDB

_RECV_SIZE = 256 * 1024
_HANDSHAKE_POLL = 0.2
_CLOSE_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class SshLimits:
    """Tunables of the transport; the defaults suit NETCONF over loopback and LAN.

    ``window_size``/``max_packet_size`` are what we advertise to the client for its data to us.
    The packet size is what matters: a paramiko client uploading 32 MiB over loopback reached
    112-120 MB/s with paramiko's 2 MiB / 32 KiB defaults and 300-361 MB/s with 4 MiB / 256 KiB
    (a 16 MiB window was no faster, and it is memory a slow handler lets a client fill).
    Server-to-client speed is set by the client's own window.
    """

    handshake_timeout: float = 30.0
    write_timeout: float = 60.0
    eof_linger: float = 10.0
    max_auth_failures: int = 6
    max_connections: int = 512
    max_preauth: int = 128
    max_preauth_per_source: int = 32
    max_channels: int = 2
    window_size: int = 4 * 2**20
    max_packet_size: int = 256 * 2**10


def _hung_up(error: Exception) -> bool:
    """The peer reset the connection before logging in (a port probe, a released silent socket): not
    worth a line at INFO. paramiko words it as a banner error carrying the socket's message; junk
    (non-SSH lines, then silence) and a bare EOF read the same as each other, so those stay at INFO."""
    return "Connection reset by peer" in str(error)


class _Writer:
    """The ``ChannelWriter`` of one session: whole messages under a lock, close from anywhere."""

    def __init__(self, channel: paramiko.Channel, log: ContextLogger) -> None:
        self._channel = channel
        self._log = log
        self._write_lock = threading.Lock()
        self._closed = threading.Event()

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if self._closed.is_set() or self._channel.closed:
                self._log.debug("dropped %d bytes written after close", len(data))
                raise BrokenPipeError("the channel is closed")
            try:
                self._channel.sendall(data)
            except socket.timeout:
                self._log.warning("client stopped reading; closing the connection")
                self.close()
                raise BrokenPipeError("the client stopped reading") from None
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self._log.debug("write failed: %s", exc)
                self.close()
                raise BrokenPipeError(f"write failed: {exc}") from exc

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            if not self._channel.closed:
                self._channel.send_exit_status(0)  # OpenSSH's ssh exits 255 without it
            self._channel.close()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._log.debug("close: %s", exc)


class Connection:
    """One client connection; ``run`` is the body of its thread."""

    def __init__(self, conn_id: int, sock: socket.socket, address: tuple[str, int], *,
                 host_keys: Sequence[paramiko.PKey], users: UserDB, handler_factory: HandlerFactory,
                 limits: SshLimits, banner: str | None, log: ContextLogger,
                 on_exit: Callable[[Connection], None], throttle: AuthThrottle | None = None) -> None:
        self.conn_id = conn_id
        self._sock = sock
        self._address = address
        self._throttle = throttle
        self.accepted_at = time.monotonic()
        self._host_keys = host_keys
        self._users = users
        self._factory = handler_factory
        self._limits = limits
        self._banner = banner
        self._log = log.child(conn=conn_id, peer=f"{address[0]}:{address[1]}")
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._aborted = False
        self.thread = threading.Thread(target=self.run, name=f"esc-ssh-conn-{conn_id}", daemon=True)

    @property
    def source(self) -> str:
        """The client's address (without its port)."""
        return self._address[0]

    @property
    def authenticated(self) -> bool:
        """True once the client has logged in (then it no longer counts as a pre-authentication connection)."""
        transport = self._transport
        return transport is not None and transport.is_authenticated()

    @property
    def spoke(self) -> bool:
        """True once the peer sent anything (its SSH banner comes first), even if not read yet."""
        transport = self._transport
        if transport is not None and transport.remote_version:
            return True
        # poll, not recv(MSG_PEEK): paramiko gave the socket a timeout, and Python waits that long first
        try:
            poller = select.poll()
            poller.register(self._sock.fileno(), select.POLLIN)
            return any(events & select.POLLIN for _, events in poller.poll(0))
        except (OSError, ValueError):  # the socket is already gone
            return False

    def abort(self) -> None:
        """Tear the connection down from another thread (server stop, eviction); its thread then exits."""
        with self._lock:
            self._aborted = True
            transport = self._transport
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if transport is not None:
            transport.close()

    def run(self) -> None:
        transport: paramiko.Transport | None = None
        try:
            transport = self._start_transport()
            if transport is not None:
                policy = self._start_server(transport)
                channel = self._await_netconf(transport, policy)
                if channel is not None:
                    self._serve(transport, channel)
        except Exception:  # the thread must never die with the socket open
            self._log.exception("connection failed")
        finally:
            if transport is not None:
                transport.close()
            self._sock.close()
            self._log.debug("connection closed")
            self._on_exit(self)

    def _start_transport(self) -> paramiko.Transport | None:
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        limits = self._limits
        with self._lock:
            if self._aborted:
                return None
            transport = paramiko.Transport(self._sock, default_window_size=limits.window_size,
                                           default_max_packet_size=limits.max_packet_size)
            transport.set_log_channel(WIRE_LOGGER_NAME)  # paramiko's tracebacks: debug only, see logcontext
            self._transport = transport
        transport.banner_timeout = transport.handshake_timeout = limits.handshake_timeout
        transport.auth_timeout = limits.handshake_timeout
        for key in self._host_keys:
            transport.add_server_key(key)
        return transport

    def _start_server(self, transport: paramiko.Transport) -> ConnectionPolicy:
        policy = ConnectionPolicy(self._users, self._log, max_auth_failures=self._limits.max_auth_failures,
                                  banner=self._banner, address=self._address[0], throttle=self._throttle,
                                  max_channels=self._limits.max_channels)
        transport.start_server(event=threading.Event(), server=policy)
        return policy

    def _await_netconf(self, transport: paramiko.Transport,
                       policy: ConnectionPolicy) -> paramiko.Channel | None:
        deadline = time.monotonic() + self._limits.handshake_timeout
        while not policy.ready.wait(_HANDSHAKE_POLL):
            if not transport.is_active() or self._aborted:
                self._log_early_end(transport)
                return None
            if time.monotonic() >= deadline:
                self._log.info("no netconf session within %.0f s; disconnecting",
                                  self._limits.handshake_timeout)
                return None
        return None if policy.gave_up else policy.channel

    def _log_early_end(self, transport: paramiko.Transport) -> None:
        """One line for a connection that ended before its session: junk, a scanner, a failed login."""
        if self._aborted:
            self._log.debug("closed before a netconf session (evicted or server shutdown)")
            return
        error = transport.saved_exception
        if error is None or isinstance(error, EOFError) or transport.is_authenticated() or _hung_up(error):
            self._log.debug("client left before opening a netconf session (%s)", error)
            return
        self._log.info("connection ended before login: %s", f"{type(error).__name__}: {error}".rstrip(": "))

    def _serve(self, transport: paramiko.Transport, channel: paramiko.Channel) -> None:
        username = transport.get_username() or ""
        log = self._log.child(user=username)
        log.info("logged in; netconf session started")
        channel.settimeout(self._limits.write_timeout)
        writer = _Writer(channel, log)
        peer = PeerInfo(username=username, address=self._address[0], port=self._address[1])
        try:
            handler = self._factory(writer, peer)
        except Exception:
            log.exception("session handler could not be created")
            writer.close()
            return
        reason = self._pump(channel, handler, log)
        if reason is None and self._aborted:
            reason = "server shutdown"
        try:
            handler.connection_lost(reason)
        except Exception:
            log.exception("connection_lost failed")
        if reason is None and not channel.closed:
            channel.status_event.wait(self._limits.eof_linger)  # set when the channel closes
        writer.close()
        if not self._aborted:
            # Let the client answer our channel close and disconnect first: closing the socket at
            # once resets its last packets and OpenSSH's ssh then exits 255 ("Connection reset").
            transport.join(_CLOSE_GRACE)
        log.info("netconf session ended (%s)", reason or "closed")

    def _pump(self, channel: paramiko.Channel, handler: SessionHandler, log: ContextLogger) -> str | None:
        """Feed the handler until end of file; returns the error that ended it, or None."""
        while True:
            try:
                data = channel.recv(_RECV_SIZE)
            except socket.timeout:
                continue  # idle: the timeout exists for writes, which share it
            except (OSError, EOFError, paramiko.SSHException) as exc:
                return f"receive failed: {exc}"
            if not data:
                return None
            try:
                handler.data_received(data)
            except Exception as exc:
                log.exception("session handler failed")
                return f"handler error: {exc.__class__.__name__}"

