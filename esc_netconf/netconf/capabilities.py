"""What the server implements of the protocol, stated once: the capabilities of its ``<hello>``, the
standard YANG modules it implements, and the features of those modules that follow from them.

A client compiles the modules with exactly the features announced (CESNET's libnetconf2 turns every
feature off that the hello or the YANG library does not list, and so loses ``edit-config`` on
``running`` or ``validate``), so the features are derived from the capabilities here rather than
written a second time. Only what the server really does is listed: no ``candidate``, ``startup``,
``confirmed-commit`` or ``url``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

CAPABILITY_PREFIX: Final = "urn:ietf:params:netconf:capability:"

PROTOCOL_CAPABILITIES: Final = (
    "urn:ietf:params:netconf:base:1.0",
    "urn:ietf:params:netconf:base:1.1",
    "urn:ietf:params:netconf:capability:writable-running:1.0",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:validate:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:xpath:1.0",
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
)
"""RFC 6241 / 5277 capabilities, without the module capabilities that the YANG model adds."""

IETF_NETCONF_FEATURES: Final = (
    "writable-running", "candidate", "confirmed-commit", "rollback-on-error", "validate", "startup", "url", "xpath",
)
"""The features of ietf-netconf (RFC 6241 section 10), each named after the capability it stands for."""

IMPLEMENTED_STANDARD_MODULES: Final = (
    "ietf-netconf",                # RFC 6241: the base operations
    "ietf-netconf-monitoring",     # RFC 6022: /netconf-state, get-schema
    "ietf-netconf-notifications",  # RFC 6470: the NETCONF stream's events
    "notifications",               # RFC 5277: create-subscription
    "nc-notifications",            # RFC 5277: /netconf/streams, replayComplete, notificationComplete
    "ietf-yang-library",           # RFC 8525: /yang-library and /modules-state
    "ietf-datastores",             # RFC 8342: the datastore identities the YANG library names
)
"""The standard modules the server implements; the modules they import are loaded as import-only."""


def features_of_capabilities(capabilities: Sequence[str]) -> tuple[str, ...]:
    """The ietf-netconf features that ``capabilities`` announce (``:validate:1.1`` -> ``validate``)."""
    announced = {c[len(CAPABILITY_PREFIX):].split(":", 1)[0] for c in capabilities if c.startswith(CAPABILITY_PREFIX)}
    return tuple(f for f in IETF_NETCONF_FEATURES if f in announced)


STANDARD_FEATURES: Final[Mapping[str, tuple[str, ...]]] = {
    "ietf-netconf": features_of_capabilities(PROTOCOL_CAPABILITIES),
}
"""Enabled features of the implemented standard modules; a module not named here has none enabled."""
