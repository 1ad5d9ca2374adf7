"""A standby's reads are as fresh as the shared store when they arrive (issue 13, CONTRACT section 8): on a
real pair on PostgreSQL, what the active committed before a read was sent is in that read's answer, at the
first try (no polling), through ncclient, a raw NETCONF ``get`` of opdata and curl; and a burst of reads on an
unchanged store is answered identically by every client at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration import samples
from tests.integration.esc_client import EscClient, EventWatcher
from tests.integration.server_process import ServerProcess
from tests.integration.test_ha_live import connect, ha
from tests.integration.test_ha_switchover import TENANT, get_json, pair  # noqa: F401 - the fixture

pytestmark = pytest.mark.postgresql

def deployments(server: ServerProcess) -> list[dict[str, object]]:
    """``GET /deployments`` through curl, as JSON."""
    code, body = get_json(f"{server.rest_url}/deployments")
    assert code == 200, body
    listing = body["deployments"]
    assert isinstance(listing, list)
    return listing


def test_what_the_active_committed_before_a_read_is_in_the_standbys_answer_at_the_first_try(
        pair: tuple[ServerProcess, ServerProcess]) -> None:  # noqa: F811 - the fixture
    active, standby = pair
    assert ha(standby)["role"] == "standby"
    with connect(active.netconf_port) as on_active, connect(standby.netconf_port) as on_standby:
        for i in range(3):
            on_active.edit_config(target="running", config=samples.tenant_only(f"fresh-{i}"))
            assert f"fresh-{i}" in on_standby.get_config(source="running").data_xml  # once: no retry

    watcher, client = EventWatcher(active.netconf_port), EscClient(active.netconf_port)
    reader = EscClient(standby.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, "fresh", [samples.vm_group("g", min_active=2, max_active=2)]))
        # an escEvent is delivered only once the writes it reports are committed
        assert watcher.until("SERVICE_ALIVE", timeout=60)[-1].status == "SUCCESS"
        assert reader.service_state(TENANT, "fresh") == "SERVICE_ACTIVE_STATE"
        assert set(reader.vm_states(TENANT, "fresh").values()) == {"VM_ALIVE_STATE"}
        (listed,) = [d for d in deployments(standby) if d["name"] == "fresh"]
        assert listed["state"] == "SERVICE_ACTIVE_STATE" and len(listed["vms"]) == 2  # type: ignore[arg-type]

        with ThreadPoolExecutor(4) as pool:  # a burst on an unchanged store: the same answer for everyone
            answers = list(pool.map(lambda _: deployments(standby), range(8)))
        assert all(a == answers[0] for a in answers)

        client.edit(samples.delete_deployment(TENANT, "fresh"))
        assert watcher.until("SERVICE_UNDEPLOYED", timeout=60)[-1].status == "SUCCESS"
        assert not [d for d in deployments(standby) if d["name"] == "fresh"]
        with connect(standby.netconf_port) as on_standby:
            opdata = on_standby.get(filter=("xpath", "esc_datamodel/opdata/tenants")).data_xml
            assert "<deployment_name>fresh</deployment_name>" not in opdata
    finally:
        watcher.close()
        client.close()
        reader.close()
