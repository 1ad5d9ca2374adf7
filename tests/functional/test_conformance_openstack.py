"""Runs the VIM conformance suite (``tests/vim/conformance.py``) against a real OpenStack.

The same test functions check the simulated cloud on every commit; here they check
``esc_netconf.vim.openstack`` against the cloud named by ``ESC_TEST_OS_CLOUD`` (default ``local``
in ``OS_CLIENT_CONFIG_FILE``), seeded by ``scripts/local-openstack/seed.py``. Each test works in
its own new project, so tests do not see each other's servers; the projects' resources are
deleted after each test (projects themselves are kept: Keystone projects are cheap).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from tests.functional.conftest import RequestLog, configured_cloud
from tests.functional.os_cleanup import purge_projects
from tests.vim.conformance import *  # noqa: F401,F403  (the shared test functions)
from tests.vim.conformance import Catalog

from esc_netconf.vim.base import VimDriver

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def driver(api_requests: RequestLog) -> AsyncIterator[VimDriver]:
    from esc_netconf.vim.openstack import create_driver

    cloud = configured_cloud()
    assert cloud is not None
    driver = create_driver(cloud)
    before = {p.id for p in await driver.list_projects()}
    yield driver
    try:
        created = [p.id for p in await driver.list_projects() if p.id not in before]
        await purge_projects(driver, created)
    finally:
        await driver.close()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        image=os.environ.get("ESC_TEST_OS_IMAGE", "cirros"),
        flavor=os.environ.get("ESC_TEST_OS_FLAVOR", "m1.tiny"),
        network=os.environ.get("ESC_TEST_OS_NETWORK", "net-mgmt"),
        second_network=os.environ.get("ESC_TEST_OS_NETWORK2", "net-data"),
        free_fixed_ip=os.environ.get("ESC_TEST_OS_FREE_IP", "10.10.0.5"),
        outside_ip="192.168.77.5",
    )


@pytest.fixture
def settle_timeout() -> float:
    return float(os.environ.get("ESC_TEST_OS_SETTLE", "90"))
