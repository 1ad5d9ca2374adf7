"""libyang's ``yanglint`` (Debian ``libyang2-tools``) as an independent judge of what the server sends.

The schema context is built only from what the server itself announces and serves, as a libyang-based
client (libnetconf2) builds it: the modules of the hello's capabilities (with their ``features=``), plus
those of ietf-yang-library when the server announces it (RFC 7950 section 5.6.4), each fetched with
get-schema (RFC 6022). Nothing is read from the repository's ``yang/``.

The yanglint 2.1 command line takes one message per run:

- every rpc-reply: ``-t nc-reply -R <the rpc it answers>`` (the request must parse in the served modules, then
  the reply's envelope, output and rpc-error are checked);
- a ``<get>`` / ``<get-config>`` reply also: the children of ``<data>`` as a ``-t get`` / ``-t getconfig`` tree
  (ietf-netconf declares ``<data>`` anyxml, so the envelope check alone would not look inside);
- a notification: ``-t nc-notif`` (envelope with eventTime and the notification), with ``-O`` the datastore
  its instance-identifiers point into, when it has any.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from lxml import etree

from tests.conformance.journal import BASE, Message
from tests.integration.raw_client import RawNetconf

MONITORING = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
YANG_LIBRARY = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
YANG_LIBRARY_CAPABILITY = "urn:ietf:params:netconf:capability:yang-library:"
PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def yanglint_path() -> str | None:
    return shutil.which("yanglint")


@dataclass(frozen=True)
class Rejection:
    message: Message
    error: str

    def __str__(self) -> str:
        return f"{self.message.label}: {self.error}\n    {self.message.xml.decode()[:600]}"


@dataclass
class ModuleEntry:
    name: str
    revision: str
    features: set[str] = field(default_factory=set)
    implemented: bool = True
    submodules: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SchemaSet:
    """The modules a server serves, fetched into ``directory`` as ``name@revision.yang``."""

    directory: Path
    modules: dict[str, ModuleEntry]
    files: dict[str, Path]

    def arguments(self) -> list[str]:
        """yanglint arguments: search only ``directory``, the served features, every implemented module."""
        args = ["-D", "-p", str(self.directory)]
        for entry in sorted(self.modules.values(), key=lambda e: e.name):
            if entry.implemented:
                args += ["-F", f"{entry.name}:{','.join(sorted(entry.features))}"]
        args += [str(self.files[name]) for name, e in sorted(self.modules.items()) if e.implemented]
        return args


def announced_modules(capabilities: Iterable[str]) -> tuple[dict[str, ModuleEntry], bool]:
    """The hello's YANG modules (RFC 6020 section 5.6.4 form) and whether ietf-yang-library is announced."""
    modules: dict[str, ModuleEntry] = {}
    has_library = False
    for capability in capabilities:
        uri, _, query = capability.partition("?")
        if uri.startswith(YANG_LIBRARY_CAPABILITY):
            has_library = True
        params = parse_qs(query)
        if "module" in params:
            name = params["module"][0]
            features = {f for value in params.get("features", []) for f in value.split(",") if f}
            modules[name] = ModuleEntry(name, params.get("revision", [""])[0], features)
    return modules, has_library


