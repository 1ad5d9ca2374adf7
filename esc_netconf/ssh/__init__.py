"""NETCONF over SSH (RFC 6242) on paramiko: accept, authenticate, hand bytes to a session handler.

The transport knows nothing of NETCONF; see ``handler.py`` for the seam and ``connection.py`` for
the life of a connection.
"""

from esc_netconf.ssh.connection import SshLimits
from esc_netconf.ssh.errors import HostKeyError, ListenError, ServerStateError, SshError
from esc_netconf.ssh.handler import ChannelWriter, HandlerFactory, PeerInfo, SessionHandler
from esc_netconf.ssh.hostkeys import load_or_create_host_keys
from esc_netconf.ssh.policy import NETCONF_SUBSYSTEM
from esc_netconf.ssh.server import SshServer

__all__ = [
    "NETCONF_SUBSYSTEM",
    "ChannelWriter",
    "HandlerFactory",
    "HostKeyError",
    "ListenError",
    "PeerInfo",
    "ServerStateError",
    "SessionHandler",
    "SshError",
    "SshLimits",
    "SshServer",
    "load_or_create_host_keys",
]
