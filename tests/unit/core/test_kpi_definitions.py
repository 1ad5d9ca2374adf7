"""Custom metrics' definitions (``metric_collector/properties``): read, refused at commit with a reason, and
answered by the simulated guest (SNMP) or routed to a real agent when the KPI names a proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from esc_netconf.collectors.routing import ProxiedOrGuest, Routed
from esc_netconf.core.collectors import (
    DefinitionError,
    Metric,
    Probe,
    Reading,
    ScriptDefinition,
    SnmpDefinition,
    check_kpis,
)
from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import KpiSpec, VmGroupSpec
from esc_netconf.vim.sim.guest import SimGuestCollector
from esc_netconf.vim.sim.settings import SimSettings, SimSettingsError

OID = "1.3.6.1.4.1.8072.9999.1.0"


def snmp(*properties: tuple[str, str], proxy: str | None = None, metric_type: str = "UINT32") -> KpiSpec:
    return KpiSpec("VM_OVERLOADED", "80", "GE", metric_type, "SNMP", 0, 1, "seconds",
                   collector_proxy=proxy, collector_properties=properties)


def script(*properties: tuple[str, str]) -> KpiSpec:
    return KpiSpec("VM_OVERLOADED", "80", "GE", "FLOAT", "CUSTOM_SCRIPT", collector_properties=properties)


def test_snmp_definition_defaults_and_given_values() -> None:
    assert SnmpDefinition.of(snmp(("oid", "." + OID))) == SnmpDefinition(OID, "public", 161, "2c")
    given = snmp(("oid", OID), ("community", "ops"), ("port", "1161"), ("version", "1"))
    assert SnmpDefinition.of(given) == SnmpDefinition(OID, "ops", 1161, "1")


@pytest.mark.parametrize(("properties", "says"), [
    ((), "needs the property 'oid'"),
    ((("oid", "SNMPv2-MIB::sysUpTime.0"),), "must be a numeric OID"),
    ((("oid", "1.3.6..1"),), "must be a numeric OID"),
    ((("oid", OID), ("port", "70000")), "UDP port from 1 to 65535"),
    ((("oid", OID), ("port", "x")), "UDP port from 1 to 65535"),
    ((("oid", OID), ("version", "3")), "must be 2c or 1"),
    ((("oid", OID), ("community", "")), "must not be empty"),
    ((("oid", OID), ("script_filename", "x.sh")), "unknown property [script_filename] for a SNMP KPI"),
])
def test_bad_snmp_definitions_say_what_is_wrong(properties: tuple[tuple[str, str], ...], says: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        SnmpDefinition.of(snmp(*properties))
    assert says in str(caught.value)


def test_script_definition_splits_args_without_a_shell() -> None:
    definition = ScriptDefinition.of(script(("script_filename", "sub/load.sh"), ("args", "--unit 'a b' $HOME;x"),
                                            ("timeout", "2.5")))
    assert definition == ScriptDefinition("sub/load.sh", ("--unit", "a b", "$HOME;x"), 2.5)
    assert ScriptDefinition.of(script(("script_filename", "load.sh"))).timeout == 10.0


@pytest.mark.parametrize(("properties", "says"), [
    ((("args", "x"),), "must name a file inside the server's KPI script directory"),
    ((("script_filename", "/usr/bin/id"),), "not absolute"),
    ((("script_filename", "../../bin/sh"),), "without '..'"),
    ((("script_filename", "a.sh"), ("args", "'open")), "cannot be split into arguments"),
    ((("script_filename", "a.sh"), ("timeout", "0")), "above 0 and at most 30"),
    ((("script_filename", "a.sh"), ("timeout", "600")), "above 0 and at most 30"),
    ((("script_filename", "a.sh"), ("oid", OID)), "unknown property [oid] for a CUSTOM_SCRIPT KPI"),
])
def test_bad_script_definitions_say_what_is_wrong(properties: tuple[tuple[str, str], ...], says: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        ScriptDefinition.of(script(*properties))
    assert says in str(caught.value)


def test_commit_check_names_group_kpi_and_property() -> None:
    group = VmGroupSpec("g", "cirros", "m1.tiny", kpis=(snmp(("oid", OID), ("port", "0")),))
    with pytest.raises(InvalidRequest) as caught:
        check_kpis("Deployment [t/d]", group)
    assert caught.value.message.startswith("Deployment [t/d] vm_group [g] kpi [VM_OVERLOADED]: property 'port'")
    # ESC's own files name a script type whose definition lives in ESC's dynamic mappings: accepted, not read
    check_kpis("Deployment [t/d]", VmGroupSpec("g", "cirros", "m1.tiny", kpis=(script(),)))


def read(collector: SimGuestCollector | ProxiedOrGuest | Routed, metric: Metric, probes: list[Probe]) -> list[Reading]:
    return asyncio.run(collector.collect(metric, probes))


def test_sim_guest_answers_snmp_oids_per_vm_with_default_and_unset_as_no_answer() -> None:
    properties = {f"vim.sim.guest.default.snmp.{OID}": "10", f"vim.sim.guest.vm.a.snmp.{OID}": "95",
                  "vim.sim.guest.vm.a.snmp.1.3.6.1.2.1.1.1.0": "DEGRADED"}
    guest = SimGuestCollector(lambda: properties)
    probes = [Probe("vm.a", "s", "10.10.0.10", snmp(("oid", OID))),  # a VM name with dots
              Probe("b", "s", "10.10.0.11", snmp(("oid", OID))),
              Probe("vm.a", "s", "10.10.0.10", snmp(("oid", "1.3.6.1.2.1.1.1.0"), metric_type="STRING")),
              Probe("b", "s", "10.10.0.11", snmp(("oid", "1.3.6.1.2.1.1.3.0"))),
              Probe("b", None, None, snmp(("oid", OID)))]
    assert read(guest, Metric.SNMP, probes) == [95.0, 10.0, "DEGRADED", None, None]


def test_sim_guest_snmp_settings_are_checked() -> None:
    SimSettings.from_properties({f"vim.sim.guest.vm1.snmp.{OID}": "text is fine"})
    for key, value, says in (("vim.sim.guest.vm1.snmp.sysUpTime", "1", "snmp.<numeric-oid>"),
                             (f"vim.sim.guest.vm1.snmp.{OID}", "x" * 256, "at most 255")):
        with pytest.raises(SimSettingsError) as caught:
            SimSettings.from_properties({key: value})
        assert says in caught.value.message


class Fixed:
    """A collector answering one value, recording what it was asked."""

    def __init__(self, value: Reading) -> None:
        self.value = value
        self.asked: list[str] = []

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        self.asked.extend(p.vm_name for p in probes)
        return [self.value] * len(probes)


def test_a_kpi_with_a_proxy_is_read_from_the_real_collector_others_from_the_guest() -> None:
    guest, real = Fixed(1.0), Fixed(2.0)
    probes = [Probe("a", "s", "10.0.0.1", snmp(("oid", OID))), Probe("b", "s", "10.0.0.2", snmp(("oid", OID),
              proxy="127.0.0.1")), Probe("c", "s", "10.0.0.3", snmp(("oid", OID)))]
    assert read(ProxiedOrGuest(guest, real), Metric.SNMP, probes) == [1.0, 2.0, 1.0]
    assert guest.asked == ["a", "c"] and real.asked == ["b"]
    routed = Routed({Metric.SNMP: real})
    assert read(routed, Metric.CPU, probes) == [None] * 3 and read(routed, Metric.SNMP, probes[:1]) == [2.0]
