"""The active's NETCONF server in a group refuses changes, naming where to go, once it stopped acting (a
switchover under way, or its lease lost) and before its listeners become a standby's; reads still pass."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.ha.standby import ActiveMemberNetconfServer
from esc_netconf.netconf.context import SessionContext
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.errors import ErrorTag, NetconfError
from esc_netconf.netconf.persistence import MemoryConfigStore
from esc_netconf.netconf.session import SerializedBody
from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo
from esc_netconf.netconf.yangmodel import YangModel
from tests.unit.netconf.test_subscriptions import MemoryReplayLog

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
EDIT = (f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
        '<esc_datamodel xmlns="http://www.cisco.com/esc/esc"><tenants><tenant><name>t</name></tenant></tenants>'
        "</esc_datamodel></config></edit-config>")


class _Transport:
    def send(self, data: bytes) -> None:
        """Nothing is sent: the operations are called directly."""


def test_changes_pass_while_acting_and_are_refused_once_it_stopped() -> None:
    model = YangModel.load(YANG_DIR)
    store = MemoryConfigStore()
    acting = [True]
    where: list[tuple[str, int] | None] = [("127.0.0.1", 830)]

    async def run() -> None:
        hub = NotificationHub(MemoryReplayLog(), [StreamInfo("NETCONF", "d", True)], lambda: datetime.now(UTC))
        server = ActiveMemberNetconfServer(model, Datastore(model, store), hub, lambda: where[0],
                                           acting=lambda: acting[0])
        ctx = SessionContext(1, "admin", "127.0.0.1", _Transport())  # type: ignore[arg-type]
        await server.run_operation(ctx, etree.fromstring(EDIT))
        assert store.saves == 1
        acting[0], where[0] = False, None  # handing over: no active to name yet
        with pytest.raises(NetconfError) as refused:
            await server.run_operation(ctx, etree.fromstring(EDIT))
        assert refused.value.tag is ErrorTag.OPERATION_FAILED
        assert "no active is known at the moment" in str(refused.value)
        assert store.saves == 1
        reply = await server.run_operation(ctx, etree.fromstring(f'<get-config xmlns="{BASE}"><source><running/>'
                                                                 "</source></get-config>"))
        assert isinstance(reply, SerializedBody) and b"<name>t</name>" in reply.data

    asyncio.run(run())
