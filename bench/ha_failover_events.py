"""escEvents lost and duplicated across repeated kill -9 failovers of a pair on one PostgreSQL, under load.

Two servers share a throw-away PostgreSQL (Debian's ``postgresql``, as ``make test-ha``) and one simulated
cloud. A client thread keeps a steady load on whichever server is active, as an operator's script would:
deploy a one-VM deployment, wait until it is active, snapshot its VM (``vmBackupAction``), pause
``--interval`` s, again. Each failover kills the active with SIGKILL after ``--settle`` s of load, waits until
the standby is active, and starts the killed server again as the next standby. A request whose answer was
lost in a failover is sent again to the new active only if its effect is not there yet (the deployment in
the running config, the snapshot in opdata), as a careful client does.

At the end every deployment in the running config must be active and every snapshot complete. Then one
``startTime`` subscription on the last active replays the group's escEvent log, and each expected event
(CREATE_TENANT once; per deployment VM_DEPLOYED, VM_ALIVE, SERVICE_ALIVE; per snapshot VM_BACKUP_INIT,
VM_BACKUP_CREATED, VM_BACKUP_COMPLETE) is counted: missing ones are *lost*, extra copies *duplicated*.
Goal (issue 14): 0 / 0.

Usage::

    .venv/bin/python bench/ha_failover_events.py [--failovers 20] [--takeover-secs 5] [--settle 3] [--interval 0.5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from tests.integration import samples  # noqa: E402
from tests.integration.conftest import FAST_PROPERTIES  # noqa: E402
from tests.integration.esc_client import BASE, ESC, NS, EscClient, RpcFailed  # noqa: E402
from tests.integration.ha_group import event_key, member, replayed_esc_events, role, wait_active  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

TENANT = "ha-load"
ACTIVE = "SERVICE_ACTIVE_STATE"


def find_active(members: list[ServerProcess], timeout: float = 60.0) -> ServerProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for server in members:
            if server.running() and role(server) == "active":
                return server
        time.sleep(0.05)
    raise SystemExit(f"no active server for {timeout} s")


def deployed(client: EscClient) -> set[str]:
    reply = client.call(f'<get-config xmlns="{BASE}"><source><running/></source></get-config>')
    return {name.text or "" for name in reply.iterfind(".//e:deployment/e:name", namespaces=NS)}


def snapshot_entries(client: EscClient) -> list[dict[str, str]]:
    reply = client.call(f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata/snapshots"/></get>')
    return [{etree.QName(leaf).localname: leaf.text or "" for leaf in entry}
            for entry in reply.findall(".//e:snapshots/e:snapshot", namespaces=NS)]


class Load(threading.Thread):
    """Deploy, wait, snapshot, pause; always on the current active; retried across failovers."""

    def __init__(self, members: list[ServerProcess], interval: float) -> None:
        super().__init__(daemon=True)
        self.members = members
        self.interval = interval
        self.stopping = threading.Event()
        self.deploys = 0
        self.snapshots = 0
        self.retries = 0
        self.error: BaseException | None = None

    def _client(self) -> EscClient:
        while True:
            try:
                return EscClient(find_active(self.members).netconf_port)
            except Exception:  # noqa: BLE001 - the active just died (reset, SSH banner, EOF): look again
                self.retries += 1
                time.sleep(0.1)

    def _ensure(self, done: str, what: str, check: object, act: object) -> None:
        """Until ``check(client)`` holds: ``act(client)`` on the current active (a new one after a failure)."""
        while True:
            client = self._client()
            try:
                if check(client):  # type: ignore[operator]
                    return
                act(client)  # type: ignore[operator]
                return
            except RpcFailed as error:
                if "standby" not in str(error.message):
                    raise SystemExit(f"{what} refused: {error}") from error
            except Exception:  # noqa: BLE001 - the server died under us: ask the next active
                self.retries += 1
            finally:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - the session is already gone
                    self.retries += 0
            time.sleep(0.1)

    def _alive_vm(self, name: str) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            client = self._client()
            try:
                if client.service_state(TENANT, name) == ACTIVE:
                    (vm,) = client.vm_states(TENANT, name)
                    return vm
            except Exception:  # noqa: BLE001 - failover in progress
                self.retries += 1
            finally:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - the session is already gone
                    self.retries += 0
            time.sleep(0.1)
        raise SystemExit(f"{name} not active within 120 s")

    def run(self) -> None:
        try:
            n = 0
            while not self.stopping.is_set():
                name, snap = f"load-{n}", f"snap-{n}"
                config = samples.deployment(TENANT, name, [samples.vm_group("g", max_active=1)])
                self._ensure(name, f"deploy {name}", lambda c: name in deployed(c), lambda c: c.edit(config))
                self.deploys += 1
                vm = self._alive_vm(name)
                action = (f'<vmBackupAction xmlns="{ESC}"><vmName>{vm}</vmName><backupName>{snap}</backupName>'
                          "<actionType>SNAPSHOT</actionType></vmBackupAction>")
                self._ensure(snap, f"snapshot {snap}", lambda c: any(s["name"] == snap for s in snapshot_entries(c)),
                             lambda c: c.call(action))
                self.snapshots += 1
                n += 1
                self.stopping.wait(self.interval)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            self.error = error


def converge(active: ServerProcess, timeout: float = 180.0) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Wait until every deployment is active and every snapshot complete; (deployment -> VM, snapshots)."""
    deadline = time.monotonic() + timeout
    client = EscClient(active.netconf_port)
    try:
        while True:
            names = sorted(deployed(client))
            vms = {}
            for name in names:
                if client.service_state(TENANT, name) == ACTIVE:
                    vms[name] = next(iter(client.vm_states(TENANT, name)))
            snaps = snapshot_entries(client)
            if len(vms) == len(names) and all(s["status"] == "active" for s in snaps):
                return vms, snaps
            if time.monotonic() > deadline:
                raise SystemExit(f"not converged: {len(vms)}/{len(names)} active, "
                                 f"{[s['status'] for s in snaps if s['status'] != 'active']}")
            time.sleep(0.5)
    finally:
        client.close()


