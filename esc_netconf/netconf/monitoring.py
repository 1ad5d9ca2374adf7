"""ietf-netconf-monitoring (RFC 6022) state: what a client reads under ``/netconf-state``.

Rendered fresh for each ``get`` from the live server; nothing here is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lxml import etree

from esc_netconf.netconf.messages import format_date_and_time

from esc_netconf.nsmap import default_namespace

if TYPE_CHECKING:
    from esc_netconf.netconf.server import NetconfServer

NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _leaf(parent: etree._Element, name: str, text: object) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    element.text = str(text)
    return element


def netconf_state(server: NetconfServer, started: datetime) -> etree._Element:
    state = etree.Element(_q("netconf-state"), nsmap=default_namespace(NS))
    caps = etree.SubElement(state, _q("capabilities"))
    for capability in server.capabilities():
        _leaf(caps, "capability", capability)

    datastores = etree.SubElement(state, _q("datastores"))
    running = etree.SubElement(datastores, _q("datastore"))
    _leaf(running, "name", "running")
    holder = server.sessions.get(server.lock_holder) if server.lock_holder is not None else None
    if holder is not None:
        locks = etree.SubElement(running, _q("locks"))
        global_lock = etree.SubElement(locks, _q("global-lock"))
        _leaf(global_lock, "locked-by-session", holder.session_id)
        _leaf(global_lock, "locked-time", format_date_and_time(holder.lock_time or started))

    schemas = etree.SubElement(state, _q("schemas"))
    for module in server.model.modules:
        schema = etree.SubElement(schemas, _q("schema"))
        _leaf(schema, "identifier", module.name)
        _leaf(schema, "version", module.revision or "")
        _leaf(schema, "format", "yang")
        _leaf(schema, "namespace", module.namespace)
        _leaf(schema, "location", "NETCONF")

    sessions = etree.SubElement(state, _q("sessions"))
    for ctx in sorted(server.sessions.values(), key=lambda c: c.session_id):
        session = etree.SubElement(sessions, _q("session"))
        _leaf(session, "session-id", ctx.session_id)
        _leaf(session, "transport", "netconf-ssh")
        _leaf(session, "username", ctx.username)
        _leaf(session, "source-host", ctx.source_host)
        _leaf(session, "login-time", format_date_and_time(ctx.login_time))
        _leaf(session, "in-rpcs", ctx.counters.in_rpcs)
        _leaf(session, "in-bad-rpcs", ctx.counters.in_bad_rpcs)
        _leaf(session, "out-rpc-errors", ctx.counters.out_rpc_errors)
        _leaf(session, "out-notifications", ctx.counters.out_notifications)

    stats = etree.SubElement(state, _q("statistics"))
    _leaf(stats, "netconf-start-time", format_date_and_time(started))
    _leaf(stats, "in-bad-hellos", server.stats.in_bad_hellos)
    _leaf(stats, "in-sessions", server.stats.in_sessions)
    _leaf(stats, "dropped-sessions", server.stats.dropped_sessions)
    _leaf(stats, "in-rpcs", server.stats.in_rpcs)
    _leaf(stats, "in-bad-rpcs", server.stats.in_bad_rpcs)
    _leaf(stats, "out-rpc-errors", server.stats.out_rpc_errors)
    _leaf(stats, "out-notifications", server.stats.out_notifications)
    return state
