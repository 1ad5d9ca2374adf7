"""CPU and Memory read from the VIM's server diagnostics: batched, bounded, one request per VM per poll."""

from __future__ import annotations

import asyncio
from pathlib import Path

from esc_netconf.collectors import DiagnosticsCollector
from esc_netconf.collectors.routing import Routed
from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.vim.base import PortSpec, ServerDiagnostics, ServerStatus, VimFailure, VimNotFound
from esc_netconf.vim.sim import SimCloud, SimSettings


class CountingDriver:
    """Answers diagnostics like a slow VIM and records how many requests were in flight at once."""

    def __init__(self, cpu: dict[str, float], failing: dict[str, Exception] | None = None) -> None:
        self.cpu, self.failing = cpu, failing or {}
        self.asked: list[str] = []
        self.in_flight = self.peak = 0

    async def get_server_diagnostics(self, server_id: str) -> ServerDiagnostics:
        self.asked.append(server_id)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if server_id in self.failing:
                raise self.failing[server_id]
            return ServerDiagnostics(server_id, "running", 1, (self.cpu[server_id],), 1000, 400)
        finally:
            self.in_flight -= 1


def _probes(*server_ids: str | None) -> list[Probe]:
    return [Probe(f"vm-{i}", sid, None) for i, sid in enumerate(server_ids)]


async def test_one_request_per_server_serves_both_metrics_with_bounded_concurrency() -> None:
    servers = {f"s{i}": float(i) for i in range(40)}
    driver = CountingDriver(servers)
    collector = DiagnosticsCollector(driver, concurrency=4)  # type: ignore[arg-type]
    probes = _probes(*servers, None)
    cpu = await collector.collect(Metric.CPU, probes)
    memory = await collector.collect(Metric.MEMORY, probes)
    assert cpu == [*servers.values(), None] and memory == [40.0] * 40 + [None]
    assert sorted(driver.asked) == sorted(servers) and driver.peak == 4  # the Memory pass asked nothing


async def test_answers_expire_so_the_next_poll_reads_again() -> None:
    now = [0.0]
    driver = CountingDriver({"s1": 10.0})
    collector = DiagnosticsCollector(driver, max_age=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await collector.collect(Metric.CPU, _probes("s1")) == [10.0]
    driver.cpu["s1"] = 90.0
    now[0] = 1.5
    assert await collector.collect(Metric.CPU, _probes("s1")) == [90.0]
    assert driver.asked == ["s1", "s1"]


async def test_a_vm_the_vim_cannot_report_on_reads_nothing_and_the_others_still_read() -> None:
    driver = CountingDriver({"ok": 50.0}, {"gone": VimNotFound("Instance gone could not be found."),
                                           "denied": VimFailure("Policy doesn't allow it.", code=403)})
    collector = DiagnosticsCollector(driver)  # type: ignore[arg-type]
    readings = await collector.collect(Metric.CPU, _probes("gone", "ok", "denied", "ok"))
    assert readings == [None, 50.0, None, 50.0] and driver.asked.count("ok") == 1
    assert await collector.collect(Metric.PING, _probes("ok")) == [None]  # not a diagnostics metric


async def test_routed_by_metric_against_the_simulated_cloud(tmp_path: Path) -> None:
    settings = SimSettings.from_properties({"vim.sim.guest.vm-a.cpu": "95", "vim.sim.guest.vm-a.memory": "50"})
    later = [0.0]
    cloud = SimCloud(tmp_path / "sim", lambda: settings, clock=lambda: 1_800_000_000.0 + later[0])
    project = await cloud.ensure_project("t")
    (image,) = await cloud.list_images(name="cirros")
    server = await cloud.create_server("vm-a", project_id=project.id, flavor="m1.small", image_id=image.id,
                                       networks=[PortSpec("net-mgmt")])
    later[0] = 3600.0
    assert (await cloud.get_server(server.id)).status is ServerStatus.ACTIVE

    class Pings:
        async def collect(self, metric: Metric, probes: list[Probe]) -> list[Reading]:
            return [True] * len(probes)

    diagnostics = DiagnosticsCollector(cloud)
    collector = Routed({Metric.PING: Pings(), Metric.CPU: diagnostics, Metric.MEMORY: diagnostics})
    probes = [Probe("vm-a", server.id, "10.10.0.9")]
    assert await collector.collect(Metric.CPU, probes) == [95.0]
    assert await collector.collect(Metric.MEMORY, probes) == [50.0]
    assert await collector.collect(Metric.PING, probes) == [True]
    assert cloud.calls["get_server_diagnostics"] == 1
    await cloud.close()
