"""``esc_nc_cli --host a,b``: the list is split in order, ``host:port`` overriding ``--port``."""

from __future__ import annotations

import pytest

from esc_netconf.cli.errors import UsageError
from esc_netconf.cli.nc_client import split_hosts
from esc_netconf.cli.nc_options import ConnectOptions


def test_hosts_in_order_with_the_common_port_unless_one_is_given() -> None:
    targets = split_hosts(ConnectOptions(host="esc-a, esc-b:2830", port=830))
    assert [(t.host, t.port) for t in targets] == [("esc-a", 830), ("esc-b", 2830)]


@pytest.mark.parametrize(("hosts", "says"), [("a,,b", "empty entry"), ("a:x", "port in [a:x]"),
                                             ("a:70000", "port in [a:70000]")])
def test_a_bad_host_list_is_a_usage_error(hosts: str, says: str) -> None:
    with pytest.raises(UsageError, match=says.replace("[", r"\[").replace("]", r"\]")):
        split_hosts(ConnectOptions(host=hosts))
