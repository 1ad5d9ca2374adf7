"""The ``esc`` namespace as the northbound writes and reads it: one place for the name and the helpers."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from esc_netconf.netconf.messages import format_date_and_time

ESC_NS = "http://www.cisco.com/esc/esc"


def q(name: str) -> str:
    """Clark name of an ``esc`` node."""
    return f"{{{ESC_NS}}}{name}"


def leaf(parent: etree._Element, name: str, value: object | None) -> None:
    """Add ``<name>value</name>``; an unknown value is left out rather than sent empty."""
    if value is not None:
        etree.SubElement(parent, q(name)).text = str(value)


def date_time(value: datetime | None) -> str | None:
    """A YANG ``date-and-time`` leaf value (UTC, milliseconds, as ESC prints it), or None."""
    return None if value is None else format_date_and_time(value)
