"""A small blocking NETCONF client for one command: paramiko for SSH, our sans-IO session for framing.

Why not ncclient: its session thread polls the socket every 100 ms, so every command would wait for
the poll tick at the hello and again at the reply. Here the only thread is paramiko's transport
thread; we block in ``channel.recv`` and wake up the moment bytes arrive, so a command costs the SSH
handshake plus one round trip.

Host keys are accepted on first use and never written anywhere (netconf-console's default), which
fits a controller's own loopback CLI; there is no ``known_hosts`` to maintain.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import paramiko
from lxml import etree

from esc_netconf.cli.errors import RequestRefused, ServerUnreachable, UsageError
from esc_netconf.cli.nc_options import DEFAULT_PASSWORD, ConnectOptions
from esc_netconf.ha import STANDBY_CAPABILITY
from esc_netconf.netconf.client_session import ClientSession
from esc_netconf.netconf.messages import NEED_DATA, Closed, Hello, Notification, RpcReply
from esc_netconf.nsmap import default_namespace

NOTIFICATION_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
#: paramiko's transport log: it prints a traceback for every failed handshake (a port that is not SSH,
#: a server that resets the connection); the command says what went wrong in one line instead.
WIRE_LOGGER = logging.getLogger("esc_netconf.cli.wire")
WIRE_LOGGER.addHandler(logging.NullHandler())
WIRE_LOGGER.propagate = False


def load_private_key(path: Path) -> paramiko.PKey:
    """The key in ``path`` (RSA, ECDSA or Ed25519, unencrypted).

    :raises UsageError: the file cannot be read or holds no key paramiko understands.
    """
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise UsageError(f"The private key file [{path}] does not exist.") from None
    except PermissionError:
        raise UsageError(f"The private key file [{path}] is not readable.") from None
    except paramiko.PasswordRequiredException:
        raise UsageError(f"The private key in [{path}] is encrypted; give an unencrypted key.") from None
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise UsageError(f"The file [{path}] does not hold a usable private key: {exc}") from None


class NetconfClient:
    """One NETCONF session; use as a context manager, call :meth:`call` or :meth:`notifications`.

    :raises ServerUnreachable: from the constructor when the server cannot be reached, refuses the
        credentials, or does not complete the hello exchange within the timeout.
    """

    def __init__(self, options: ConnectOptions) -> None:
        self._options = options
        key = load_private_key(options.priv_key_file) if options.priv_key_file is not None else None
        where = f"{options.host}:{options.port}"
        try:
            sock = socket.create_connection((options.host, options.port), timeout=options.timeout)
        except OSError as exc:
            raise ServerUnreachable(f"Cannot connect to the NETCONF server at {where}: {exc.strerror or exc}.") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = paramiko.Transport(sock)
        self._transport.set_log_channel(WIRE_LOGGER.name)
        try:
            self._transport.start_client(timeout=options.timeout)
            self._authenticate(key, where)
            self._channel = self._transport.open_session(timeout=options.timeout)
            self._channel.settimeout(options.timeout)
            self._channel.invoke_subsystem("netconf")
        except paramiko.SSHException as exc:
            self._transport.close()
            raise ServerUnreachable(f"SSH session with {where} failed: {exc}") from None
        except (OSError, EOFError) as exc:
            self._transport.close()
            raise ServerUnreachable(f"SSH session with {where} failed: {exc or type(exc).__name__}") from None
        self._session = ClientSession()
        try:
            self._send(self._session.start())
            hello = self._next(Hello)
            assert isinstance(hello, Hello)
            self.server_capabilities: tuple[str, ...] = hello.capabilities
        except BaseException:
            self._transport.close()
            raise

    def _authenticate(self, key: paramiko.PKey | None, where: str) -> None:
        user = self._options.user
        try:
            if key is not None:
                self._transport.auth_publickey(user, key)
            else:
                password = self._options.password if self._options.password is not None else DEFAULT_PASSWORD
                self._transport.auth_password(user, password)
        except paramiko.AuthenticationException:
            self._transport.close()
            how = "key" if key is not None else "password"
            raise ServerUnreachable(f"The NETCONF server at {where} refused user [{user}] with that {how}.") from None

    @property
    def session_id(self) -> int | None:
        return self._session.session_id

    def _send(self, data: bytes) -> None:
        try:
            self._channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ServerUnreachable(f"The NETCONF session was lost while sending: {exc or type(exc).__name__}") from None

    def _receive(self) -> None:
        try:
            data = self._channel.recv(1 << 20)
        except socket.timeout:
            raise ServerUnreachable(
                f"No answer from the NETCONF server within {self._options.timeout:g} seconds."
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ServerUnreachable(f"The NETCONF session was lost: {exc or type(exc).__name__}") from None
        self._session.receive_data(data)

    def _next(self, kind: type[Hello] | type[RpcReply] | type[Notification]) -> Hello | RpcReply | Notification:
        """The next event of ``kind``, reading as needed; one command never has two requests in flight,
        so anything else the server sends meanwhile is not for us and is passed over."""
        while True:
            event = self._session.next_event()
            if event is NEED_DATA:
                self._receive()
                continue
            if isinstance(event, Closed):
                raise ServerUnreachable(f"The NETCONF server closed the session: {event.reason}")
            if isinstance(event, kind):
                return event

    def call(self, operation: etree._Element) -> RpcReply:
        """Send one ``<rpc>`` around ``operation`` and return its ``<rpc-reply>`` (ok, data or errors)."""
        self._send(self._session.rpc(operation))
        reply = self._next(RpcReply)
        assert isinstance(reply, RpcReply)
        return reply

    def subscribe(self, stream: str) -> None:
        """``create-subscription`` to ``stream``; from now on the session carries its notifications.

        :raises SubscriptionRefused: the server answered with an ``<rpc-error>`` (the reply is attached).
        """
        subscribe = etree.Element(f"{{{NOTIFICATION_NS}}}create-subscription", nsmap=default_namespace(NOTIFICATION_NS))
        etree.SubElement(subscribe, f"{{{NOTIFICATION_NS}}}stream").text = stream
        reply = self.call(subscribe)
        if not reply.ok:
            raise SubscriptionRefused(reply)

    def notifications(self) -> Iterator[Notification]:
        """The notifications of the subscription, as they arrive; waits without a timeout."""
        self._channel.settimeout(None)
        while True:
            event = self._next(Notification)
            assert isinstance(event, Notification)
            yield event

    def close(self) -> None:
        """Drop the session without a close-session round trip: the server cleans up on EOF."""
        self._transport.close()

    def __enter__(self) -> NetconfClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SubscriptionRefused(RequestRefused):
    """``create-subscription`` was answered with an ``<rpc-error>``; ``reply`` is that answer."""

    def __init__(self, reply: RpcReply) -> None:
        super().__init__("The server refused the subscription.")
        self.reply = reply


def split_hosts(options: ConnectOptions) -> list[ConnectOptions]:
    """``--host a,b:2830``: one set of options per host, in order; ``host:port`` overrides ``--port``."""
    targets = []
    for item in (part.strip() for part in options.host.split(",")):
        if not item:
            raise UsageError(f"The host list [{options.host}] has an empty entry.")
        host, port = item, options.port
        if item.count(":") == 1:
            host, _, text = item.partition(":")
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise UsageError(f"The port in [{item}] must be a number between 1 and 65535.")
            port = int(text)
        targets.append(replace(options, host=host, port=port))
    return targets


def connect_active(options: ConnectOptions) -> tuple[NetconfClient, ConnectOptions]:
    """A session with the first host of ``--host`` that is not a standby of a group (CONTRACT section 8).

    :raises ServerUnreachable: none of them is an active one reachable now; the message says why for each.
    """
    targets = split_hosts(options)
    if len(targets) == 1:
        return NetconfClient(targets[0]), targets[0]
    reasons = []
    for target in targets:
        try:
            client = NetconfClient(target)
        except ServerUnreachable as exc:
            reasons.append(f"{target.host}:{target.port}: {exc.message}")
            continue
        if STANDBY_CAPABILITY not in client.server_capabilities:
            return client, target
        client.close()
        reasons.append(f"{target.host}:{target.port} is a standby")
    raise ServerUnreachable("No active ESC among the hosts given: " + "; ".join(reasons))
