"""The netconf persistence Protocols (docs/INTERFACES.md section 4) are met structurally."""

from __future__ import annotations

import inspect

import pytest

from esc_netconf.netconf.persistence import ConfigStore, ReplayLog
from esc_netconf.store import Database, SqlConfigStore, SqlReplayLog


@pytest.mark.parametrize(("protocol", "implementation"), [(ConfigStore, SqlConfigStore), (ReplayLog, SqlReplayLog)])
def test_every_protocol_method_has_the_same_signature(protocol: type, implementation: type) -> None:
    names = [name for name, member in vars(protocol).items() if callable(member) and not name.startswith("_")]
    assert names
    for name in names:
        wanted = inspect.signature(getattr(protocol, name))
        got = inspect.signature(getattr(implementation, name))
        assert list(got.parameters) == list(wanted.parameters), name
        assert str(got.return_annotation) == str(wanted.return_annotation), name


def test_typed_assignment(memory_database: Database) -> None:
    config: ConfigStore = SqlConfigStore(memory_database)  # mypy checks these lines
    replay: ReplayLog = SqlReplayLog(memory_database)
    assert config.load_running() is None and replay.oldest("escEvent") is None