def expected_events(vms: dict[str, str], snaps: list[dict[str, str]]) -> Counter[tuple[str, str, str, str]]:
    expected: Counter[tuple[str, str, str, str]] = Counter({("CREATE_TENANT", "", "", "SUCCESS"): 1})
    for dep, vm in vms.items():
        for kind in ("VM_DEPLOYED", "VM_ALIVE"):
            expected[(kind, dep, vm, "SUCCESS")] += 1
        expected[("SERVICE_ALIVE", dep, "", "SUCCESS")] += 1
    by_vm = {vm: dep for dep, vm in vms.items()}
    for snap in snaps:
        vm = snap["created_from_generated_vm_name"]
        for kind in ("VM_BACKUP_INIT", "VM_BACKUP_CREATED", "VM_BACKUP_COMPLETE"):
            expected[(kind, by_vm[vm], vm, "SUCCESS")] += 1
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failovers", type=int, default=20)
    parser.add_argument("--takeover-secs", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of load before each kill")
    parser.add_argument("--interval", type=float, default=0.5, help="pause between deploy+snapshot cycles")
    args = parser.parse_args()
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # a connect to a server just killed is expected
    postgres = PostgresServer().start()
    members: list[ServerProcess] = []
    try:
        with tempfile.TemporaryDirectory(prefix="esc-ha-events-") as tmp:
            root, url = Path(tmp), postgres.create_database()
            since = datetime.now(timezone.utc) - timedelta(seconds=1)
            first = member(root, "a", url, FAST_PROPERTIES, args.takeover_secs).start()
            members.append(first)
            wait_active(first, 30)
            members.append(member(root, "b", url, FAST_PROPERTIES, args.takeover_secs).start())
            load = Load(members, args.interval)
            load.start()
            takeovers = []
            for round_no in range(args.failovers):
                time.sleep(args.settle)
                if load.error is not None:
                    raise SystemExit(f"load failed: {load.error!r}")
                victim = find_active(members)
                survivor = next(m for m in members if m is not victim)
                victim.kill()
                takeovers.append(wait_active(survivor, 10 * args.takeover_secs))
                victim.start(timeout=120)  # a loaded machine can take long to start a Python server
                print(f"failover {round_no + 1}: active again after {takeovers[-1]:.2f} s; "
                      f"{load.deploys} deploys, {load.snapshots} snapshots so far", flush=True)
            load.stopping.set()
            load.join(180)
            if load.error is not None:
                raise SystemExit(f"load failed: {load.error!r}")
            active = find_active(members)
            vms, snaps = converge(active)
            expected = expected_events(vms, snaps)
            got = Counter(map(event_key, replayed_esc_events(active.netconf_port, since)))
            lost = {key: n - got[key] for key, n in expected.items() if got[key] < n}
            duplicated = {key: n - expected[key] for key, n in got.items() if key in expected and n > expected[key]}
            # one ESC_IN_SERVICE per member that became the active (the first and one per failover), each
            # naming its own member; a kill -9 sends no ESC_OUT_OF_SERVICE
            in_service = sum(n for key, n in got.items() if key[0] == "ESC_IN_SERVICE")
            unexpected = {key: n for key, n in got.items() if key not in expected and key[0] != "ESC_IN_SERVICE"}
            print(f"{args.failovers} failovers (kill -9 of the active, --ha-takeover-secs {args.takeover_secs:g}), "
                  f"takeover median {statistics.median(takeovers):.2f} s; load: {len(vms)} deployments and "
                  f"{len(snaps)} snapshots, {sum(expected.values())} escEvents expected, "
                  f"{load.retries} client retries")
            print(f"escEvents lost: {sum(lost.values())}, duplicated: {sum(duplicated.values())}; "
                  f"ESC_IN_SERVICE {in_service} (expected {args.failovers + 1}, one per activation)")
            for label, found in (("lost", lost), ("duplicated", duplicated), ("not expected", unexpected)):
                for key, n in sorted(found.items()):
                    print(f"  {label}: {n} x {key}")
    finally:
        for server in members:
            if server.running():
                server.kill()
        postgres.stop()


if __name__ == "__main__":
    main()
