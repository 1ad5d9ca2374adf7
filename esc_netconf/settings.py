"""VIM manager settings: ``application.properties`` plus runtime overrides.

ESC operators tune the VIM manager's pollers in ``application.properties`` and change them on a running
system with ``escadm vimmanager set``; a restart of the VIM manager rereads the file and drops the runtime
changes. This module is that behaviour and nothing else: a typed table of known keys with their defaults,
a parser that refuses unknown keys and bad values naming the key, and a live view that the pollers read
on every cycle (so a change applies to the next poll, never to a sleep already started).

The file format is Java-properties-like: ``key=value`` (or ``key: value``) per line, ``#``/``!``
comments, blank lines ignored. Continuation lines and escapes are not supported and are refused.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from esc_netconf.errors import EscError
from esc_netconf.vim.sim.settings import GUEST_KEY_PREFIX, SimSettings, SimSettingsError

T = TypeVar("T")


class SettingsError(EscError):
    """A key or value that the VIM manager does not accept; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _positive_number(key: str, raw: str) -> str:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(key, f"VimManager configuration [{key}] must be a number, not [{raw}].") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(key, f"VimManager configuration [{key}] must be greater than 0, not [{raw}].")
    return raw


def _simulated_vim(key: str, raw: str) -> str:
    """The simulated cloud owns the meaning of its keys; its parser is the one check."""
    try:
        SimSettings.from_properties({key: raw})
    except SimSettingsError as exc:
        raise SettingsError(key, f"VimManager configuration [{key}] {exc.message}.") from None
    return raw


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One known key: its default (as the file spells it) and the check its values must pass."""

    default: str
    check: Callable[[str, str], str]
    description: str


def _common_specs() -> dict[str, SettingSpec]:
    specs: dict[str, SettingSpec] = {}
    for op, what, timeout in (
        ("snapshot.create", "create snapshot", "20"),
        ("snapshot.export", "export (of a volume-backed snapshot)", "60"),
        ("snapshot.delete", "delete snapshot", "20"),
        ("volume.create", "create volume", "20"),
    ):
        specs[f"vim.asyncpoller.{op}.poll.secs"] = SettingSpec(
            "15", _positive_number, f"seconds between polls of the VIM during a {what} operation"
        )
        specs[f"vim.asyncpoller.{op}.timeout.mins"] = SettingSpec(
            timeout, _positive_number, f"minutes a {what} operation may take before it fails"
        )
    specs["day0.fetch.max.bytes"] = SettingSpec(
        "1048576", _positive_number, "largest day-0 template (config_data file URL) fetched, in bytes"
    )
    specs["day0.fetch.timeout.secs"] = SettingSpec(
        "30", _positive_number, "seconds fetching one day-0 template may take before the VM's deployment fails"
    )
    specs["vim.monitor.poll.secs"] = SettingSpec(
        "15", _positive_number, "seconds between the monitor's listings of each project's servers"
    )
    return specs


def _sim_specs() -> dict[str, SettingSpec]:
    return {key: SettingSpec(default, _simulated_vim, "simulated VIM: step delay factor or injected fault")
            for key, default in SimSettings().to_properties().items()}


COMMON_SPECS: Mapping[str, SettingSpec] = _common_specs()
"""The keys every VIM driver reads (the pollers and the monitor)."""

DRIVER_SPECS: Mapping[str, Mapping[str, SettingSpec]] = {"sim": _sim_specs(), "openstack": {}}
"""The keys only one driver reads: a server shows and accepts those of the driver it runs, no others."""


def specs_for(vim: str) -> dict[str, SettingSpec]:
    """Every key the server running the VIM driver ``vim`` knows."""
    return {**COMMON_SPECS, **DRIVER_SPECS.get(vim, {})}


def validate(key: str, raw: str, vim: str = "sim") -> str:
    """Return the value as it will be stored, or raise SettingsError naming the key."""
    spec = specs_for(vim).get(key)
    if spec is None and vim == "sim" and key.startswith(GUEST_KEY_PREFIX):
        return _simulated_vim(key, raw.strip())  # one key per simulated guest: not listed, checked alike
    if spec is None:
        other = next((name for name, specs in DRIVER_SPECS.items() if key in specs), None)
        if other is not None:
            raise SettingsError(key, f"VimManager configuration [{key}] applies to the {other} VIM only; "
                                     f"this server runs --vim {vim}.")
        raise SettingsError(key, f"VimManager configuration [{key}] is not a known key.")
    return spec.check(key, raw.strip())


def parse_properties(text: str, source: str = "application.properties", vim: str = "sim") -> dict[str, str]:
    """Parse and validate a properties document; the first bad line refuses the whole file."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#!":
            continue
        sep = min((i for i in (stripped.find("="), stripped.find(":")) if i > 0), default=-1)
        if sep < 0:
            raise SettingsError("", f"{source}:{number}: expected key=value, found [{stripped}].")
        key, raw = stripped[:sep].strip(), stripped[sep + 1 :].strip()
        if raw.endswith("\\"):
            raise SettingsError(key, f"{source}:{number}: continuation lines are not supported.")
        try:
            values[key] = validate(key, raw, vim)
        except SettingsError as exc:
            raise SettingsError(key, f"{source}:{number}: {exc}") from None
    return values


