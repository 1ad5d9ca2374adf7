"""KPI evaluation (conditions, counters, rule actions) and the scheduler on a core over the simulated cloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_netconf.core.collectors import Metric, Probe, alive_kpi, kpi_metric, metric_of
from esc_netconf.core.kpi import KpiCounter, Outcome, actions_for, meets
from esc_netconf.core.model import KpiSpec, RuleSpec, VmGroupSpec
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.vim.sim.guest import SimGuestCollector
from tests.unit.core.conftest import FAIL, OK, Harness, group, spec


def cpu(cond: str, value: str, metric_type: str = "FLOAT", **kw: object) -> KpiSpec:
    return KpiSpec("VM_OVERLOADED", value, cond, metric_type, "CPU", 0, 1, "seconds", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cond", "value", "reading", "met"), [
    ("GT", "80", 80.5, True), ("GT", "80", 80.0, False), ("GE", "80", 80.0, True), ("LT", "20", 19.9, True),
    ("LE", "20", 20.0, True), ("LE", "20", 20.1, False), ("EQ", "5", 5.0, True), ("NE", "5", 5.0, False),
    ("GT", "80", None, False), ("GT", "not-a-number", 99.0, False),
])
def test_numeric_conditions(cond: str, value: str, reading: float | None, met: bool) -> None:
    assert meets(cpu(cond, value), reading) is met


def test_string_metrics_compare_text_with_eq_and_ne_only() -> None:
    assert meets(cpu("EQ", "DEGRADED", "STRING"), "DEGRADED")
    assert not meets(cpu("EQ", "DEGRADED", "STRING"), "OK")
    assert meets(cpu("NE", "DEGRADED", "STRING"), "OK")
    assert not meets(cpu("GT", "A", "STRING"), "B")  # an ordering of text is not a condition ESC offers


def test_ping_readings_are_answered_or_not_whatever_the_threshold() -> None:
    ping = KpiSpec("VM_ALIVE", "1", "GT", "UINT32", "ICMPPing")
    assert meets(ping, True) and not meets(ping, False) and not meets(ping, None)
    assert metric_of("ICMPPing") is Metric.PING and metric_of("icmpping") is Metric.PING
    assert metric_of("DISK_USAGE") is None  # a type this server does not collect


def test_a_script_kpi_is_collected_only_when_the_deployment_names_its_script() -> None:
    bare = KpiSpec("VM_STATUS_DEGRADED", "DEGRADED", "EQ", "STRING", "CUSTOM_SCRIPT")  # ESC's dynamic mappings
    named = KpiSpec("VM_STATUS_DEGRADED", "DEGRADED", "EQ", "STRING", "CUSTOM_SCRIPT",
                    collector_properties=(("script_filename", "status.sh"),))
    assert metric_of("custom_script") is Metric.SCRIPT
    assert kpi_metric(bare) is None and kpi_metric(named) is Metric.SCRIPT


def test_counter_needs_occurrences_in_a_row_and_raises_each_outcome_once() -> None:
    kpi = cpu("GE", "80", occurrences_true=2, occurrences_false=3)
    counter = KpiCounter()
    polls = [True, False, True, True, True, False, False, False, False, True, True]
    assert [counter.add(kpi, p) for p in polls] == [
        None, None, None, Outcome.TRUE, None, None, None, Outcome.FALSE, None, None, Outcome.TRUE]


def test_continuous_alarm_re_raises_true_on_every_poll_that_meets() -> None:
    kpi = cpu("GE", "80", occurrences_true=2, continuous_alarm=True)
    counter = KpiCounter()
    assert [counter.add(kpi, True) for _ in range(4)] == [None, Outcome.TRUE, Outcome.TRUE, Outcome.TRUE]


def test_rule_actions_by_outcome() -> None:
    actions = ("ALWAYS log", "FALSE recover autohealing", "TRUE servicebooted.sh")
    assert actions_for(actions, Outcome.TRUE) == ["log", "servicebooted.sh"]
    assert actions_for(actions, Outcome.FALSE) == ["log", "recover autohealing"]


async def test_guest_collector_reads_own_then_default_values() -> None:
    guests = {"vim.sim.guest.default.cpu": "40", "vim.sim.guest.vm-a.cpu": "95", "vim.sim.guest.vm-b.ping": "down"}
    collector = SimGuestCollector(lambda: guests)
    probes = [Probe("vm-a", "s1", None), Probe("vm-b", "s2", None), Probe("vm-c", None, None)]
    assert await collector.collect(Metric.CPU, probes) == [95.0, 40.0, None]
    assert await collector.collect(Metric.PING, probes) == [True, False, None]
    assert await collector.collect(Metric.MEMORY, probes[:1]) == [0.0]


PING = KpiSpec("VM_ALIVE", "1", "GT", "UINT32", "ICMPPing", 0, 1, "seconds", occurrences_true=1, occurrences_false=2)
RECOVER = RuleSpec("VM_ALIVE", ("FALSE recover autohealing",))


def watched(name: str = "g", *, bootup: int = 1) -> VmGroupSpec:
    return group(name, 1, 1).with_changes(kpis=(PING,), rules=(RECOVER,), bootup_time=bootup, recovery_wait_time=1)


async def test_restart_during_a_kpi_recovery_converges(tmp_path: Path) -> None:
    """kill -9 (a restart of core and cloud) while a recovery started by VM_ALIVE FALSE runs: the resumed
    recovery finishes, and monitoring resumes with fresh counters."""
    guests: dict[str, str] = {}
    h = Harness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        g = watched()
        assert alive_kpi(g) is PING
        h.core.apply_update("t", None, spec(g))
        await h.idle()
        (dep,) = h.core.deployments()
        vm = h.core.vms(dep.dep_id)[0]
        assert vm.state is VmState.ALIVE
        guests[f"vim.sim.guest.{vm.name}.ping"] = "down"
        await h.wait_for(lambda: h.has_event_type("VM_RECOVERY_INIT"), timeout=10)
        await h.restart()  # mid-recovery
        guests[f"vim.sim.guest.{vm.name}.ping"] = "up"
        await h.idle(15)
        await h.wait_for(lambda: h.core.vms(dep.dep_id)[0].state is VmState.ALIVE, timeout=15)
        assert ("VM_RECOVERY_COMPLETE", OK, 200) in h.kinds()
        assert h.core.find_deployment("t", "dep").state is ServiceState.ACTIVE  # type: ignore[union-attr]
    finally:
        await h.core.stop()
        await h.sim.close()


async def test_bootup_time_expiry_without_a_recover_rule_fails_the_vm(tmp_path: Path) -> None:
    guests = {"vim.sim.guest.default.ping": "down"}
    h = Harness(tmp_path / "sim", guests=guests)
    await h.core.start()
    try:
        g = group("g", 1, 1).with_changes(kpis=(PING,), bootup_time=1)
        h.core.apply_update("t", None, spec(g))
        await h.idle()
        (dep,) = h.core.deployments()
        assert [k[:2] for k in h.kinds() if k[0] in ("VM_ALIVE", "SERVICE_ALIVE", "VM_RECOVERY_INIT")] == [
            ("VM_ALIVE", FAIL), ("SERVICE_ALIVE", FAIL)]
        assert h.core.vms(dep.dep_id)[0].state is VmState.ERROR
    finally:
        await h.core.stop()
        await h.sim.close()
