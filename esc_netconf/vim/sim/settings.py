"""Runtime knobs of the simulated cloud: step-delay scale and per-operation fault injection.

The settings are handed to ``SimCloud`` as a *callable* and read on every request, because an
operator changes them while the server runs (``escadm vimmanager set --config
vim.sim.fault.server.create=error``). A request is shaped by the settings in force when it is
made: its delays and its outcome are written into the resource's timeline at that moment, so
changing a setting later never rewrites work already accepted (as with a real cloud).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from esc_netconf.errors import EscError

__all__ = [
    "DELAY_SCALE_KEY",
    "FAULT_KEY_PREFIX",
    "GUEST_KEY_PREFIX",
    "FaultMode",
    "SimOperation",
    "SimSettings",
    "SimSettingsError",
    "check_guest_setting",
]

DELAY_SCALE_KEY = "vim.sim.delay.scale"
FAULT_KEY_PREFIX = "vim.sim.fault."
#: ``vim.sim.guest.<generated-vm-name>.ping|cpu|memory|snmp.<oid>``: the simulated guests (``vim.sim.guest``).
GUEST_KEY_PREFIX = "vim.sim.guest."


class FaultMode(str, Enum):
    """What happens to a request of a faulted operation.

    ``ERROR``: accepted, then the resource ends in its failure status (ERROR, killed, error,
    error_deleting) with OpenStack's fault message. ``TIMEOUT``: accepted, then the resource
    stays in its transitional status forever. ``NONE``: normal behaviour.
    """

    NONE = "none"
    ERROR = "error"
    TIMEOUT = "timeout"


class SimOperation(str, Enum):
    """The operations whose outcome can be faulted (the ``<operation>`` of the property key)."""

    SERVER_CREATE = "server.create"
    SERVER_STOP = "server.stop"
    SERVER_START = "server.start"
    SERVER_REBOOT = "server.reboot"
    SERVER_DELETE = "server.delete"
    IMAGE_CREATE = "image.create"
    IMAGE_DELETE = "image.delete"
    VOLUME_CREATE = "volume.create"
    VOLUME_SNAPSHOT = "volume.snapshot"
    VOLUME_SNAPSHOT_DELETE = "volume.snapshot.delete"
    VOLUME_UPLOAD = "volume.upload"


class SimSettingsError(EscError, ValueError):
    """A ``vim.sim.*`` property is unknown or has a bad value; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class SimSettings:
    """The simulated cloud's settings. ``faults`` maps an operation (``SimOperation`` value,
    e.g. ``"server.create"``) to its ``FaultMode``; missing operations behave normally."""

    delay_scale: float = 1.0
    faults: Mapping[str, FaultMode] = field(default_factory=dict)
    #: The simulated guests' explicit values, ``{vm_name: {field: value}}`` (``vim.sim.guest.*``, checked):
    #: the cloud's server diagnostics answer from them, as a hypervisor reports what its guest does.
    guests: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.delay_scale) or self.delay_scale < 0:
            raise SimSettingsError(DELAY_SCALE_KEY, f"must be a number >= 0, not {self.delay_scale!r}")
        known = {op.value for op in SimOperation}
        for operation, mode in self.faults.items():
            if operation not in known:
                raise SimSettingsError(FAULT_KEY_PREFIX + operation, "unknown operation")
            if not isinstance(mode, FaultMode):
                raise SimSettingsError(FAULT_KEY_PREFIX + operation, f"not a FaultMode: {mode!r}")

    def fault(self, operation: SimOperation) -> FaultMode:
        return self.faults.get(operation.value, FaultMode.NONE)

    def delay(self, seconds: float) -> float:
        """A nominal step delay scaled by ``delay_scale``."""
        return seconds * self.delay_scale

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> SimSettings:
        """Read the ``vim.sim.*`` keys of an application.properties mapping; others are ignored.

        :raises SimSettingsError: an unknown ``vim.sim.*`` key, an unknown fault operation, a
            fault that is not ``error|timeout|none``, or a delay scale that is not a number >= 0.
        """
        delay_scale = 1.0
        faults: dict[str, FaultMode] = {}
        guests: dict[str, dict[str, str]] = {}
        for key, raw in properties.items():
            if not key.startswith("vim.sim."):
                continue
            value = raw.strip()
            if key == DELAY_SCALE_KEY:
                delay_scale = _parse_scale(key, value)
            elif key.startswith(FAULT_KEY_PREFIX):
                operation = key[len(FAULT_KEY_PREFIX):]
                faults[_parse_operation(key, operation).value] = _parse_mode(key, value)
            elif key.startswith(GUEST_KEY_PREFIX):
                name, guest_field, checked = check_guest_setting(key, value)
                guests.setdefault(name, {})[guest_field] = checked
            else:
                raise SimSettingsError(key, "unknown simulated-cloud setting")
        return cls(delay_scale=delay_scale, faults=faults, guests=guests)

    def to_properties(self) -> dict[str, str]:
        """Every ``vim.sim.*`` key with its effective value (for ``escadm vimmanager show``)."""
        result = {DELAY_SCALE_KEY: _format_scale(self.delay_scale)}
        for op in SimOperation:
            result[FAULT_KEY_PREFIX + op.value] = self.fault(op).value
        return result