class VimManagerSettings:
    """The effective settings: defaults, then the file, then runtime changes (lost on reload).

    Readers on any thread call ``get``/``number``; writers (``set_many``, ``reload``) swap a whole new
    mapping under a lock, so a reader never sees half of a multi-key change.
    """

    def __init__(self, path: Path | None, vim: str = "sim") -> None:
        """``vim`` is the server's VIM driver: its own keys are known, another driver's are refused."""
        self._path = path
        self._vim = vim
        self._lock = threading.Lock()
        self._values: dict[str, str] = self._read_file()
        self._listeners: list[Callable[[Mapping[str, str]], None]] = []

    @property
    def path(self) -> Path | None:
        return self._path

    def _read_file(self) -> dict[str, str]:
        values = {key: spec.default for key, spec in specs_for(self._vim).items()}
        if self._path is not None and self._path.exists():
            values.update(parse_properties(self._path.read_text(encoding="utf-8"), str(self._path), self._vim))
        return values

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)

    def derived(self, build: Callable[[Mapping[str, str]], T]) -> Callable[[], T]:
        """A reader of ``build(settings)`` that builds again only once the settings changed.

        Why: the simulated cloud reads its own settings at every request (so a change through ``escadm``
        applies at once), and parsing them each time was 10% of the sim's thread during a bulk deploy, time
        the event loop waited for the GIL.  The mapping is swapped whole on a change, never changed in
        place, so its identity tells whether it changed.  ``build`` must not change the mapping.
        """
        cached: tuple[Mapping[str, str], T] | None = None

        def current() -> T:
            nonlocal cached
            values = self._values
            if cached is None or cached[0] is not values:
                cached = (values, build(values))
            return cached[1]

        return current

    def get(self, key: str) -> str:
        with self._lock:
            return self._values[key]

    def number(self, key: str) -> float:
        return float(self.get(key))

    def set_many(self, changes: Mapping[str, str]) -> dict[str, str]:
        """Validate every change first; apply all or none. Returns the stored values."""
        checked = {key: validate(key, raw, self._vim) for key, raw in changes.items()}
        with self._lock:
            self._values = {**self._values, **checked}
            current = dict(self._values)
        self._notify(current)
        return checked

    def reload(self) -> None:
        """Reread the file, dropping runtime changes (``escadm vimmanager restart``)."""
        fresh = self._read_file()
        with self._lock:
            self._values = fresh
        self._notify(dict(fresh))

    def add_listener(self, fn: Callable[[Mapping[str, str]], None]) -> None:
        self._listeners.append(fn)

    def _notify(self, values: Mapping[str, str]) -> None:
        for fn in self._listeners:
            fn(values)
