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
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


_SCALARS = frozenset({str, int, float, bool, type(None)})


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass type (None for any other type), worked out once per type: every
    VM step serializes its record, and asking ``dataclasses`` again per value cost most of the time."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def to_plain(value: Any) -> Any:
    """A JSON-compatible copy of ``value`` (a dataclass, enum, datetime, list, tuple, dict or scalar)."""
    cls: type = type(value)
    if cls in _SCALARS:
        return value
    names = _field_names(cls)
    if names is not None:
        plain: dict[str, Any] = {}
        for name in names:  # scalars inline: most fields are, and a call per field was most of the cost
            field_value = getattr(value, name)
            plain[name] = field_value if type(field_value) in _SCALARS else to_plain(field_value)
        return plain
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
    return _converter(tp)(data)


Converter = Callable[[Any], Any]


@cache
def _converter(tp: Any) -> Converter:
    """The function that rebuilds values of ``tp``, worked out once per type: a restart rebuilds every stored
    record, and reading the type hints again for each value cost most of the time."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _converter(args[0])
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_converter(tp)
    if origin is tuple:
        (arg, *_rest) = typing.get_args(tp)
        item = _converter(arg)
        return lambda data: None if data is None else tuple(item(v) for v in data)
    if origin is list:
        (arg,) = typing.get_args(tp)
        item = _converter(arg)
        return lambda data: None if data is None else [item(v) for v in data]
    if origin is dict:
        _key, arg = typing.get_args(tp)
        item = _converter(arg)
        return lambda data: None if data is None else {k: item(v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _nullable(tp)
    if tp is datetime:
        return _nullable(datetime.fromisoformat)
    if tp is float:
        return _nullable(float)
    if tp is str:
        # a field that became text (KpiSpec.metric_value) reads its stored numbers
        return lambda data: str(data) if isinstance(data, (int, float)) and not isinstance(data, bool) else data
    return _same


def _same(data: Any) -> Any:
    return data


def _nullable(convert: Converter) -> Converter:
    return lambda data: None if data is None else convert(data)


def _dataclass_converter(cls: type) -> Converter:
    """Its fields' converters are worked out at the first call, so a dataclass may contain itself."""
    fields: list[tuple[str, Converter]] = []
    resolved = False

    def convert(data: Any) -> Any:
        nonlocal resolved
        if data is None:
            return None
        if not resolved:
            hints = _hints(cls)
            fields.extend((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls) if f.init)
            resolved = True
        return cls(**{name: item(data[name]) for name, item in fields if name in data})

    return convert


def rebuild(cls: type[T], data: dict[str, Any]) -> T:
    """``from_plain`` for a dataclass, typed."""
    result: T = from_plain(cls, data)
    return result
