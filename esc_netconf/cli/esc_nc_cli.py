"""``esc_nc_cli``: ESC's NETCONF command line (CONTRACT section 5).

One command, one short session: parse and validate the arguments (refusing bad ones before anything
is sent), connect, send one ``<rpc>``, print the reply, disconnect. ``notif`` is the exception: it
keeps its session open and prints escEvents until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lxml import etree

from esc_netconf.cli.errors import CliError, UsageError
from esc_netconf.cli.nc_options import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, DEFAULT_USER, ConnectOptions
from esc_netconf.cli.nc_commands import BY_NAME, COMMANDS, Command
from esc_netconf.cli.nc_render import console_command, error_document, pretty, rpc_errors, rpc_option
from esc_netconf.cli.nc_requests import NotificationsRequest, RpcRequest

PROG = "esc_nc_cli"
USAGE = (
    f"{PROG} [--host <host>] [--port <port>] [--user <username>] "
    "[--password <password> | --privKeyFile <file path>] <command> [<args>]"
)
EPILOG = """\
Exit status: 0 done; 1 the server refused the request (the <error> document is on stdout);
2 bad arguments (nothing was sent); 3 the server could not be reached or the session failed.

Connection options (--host, --port, --user, --password or --privKeyFile, --timeout, --keep-rpc)
go before the command; `esc_nc_cli --help` describes them. Each command opens one NETCONF session
over SSH, sends one request and prints the reply. The server's host key is accepted without a
known_hosts check.
"""


def command_listing() -> str:
    """What ``esc_nc_cli help`` prints: the usage line, then one ``Title : syntax`` entry per command."""
    lines = [f"Usage: {USAGE}", "", "Commands:"]
    for command in COMMANDS:
        lines.extend(command.help_lines())
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=USAGE,
        description="ESC-compatible NETCONF command line.\n\n" + command_listing().split("\n", 2)[2],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"NETCONF server address (default {DEFAULT_HOST}); a comma-separated list "
                             "(host or host:port each) uses the first that is the active of its group")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"NETCONF SSH port (default {DEFAULT_PORT})")
    parser.add_argument("--user", default=DEFAULT_USER, help=f"user name (default {DEFAULT_USER})")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password", help="password (default admin)")
    secret.add_argument("--privKeyFile", type=Path, dest="priv_key_file", metavar="FILE",
                        help="private key file for public-key authentication")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds to wait for the connection and for each reply (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--keep-rpc", action="store_true",
                        help="keep the request file named on the netconf-console line, so that line can be rerun")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for command in COMMANDS:
        child = sub.add_parser(
            command.name,
            prog=f"{PROG} {command.name}",
            help=command.title,
            description="\n".join(command.help_lines()) + "\n\n" + textwrap.fill(command.description, 79),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=EPILOG,
        )
        command.add_arguments(child)
    return parser


def _connect_options(args: argparse.Namespace) -> ConnectOptions:
    if not 0 < args.port < 65536:
        raise UsageError(f"The port [{args.port}] must be between 1 and 65535.")
    if args.timeout <= 0:
        raise UsageError(f"The timeout [{args.timeout:g}] must be greater than 0.")
    return ConnectOptions(args.host, args.port, args.user, args.password, args.priv_key_file, args.timeout)


def _write_rpc_file(operation: etree._Element) -> Path:
    """The request as netconf-console's ``--rpc`` file (the operation without its ``<rpc>``)."""
    fd, name = tempfile.mkstemp(prefix="tmp_esc_nc_cli.", text=False)
    with os.fdopen(fd, "wb") as handle:
        handle.write(etree.tostring(operation, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return Path(name)


def run_rpc(command: Command, request: RpcRequest, options: ConnectOptions, keep_rpc: bool,
            out: TextIO, err: TextIO) -> int:
    from esc_netconf.cli.nc_client import connect_active

    operation = request.to_element()
    rpc_file = _write_rpc_file(operation)
    try:
        client, options = connect_active(options)
        header = f"{command.title}\n{console_command(options, rpc_option(rpc_file))}"
        with client:
            reply = client.call(operation)
    finally:
        if not keep_rpc:
            rpc_file.unlink(missing_ok=True)
    if rpc_errors(reply.element):
        print(header, file=err)
        print(error_document(reply.element), file=out)
        return 1
    print(header, file=out)
    print(pretty(reply.element), file=out)
    return 0


def run_notifications(command: Command, request: NotificationsRequest, options: ConnectOptions,
                      out: TextIO, err: TextIO) -> int:
    """Print each event as it arrives (flushed at once, for pipes); Ctrl-C ends it with status 0."""
    from esc_netconf.cli.nc_client import SubscriptionRefused, connect_active

    try:
        client, options = connect_active(options)
        header = f"{command.title}\n{console_command(options, f'--create-subscription={request.stream}')}"
        with client:
            try:
                client.subscribe(request.stream)
            except SubscriptionRefused as exc:
                print(header, file=err)
                print(error_document(exc.reply.element), file=out)
                return 1
            print(header, file=out, flush=True)
            for event in client.notifications():
                print(pretty(event.element), file=out, flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        print(command_listing(), file=err)
        return 2
    command = BY_NAME[args.command]
    if command.name == "help":
        print(command_listing(), file=out)
        return 0
    try:
        options = _connect_options(args)
        request = command.request(args)
        if isinstance(request, NotificationsRequest):
            return run_notifications(command, request, options, out, err)
        return run_rpc(command, request, options, args.keep_rpc, out, err)
    except CliError as exc:
        print(f"{PROG}: {exc.message}", file=err)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130


def console_main() -> None:
    """The ``esc_nc_cli`` console script."""
    # paramiko imports the optional `invoke` package (60 ms) only to run ssh_config "Match exec" lines,
    # which this client never reads; marking it absent makes every command start that much sooner.
    sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]  # typeshed: None blocks an import (documented)
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`esc_nc_cli notif | head`): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(status)


if __name__ == "__main__":
    console_main()
