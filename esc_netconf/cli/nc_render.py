"""What ``esc_nc_cli`` prints, as the original prints it (pure functions, tested without a server).

Success (stdout)::

    VM Backup Action
    netconf-console2 --port=830 --host=127.0.0.1 --user=admin --rpc=/tmp/tmp_esc_nc_cli.c8d9kAjcGf
    <?xml version="1.0" encoding="UTF-8"?>
    <rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1">
      <ok/>
    </rpc-reply>

The second line is the ``netconf-console`` command that sends the same request (ESC's script runs
exactly that); with ``--keep-rpc`` the file stays, so the line can be rerun. A refusal prints only the
ESC error document on stdout, so a script can parse it whole::

    <?xml version="1.0" encoding="UTF-8"?>
    <error xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
      <error_code>404</error_code>
      <error_message>Snapshot image [my-snapshot-name-1] not found.</error_message>
    </error>

``error_code`` is the server's own (``error-info/error_code``); an error without one (a YANG validation
failure, a protocol error) gets the HTTP-style code its ``error-tag`` implies.
"""

from __future__ import annotations

import copy
import shlex
from pathlib import Path

from lxml import etree

from esc_netconf.cli.nc_options import ConnectOptions
from esc_netconf.nsmap import default_namespace

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
NETCONF_CONSOLE = "netconf-console2"

# RFC 6241 error-tag -> the HTTP-style code ESC reports (400 bad input, 404 missing, 409 conflict).
_TAG_CODES = {
    "invalid-value": 400,
    "too-big": 400,
    "missing-attribute": 400,
    "bad-attribute": 400,
    "unknown-attribute": 400,
    "missing-element": 400,
    "bad-element": 400,
    "unknown-element": 400,
    "unknown-namespace": 400,
    "malformed-message": 400,
    "access-denied": 403,
    "data-missing": 404,
    "in-use": 409,
    "lock-denied": 409,
    "data-exists": 409,
    "resource-denied": 409,
    "operation-not-supported": 501,
}


def _base(name: str) -> str:
    return f"{{{BASE_NS}}}{name}"


def _strip_whitespace(element: etree._Element) -> None:
    """Drop indentation-only text so lxml can re-indent; leaf text that has content is kept as it is."""
    for node in element.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None


def pretty(element: etree._Element) -> str:
    """The XML declaration and ``element`` indented by two spaces, as netconf-console prints replies."""
    tree = copy.deepcopy(element)
    _strip_whitespace(tree)
    etree.indent(tree, space="  ")
    body = etree.tostring(tree, encoding="unicode")
    return f"{XML_DECLARATION}\n{body}"


def console_command(options: ConnectOptions, operation_option: str) -> str:
    """The netconf-console command line sending the same request (password never shown)."""
    words = [NETCONF_CONSOLE, f"--port={options.port}", f"--host={options.host}", f"--user={options.user}"]
    if options.priv_key_file is not None:
        words.append(f"--privKeyFile={options.priv_key_file}")
    words.append(operation_option)
    return " ".join(shlex.quote(word) for word in words)


def rpc_option(path: Path) -> str:
    return f"--rpc={path}"


def rpc_errors(reply: etree._Element) -> list[etree._Element]:
    return list(reply.iter(_base("rpc-error")))


def _error_code(error: etree._Element) -> str:
    info = error.find(_base("error-info"))
    if info is not None:
        for child in info.iter():
            if isinstance(child.tag, str) and etree.QName(child).localname == "error_code" and child.text:
                return child.text.strip()
    tag = (error.findtext(_base("error-tag")) or "").strip()
    return str(_TAG_CODES.get(tag, 500))


def _error_message(error: etree._Element) -> str:
    message = (error.findtext(_base("error-message")) or "").strip()
    if message:
        return message
    tag = (error.findtext(_base("error-tag")) or "operation-failed").strip()
    path = (error.findtext(_base("error-path")) or "").strip()
    return f"{tag} at {path}" if path else tag


def error_document(reply: etree._Element) -> str:
    """ESC's ``<error>`` document for a reply holding ``<rpc-error>``s.

    The code is the first error's; the messages of all errors are joined (a validation that found
    several problems reports each of them).
    """
    errors = rpc_errors(reply)
    document = etree.Element(_base("error"), nsmap=default_namespace(BASE_NS))
    etree.SubElement(document, _base("error_code")).text = _error_code(errors[0]) if errors else "500"
    messages = [_error_message(error) for error in errors] or ["The server answered with an error."]
    etree.SubElement(document, _base("error_message")).text = " ".join(messages)
    return pretty(document)
