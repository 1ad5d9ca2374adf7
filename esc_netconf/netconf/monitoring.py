"""ietf-netconf-monitoring (RFC 6022) state: what a client reads under ``/netconf-state``.

Rendered fresh for each ``get`` from the live server; nothing here is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from lxml import etree

from esc_netconf.netconf.context import ServerCounters, SessionContext
from esc_netconf.netconf.messages import format_date_and_time
from esc_netconf.netconf.yangmodel import ModuleInfo
from esc_netconf.nsmap import default_namespace

NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _leaf(parent: etree._Element, name: str, text: object) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    element.text = str(text)
    return element


def netconf_state(
    *,
    capabilities: Iterable[str],
    modules: Iterable[ModuleInfo],
    sessions: Mapping[int, SessionContext],
    lock_holder: int | None,
    stats: ServerCounters,
    started: datetime,
) -> etree._Element:
    """``/netconf-state`` from the server's live state, passed in piece by piece so that this module
    needs nothing of the server itself (which imports the operations that call it).

    ``modules`` are those the server serves with get-schema, the same set the YANG library lists.
    """
    state = etree.Element(_q("netconf-state"), nsmap=default_namespace(NS))
    caps = etree.SubElement(state, _q("capabilities"))
    for capability in capabilities:
        _leaf(caps, "capability", capability)

    datastores = etree.SubElement(state, _q("datastores"))
    running = etree.SubElement(datastores, _q("datastore"))
    _leaf(running, "name", "running")
    holder = sessions.get(lock_holder) if lock_holder is not None else None
    if holder is not None:
        locks = etree.SubElement(running, _q("locks"))
        global_lock = etree.SubElement(locks, _q("global-lock"))
        _leaf(global_lock, "locked-by-session", holder.session_id)
        _leaf(global_lock, "locked-time", format_date_and_time(holder.lock_time or started))

    schemas = etree.SubElement(state, _q("schemas"))
    for module in modules:
        schema = etree.SubElement(schemas, _q("schema"))
        _leaf(schema, "identifier", module.name)
        _leaf(schema, "version", module.revision or "")
        _leaf(schema, "format", "yang")
        _leaf(schema, "namespace", module.namespace)
        _leaf(schema, "location", "NETCONF")

    sessions_el = etree.SubElement(state, _q("sessions"))
    for ctx in sorted(sessions.values(), key=lambda c: c.session_id):
        session = etree.SubElement(sessions_el, _q("session"))
        _leaf(session, "session-id", ctx.session_id)
        _leaf(session, "transport", "netconf-ssh")
        _leaf(session, "username", ctx.username)
        _leaf(session, "source-host", ctx.source_host)
        _leaf(session, "login-time", format_date_and_time(ctx.login_time))
        _leaf(session, "in-rpcs", ctx.counters.in_rpcs)
        _leaf(session, "in-bad-rpcs", ctx.counters.in_bad_rpcs)
        _leaf(session, "out-rpc-errors", ctx.counters.out_rpc_errors)
        _leaf(session, "out-notifications", ctx.counters.out_notifications)

    statistics = etree.SubElement(state, _q("statistics"))
    _leaf(statistics, "netconf-start-time", format_date_and_time(started))
    _leaf(statistics, "in-bad-hellos", stats.in_bad_hellos)
    _leaf(statistics, "in-sessions", stats.in_sessions)
    _leaf(statistics, "dropped-sessions", stats.dropped_sessions)
    _leaf(statistics, "in-rpcs", stats.in_rpcs)
    _leaf(statistics, "in-bad-rpcs", stats.in_bad_rpcs)
    _leaf(statistics, "out-rpc-errors", stats.out_rpc_errors)
    _leaf(statistics, "out-notifications", stats.out_notifications)
    return state