def _parse_scale(key: str, value: str) -> float:
    try:
        scale = float(value)
    except ValueError:
        raise SimSettingsError(key, f"must be a number >= 0, not {value!r}") from None
    if not math.isfinite(scale) or scale < 0:
        raise SimSettingsError(key, f"must be a number >= 0, not {value!r}")
    return scale


def _parse_operation(key: str, operation: str) -> SimOperation:
    try:
        return SimOperation(operation)
    except ValueError:
        known = ", ".join(op.value for op in SimOperation)
        raise SimSettingsError(key, f"unknown operation {operation!r} (known: {known})") from None


def _parse_mode(key: str, value: str) -> FaultMode:
    try:
        return FaultMode(value.lower())
    except ValueError:
        raise SimSettingsError(key, f"must be error, timeout or none, not {value!r}") from None


def _format_scale(scale: float) -> str:
    return f"{scale:g}"


_FIELDS = ("ping", "cpu", "memory")
#: ``vim.sim.guest.<vm>.snmp.<oid>``: what the guest's SNMP agent answers for a numeric OID.
SNMP_FIELD = "snmp."
_SNMP_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]{0,9}))+")
_SNMP_VALUE_MAX = 255


def check_guest_setting(key: str, value: str) -> tuple[str, str, str]:
    """``(vm_name, field, value)`` of a ``vim.sim.guest.<vm>.<field>`` key; an SNMP field is ``snmp.<oid>``.

    :raises SimSettingsError: an unknown field, or a value that is not up/down (ping) or 0..100 (cpu, memory),
        an OID that is not numeric, an SNMP value longer than 255 characters.
    """
    name, snmp, oid = key[len(GUEST_KEY_PREFIX):].rpartition("." + SNMP_FIELD)
    if snmp:
        if not name or not _SNMP_OID.fullmatch(oid.lstrip(".")):
            raise SimSettingsError(key, "expected vim.sim.guest.<generated-vm-name>.snmp.<numeric-oid>")
        if len(value) > _SNMP_VALUE_MAX:
            raise SimSettingsError(key, f"an SNMP value is at most {_SNMP_VALUE_MAX} characters")
        return name, SNMP_FIELD + oid.lstrip("."), value
    name, _, field = key[len(GUEST_KEY_PREFIX):].rpartition(".")
    if not name or field not in _FIELDS:
        raise SimSettingsError(key, "expected vim.sim.guest.<generated-vm-name>.ping|cpu|memory|snmp.<oid>")
    if field == "ping":
        if value.lower() not in ("up", "down"):
            raise SimSettingsError(key, f"must be up or down, not {value!r}")
        return name, field, value.lower()
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= 100:
        raise SimSettingsError(key, f"must be a number from 0 to 100, not {value!r}")
    return name, field, value
