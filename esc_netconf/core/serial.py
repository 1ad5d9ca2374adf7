"""Dataclass <-> JSON-compatible dict conversion for core specs and records.

Why: the persistence layer keeps each record as a few key columns plus one JSON column, and must not know
the shape of our dataclasses.  ``to_plain`` turns a dataclass tree into dicts/lists/str/int/float/bool/None
(enums become their value, datetimes ISO 8601 strings, tuples lists); ``from_plain`` rebuilds it from the
type hints, so a round trip gives an equal object.  Unknown keys are ignored and missing keys take the
field default, which lets records gain fields without a data migration.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """A JSON-compatible copy of ``value`` (a dataclass, enum, datetime, list, tuple, dict or scalar)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` from what ``to_plain`` produced."""
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_plain(args[0], data)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        kwargs = {f.name: from_plain(hints[f.name], data[f.name])
                  for f in dataclasses.fields(tp) if f.init and f.name in data}
        return tp(**kwargs)
    if origin is tuple:
        (arg, *_rest) = typing.get_args(tp)
        return tuple(from_plain(arg, v) for v in data)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [from_plain(arg, v) for v in data]
    if origin is dict:
        _key, arg = typing.get_args(tp)
        return {k: from_plain(arg, v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    if tp is datetime:
        return datetime.fromisoformat(data)
    if tp is float:
        return float(data)
    if tp is str and isinstance(data, (int, float)) and not isinstance(data, bool):
        return str(data)  # a field that became text (KpiSpec.metric_value) reads its stored numbers
    return data


def rebuild(cls: type[T], data: dict[str, Any]) -> T:
    """``from_plain`` for a dataclass, typed."""
    result: T = from_plain(cls, data)
    return result
