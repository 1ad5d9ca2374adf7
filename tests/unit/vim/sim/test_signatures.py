"""``SimCloud`` implements every ``VimDriver`` method with the protocol's exact signature.

(``isinstance`` on a runtime-checkable Protocol only checks names; this checks parameters,
defaults, annotations and whether each method is a coroutine.)
"""

from __future__ import annotations

import inspect

import pytest

from esc_netconf.vim.base import VimDriver
from esc_netconf.vim.sim import SimCloud

_METHODS = sorted(
    name for name, value in vars(VimDriver).items() if inspect.isfunction(value) and not name.startswith("_")
)


def test_protocol_has_the_verbs_of_the_brief() -> None:
    expected = {
        "create_server", "get_server", "list_servers", "stop_server", "start_server", "reboot_server",
        "delete_server", "get_image", "list_images", "create_server_image", "delete_image", "download_image",
        "create_volume", "get_volume", "list_volumes", "delete_volume", "attach_volume", "detach_volume",
        "swap_volume", "create_volume_snapshot", "get_volume_snapshot", "list_volume_snapshots",
        "delete_volume_snapshot", "upload_volume_to_image", "ensure_project", "get_project", "list_projects",
        "delete_project", "get_network",
        "list_networks", "get_flavor", "list_flavors", "close",
        "create_port", "delete_port",  # day-0 tokens that need a port before its server
        "get_server_diagnostics",  # CPU and Memory KPIs without a guest agent
    }
    assert set(_METHODS) == expected


@pytest.mark.parametrize("name", _METHODS)
def test_same_signature(name: str) -> None:
    declared = getattr(VimDriver, name)
    implemented = getattr(SimCloud, name)
    assert inspect.signature(implemented) == inspect.signature(declared)
    assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(declared)
