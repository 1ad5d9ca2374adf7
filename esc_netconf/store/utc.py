"""Instants as integer microseconds since the Unix epoch, in UTC.

Why integers rather than ``DateTime`` columns: SQLite has no time type (SQLAlchemy stores ISO strings,
whose ordering breaks as soon as one writer adds an offset or drops the fraction), while PostgreSQL
does; an integer compares, indexes and round-trips identically on both, exactly to the microsecond
that ``datetime`` holds.

A naive ``datetime`` is taken to be UTC already: the whole project keeps UTC (NETCONF ``eventTime``
is UTC), and refusing naive values would only push ``.replace(tzinfo=utc)`` into every caller.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)


def to_micros(instant: datetime) -> int:
    """Microseconds since the epoch of ``instant`` (naive means UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return (instant - EPOCH) // _ONE_MICROSECOND


def from_micros(micros: int) -> datetime:
    """The aware UTC ``datetime`` of ``micros`` microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def utc_now() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(timezone.utc)
