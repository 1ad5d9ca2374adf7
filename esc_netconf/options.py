"""What ``esc-netconf serve`` was asked for (CONTRACT section 1), as one value the wiring reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from esc_netconf.limits import EdgeLimits

REPLAY_KEEP_LAST = 10_000  # events kept per stream for replay (a full replay stays below the session queue bound)
REPLAY_PRUNE_SECONDS = 600.0
HA_TAKEOVER_SECS = 5.0  # a standby takes over within this many seconds of the active's death


@dataclass
class Options:
    """The server's options; ``limits`` are the ``[limits]`` of ``config`` (``EdgeLimits.from_toml``)."""

    host: str = "127.0.0.1"
    netconf_port: int = 830
    rest_port: int = 8080
    data_dir: Path = Path("var")
    export_dir: Path | None = None  # EXPORT destinations are confined here; None: <data_dir>/exports
    vim: str = "sim"
    os_cloud: str | None = None
    properties: Path | None = None
    config: Path | None = None
    yang_dir: Path | None = None
    monitor_interval: float | None = None
    replay_keep_last: int = REPLAY_KEEP_LAST
    replay_prune_seconds: float = REPLAY_PRUNE_SECONDS
    limits: EdgeLimits = field(default_factory=EdgeLimits)
    database: str | None = None  # an SQLAlchemy URL; None: <data_dir>/esc.db. PostgreSQL: a group (CONTRACT 8)
    ha_takeover_secs: float = HA_TAKEOVER_SECS
    sim_dir: Path | None = None  # the simulated cloud's state; None: <data_dir>/sim