def library_modules(nc: RawNetconf) -> dict[str, ModuleEntry]:
    """The modules of ietf-yang-library, from ``/modules-state`` (RFC 7895) or ``/yang-library`` (RFC 8525)."""
    reply = nc.call(f'<get xmlns="{BASE}"><filter type="subtree"><modules-state xmlns="{YANG_LIBRARY}"/>'
                    f'<yang-library xmlns="{YANG_LIBRARY}"/></filter></get>'.encode())
    ns = {"y": YANG_LIBRARY}
    modules: dict[str, ModuleEntry] = {}

    def add(row: etree._Element, implemented: bool) -> None:
        entry = ModuleEntry(
            row.findtext("y:name", namespaces=ns) or "",
            row.findtext("y:revision", namespaces=ns) or "",
            {f.text or "" for f in row.findall("y:feature", namespaces=ns)},
            implemented,
            [(s.findtext("y:name", namespaces=ns) or "", s.findtext("y:revision", namespaces=ns) or "")
             for s in row.findall("y:submodule", namespaces=ns)],
        )
        modules[entry.name] = entry

    for row in reply.element.iterfind(".//y:modules-state/y:module", namespaces=ns):
        add(row, row.findtext("y:conformance-type", namespaces=ns) != "import")
    for row in reply.element.iterfind(".//y:yang-library/y:module-set/y:module", namespaces=ns):
        add(row, True)
    for row in reply.element.iterfind(".//y:yang-library/y:module-set/y:import-only-module", namespaces=ns):
        add(row, False)
    return modules


def fetch_schema(nc: RawNetconf, directory: Path, name: str, revision: str) -> Path:
    version = f"<version>{revision}</version>" if revision else ""
    reply = nc.call(
        f'<get-schema xmlns="{MONITORING}"><identifier>{name}</identifier>{version}<format>yang</format></get-schema>'.encode()
    )
    text = reply.element.findtext(f"{{{MONITORING}}}data")
    assert text, f"get-schema {name}@{revision} answered no text: {etree.tostring(reply.element)!r}"
    path = directory / (f"{name}@{revision}.yang" if revision else f"{name}.yang")
    path.write_text(text)
    return path


def fetch_schema_set(nc: RawNetconf, directory: Path) -> SchemaSet:
    """Every module the server announces (hello, then ietf-yang-library), fetched with get-schema."""
    modules, has_library = announced_modules(nc.hello.capabilities)
    if has_library:
        for name, entry in library_modules(nc).items():
            known = modules.get(name)
            if known is not None:
                entry.features |= known.features
            modules[name] = entry
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for entry in modules.values():
        files[entry.name] = fetch_schema(nc, directory, entry.name, entry.revision)
        for sub, revision in entry.submodules:
            fetch_schema(nc, directory, sub, revision)
    return SchemaSet(directory, modules, files)


class Yanglint:
    def __init__(self, schemas: SchemaSet, work: Path, executable: str) -> None:
        self.schemas, self.work, self.executable = schemas, work, executable
        work.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def _file(self, suffix: str, content: bytes) -> Path:
        self._count += 1
        path = self.work / f"{self._count:04d}-{suffix}.xml"
        path.write_bytes(content)
        return path

    def run(self, *args: str) -> str | None:
        """None when yanglint accepts; otherwise its complaint."""
        done = subprocess.run([self.executable, *self.schemas.arguments(), *args],
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0 and "err" not in done.stderr.lower():
            return None
        return " ".join((done.stderr + done.stdout).split()) or f"exit code {done.returncode}"

    def check_schemas(self) -> str | None:
        """The served modules compile together (with the announced features)."""
        return self.run()

    def check(self, message: Message, operational: bytes | None = None) -> str | None:
        if message.request is None:
            args = ["-t", "nc-notif"]
            if operational is not None:
                args += ["-O", str(self._file("operational", operational))]
            return self.run(*args, str(self._file("notif", message.xml)))
        kind = {(BASE, "get"): "get", (BASE, "get-config"): "getconfig"}.get(
            (message.operation.namespace or "", message.operation.localname))
        rpc = self._file("rpc", message.request)
        envelope = self.run("-t", "nc-reply", "-R", str(rpc), str(self._file("reply", message.xml)))
        data = etree.fromstring(message.xml, PARSER).find(f"{{{BASE}}}data")
        if envelope is not None or kind is None or data is None:
            return envelope
        content = b"".join(etree.tostring(child) for child in data.iterchildren(tag=etree.Element))
        if not content:
            return None  # an empty <data/> is an empty tree: nothing more to judge (yanglint refuses empty files)
        return self.run("-t", kind, str(self._file(kind, content)))
