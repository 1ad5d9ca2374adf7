"""The functional tier: the real OpenStack named by ``OS_CLIENT_CONFIG_FILE`` / ``ESC_TEST_OS_CLOUD``.

Every test here is marked ``openstack`` (``make test`` deselects them; ``make test-openstack`` selects
them) and is skipped, with the command that fixes it, when no cloud is configured or openstacksdk is
missing. ``scripts/local-openstack/up.sh`` (``make openstack-up``) provides such a cloud on loopback.

The SDK's HTTP requests are counted per test through keystoneauth's request log, so the tier can report
how many VIM API calls each operation costs (``api_requests`` fixture, summary at the end of the run).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

CLOUD_ENV = "ESC_TEST_OS_CLOUD"
DEFAULT_CLOUD = "local"
_SKIP_REASON = (
    "no OpenStack configured: run `make openstack-up` and set OS_CLIENT_CONFIG_FILE=/tmp/local-openstack/clouds.yaml "
    f"(or {CLOUD_ENV}=<clouds.yaml entry>)"
)


def configured_cloud() -> str | None:
    """The ``clouds.yaml`` entry to test against, or ``None`` when none is configured."""
    explicit = os.environ.get(CLOUD_ENV)
    if explicit:
        return explicit
    config = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if config and Path(config).is_file():
        return os.environ.get("OS_CLOUD", DEFAULT_CLOUD)
    return None


def pytest_configure(config: pytest.Config) -> None:
    # openstacksdk warns about its own deprecations on every call; they are not ours to fix
    config.addinivalue_line("filterwarnings", r"ignore:::openstack(\..*)?")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    cloud = configured_cloud()
    try:
        import openstack  # noqa: F401
    except ImportError:
        missing_sdk = True
    else:
        missing_sdk = False
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.openstack)
        if cloud is None:
            item.add_marker(pytest.mark.skip(reason=_SKIP_REASON))
        elif missing_sdk:
            item.add_marker(pytest.mark.skip(reason="openstacksdk missing: pip install 'esc-netconf[openstack]'"))


class RequestLog(logging.Handler):
    """Counts the SDK's HTTP requests (keystoneauth logs ``REQ: curl -g -i -X GET http://...``)."""

    _REQ = re.compile(r"REQ: curl -g -i (?:--insecure )?-X (\w+) (\S+)")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.requests: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self._REQ.search(record.getMessage())
        if match:
            self.requests.append((match.group(1), match.group(2)))

    def by_service(self) -> Counter[str]:
        """Requests per ``METHOD port`` (the port names the service on the local cloud)."""
        counts: Counter[str] = Counter()
        for method, url in self.requests:
            port = re.match(r"\"?https?://[^/:]+:?(\d*)", url)
            counts[f"{method} :{port.group(1) if port else '?'}"] += 1
        return counts


_REQUEST_TOTALS: dict[str, int] = {}
_SCENARIO_TIMES: dict[str, float] = {}


def record_scenario(name: str, seconds: float) -> None:
    """Note how long one end-to-end scenario step took (printed in the run's summary)."""
    _SCENARIO_TIMES[name] = seconds


@pytest.fixture
def api_requests(request: pytest.FixtureRequest) -> Iterator[RequestLog]:
    """The VIM HTTP requests made during the test (the count is also printed in the run's summary)."""
    handler = RequestLog()
    logger = logging.getLogger("keystoneauth.session")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        _REQUEST_TOTALS[request.node.nodeid] = len(handler.requests)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SCENARIO_TIMES:
        terminalreporter.section("end-to-end scenario durations against the real cloud")
        for name, seconds in _SCENARIO_TIMES.items():
            terminalreporter.write_line(f"{seconds:7.1f}s  {name}")
    if _REQUEST_TOTALS:
        terminalreporter.section("VIM HTTP requests per test (keystoneauth request log)")
        for nodeid, count in _REQUEST_TOTALS.items():
            terminalreporter.write_line(f"{count:5d}  {nodeid}")
