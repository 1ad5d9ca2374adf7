"""``escadm``: administer a running controller (CONTRACT section 6), and back its database up.

``vimmanager show|set|restart``, ``status`` and ``ha show|switchover`` talk to the server's REST API (``--url``);
``backup`` and ``restore`` work on the data dir's database file (see :mod:`esc_netconf.cli.db_backup`).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from esc_netconf.cli.admin_client import DEFAULT_URL, AdminClient, connect_active
from esc_netconf.cli.errors import CliError, UsageError

PROG = "escadm"
DEFAULT_DATA_DIR = Path("var")
EXIT_STATUS = """\
Exit status: 0 done; 1 refused (unknown key, bad value, bad properties file, a part of the server
down, a backup that cannot be written, a restore under a running server); 2 bad arguments;
3 the server could not be reached or refused the credentials.
"""


def parse_assignments(words: Sequence[str]) -> dict[str, str]:
    """``k=v`` words to a mapping, in the order given.

    :raises UsageError: a word without ``=``, an empty key, or a key given twice.
    """
    changes: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"[{word}] is not of the form key=value.")
        if key in changes:
            raise UsageError(f"The key [{key}] is given twice.")
        changes[key] = value.strip()
    return changes


# --- commands --------------------------------------------------------------------------------------------


def vimmanager_show(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    settings = client.settings()
    print("VimManager System Configurations.", file=out)
    print(json.dumps(dict(sorted(settings.items())), indent=2), file=out)
    return 0


def vimmanager_set(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    changes = parse_assignments(args.config)
    updated = client.set_settings(changes)
    for key in changes:
        print(f"VimManager configuration [{key}] has updated to [{updated.get(key, changes[key])}].", file=out)
    return 0


def vimmanager_restart(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    # The reload is one atomic swap on the server: the old settings stay in force until the file
    # has been read and validated, so "stopping" never leaves the VIM manager without settings.
    client.reload_settings()
    print("Stopping vimmanager service: [OK]", file=out)
    print("Starting vimmanager service: [OK]", file=out)
    return 0


STATUS_PARTS = ("netconf", "rest", "vim", "store")


def format_status(report: dict[str, Any]) -> list[str]:
    """One line per part: name, OK or DOWN, then the facts the server gave (``port=830 sessions=2``)."""
    lines = []
    for part in STATUS_PARTS:
        facts = report.get(part)
        facts = facts if isinstance(facts, dict) else {"error": "not reported"}
        details = " ".join(f"{key}={value}" for key, value in facts.items() if key != "ok")
        lines.append(f"{part.upper():<8}{'OK' if facts.get('ok') is True else 'DOWN':<6}{details}".rstrip())
    return lines


def status_healthy(http_status: int, report: dict[str, Any]) -> bool:
    return http_status == 200 and all(
        isinstance(report.get(part), dict) and report[part].get("ok") is True for part in STATUS_PARTS
    )


def group_status_line(healthy: bool, report: dict[str, Any]) -> str | None:
    """ESC's own status line for a member of a group (CONTRACT section 8), or None for a lone server:
    ``ESC status=0 ESC Master Healthy`` on the active, ``... Backup Healthy`` on a standby."""
    ha = report.get("ha")
    if not isinstance(ha, dict):
        return None
    role = "Master" if ha.get("role") == "active" else "Backup"
    return f"ESC status={0 if healthy else 1} ESC {role} {'Healthy' if healthy else 'Unhealthy'}"


def status(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = client.status()
    report: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
    healthy = status_healthy(answer.status, report)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True), file=out)
    else:
        line = group_status_line(healthy, report)
        if line is not None:
            print(line, file=out)
        print("\n".join(format_status(report)), file=out)
    return 0 if healthy else 1


def _where(active: Any) -> str:
    if not isinstance(active, dict):
        return "none known at the moment (a takeover is under way)"
    return f"NETCONF {active.get('host')}:{active.get('netconf_port')}, REST http://{active.get('host')}:{active.get('rest_port')}"


def ha_show(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    view = client.ha()
    if args.json:
        print(json.dumps(view, indent=2, sort_keys=True), file=out)
    else:
        print(f"role={view.get('role')} node={view.get('node')}", file=out)
        print(f"active: {_where(view.get('active'))}", file=out)
    return 0


def ha_switchover(client: AdminClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = client.switchover(args.to)
    print(f"Switchover done: {answer.get('node')} is the active ({_where(answer.get('active'))}); "
          f"{answer.get('previous')} is a standby.", file=out)
    return 0


def backup(args: argparse.Namespace, out: TextIO) -> int:
    from esc_netconf.cli.db_backup import backup_data_dir

    result = backup_data_dir(args.data_dir, args.output)
    print(f"Backed up {args.data_dir / 'esc.db'} to {result.path} "
          f"({result.size} bytes, schema revision {result.revision}).", file=out)
    return 0


def restore(args: argparse.Namespace, out: TextIO) -> int:
    from esc_netconf.cli.db_backup import restore_data_dir

    result = restore_data_dir(args.data_dir, args.input)
    if result.previous is not None:
        print(f"Kept the previous database as {result.previous}.", file=out)
    print(f"Restored {args.input} into {result.path} (schema revision {result.revision}).", file=out)
    return 0


# --- the parser ------------------------------------------------------------------------------------------


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped paragraph by paragraph (blank lines kept), examples left as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        return "\n\n".join(
            p if p.startswith("example:") else textwrap.fill(p, min(width, 79), initial_indent=indent,
                                                             subsequent_indent=indent)
            for p in paragraphs
        )


def build_parser() -> argparse.ArgumentParser:
    raw = _HelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Administer an ESC-compatible controller: VIM manager settings, health, database backup.",
        epilog=EXIT_STATUS,
        formatter_class=raw,
    )
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"the server's REST address (default {DEFAULT_URL}; the REST URL it prints works too); "
                             "a comma-separated list uses the first that is the active of its group")
    parser.add_argument("--user", default="admin", help="admin API user (a NETCONF user; default admin)")
    parser.add_argument("--password", default="admin", help="its password (default admin)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server (default 30)")
    commands = parser.add_subparsers(dest="command", metavar="<command>", title="commands", required=True)

    vim = commands.add_parser(
        "vimmanager", help="show, change or reload the VIM manager settings",
        description="The VIM manager settings: application.properties plus runtime changes.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    vim_commands = vim.add_subparsers(dest="action", metavar="<action>", title="actions", required=True)
    show = vim_commands.add_parser(
        "show", help="print the effective settings as JSON",
        description="Print the effective settings (defaults, then application.properties, then runtime "
                    "changes) as a JSON object, after the line 'VimManager System Configurations.'.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    show.set_defaults(handler=vimmanager_show)
    set_ = vim_commands.add_parser(
        "set", help="change settings of the running server (not persisted)",
        description="Change settings of the running server; application.properties is not written, so "
                    "'vimmanager restart' (or a server restart) drops the change. Every key and value is "
                    "checked first: one unknown key or bad value refuses the whole command and changes "
                    "nothing. Prints 'VimManager configuration [key] has updated to [value].' per key.\n\n"
                    "example: escadm vimmanager set --config vim.asyncpoller.snapshot.create.poll.secs=5 "
                    "vim.asyncpoller.snapshot.create.timeout.mins=10",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    set_.add_argument("--config", nargs="+", action="extend", required=True, metavar="key=value",
                      help="one or more settings to change")
    set_.set_defaults(handler=vimmanager_set)
    restart = vim_commands.add_parser(
        "restart", help="reread application.properties, dropping runtime changes",
        description="Reread application.properties and make it the effective settings, dropping every "
                    "change made with 'set'. A file with an unknown key or a bad value is refused and the "
                    "running settings stay as they were.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    restart.set_defaults(handler=vimmanager_restart)

    health = commands.add_parser(
        "status", help="health of NETCONF, REST, the VIM and the store",
        description="One line per part of the server (NETCONF, REST, VIM, STORE): OK or DOWN and a few "
                    "facts. Exit status 0 only when every part is OK.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    health.add_argument("--json", action="store_true", help="print the server's JSON report instead")
    health.set_defaults(handler=status)

    ha = commands.add_parser(
        "ha", help="the server's group: its role, and a switchover of the active",
        description="A group of servers on one PostgreSQL database has one active and standbys (README, "
                    "'High availability').",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    ha_commands = ha.add_subparsers(dest="action", metavar="<action>", title="actions", required=True)
    ha_view = ha_commands.add_parser(
        "show", help="this server's role and where the active is",
        description="Print 'role=<active|standby> node=<name>' and the active's NETCONF and REST addresses.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    ha_view.add_argument("--json", action="store_true", help="print the server's JSON answer instead")
    ha_view.set_defaults(handler=ha_show)
    switch = ha_commands.add_parser(
        "switchover", help="hand the role of active to a standby, cleanly",
        description="Ask the active (give --url the active, or a list of the members) to hand its role to "
                    "a standby: it stops acting, its work in flight (deployments, recoveries, snapshots, "
                    "callbacks) is left in the shared database for the new active, which resumes it; the old "
                    "active stays up as a standby. Answers once the new active took the role. Refused, and "
                    "the active keeps serving, when no standby is connected; a standby refuses it naming "
                    "the active.\n\n"
                    "example: escadm --url http://a:8080,http://b:8080 ha switchover",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    switch.add_argument("--to", metavar="NODE", help="the standby to hand over to (a node name, as "
                                                     "'escadm ha show' prints it; default: any connected)")
    switch.set_defaults(handler=ha_switchover)

    back = commands.add_parser(
        "backup", help="copy the controller's database, safely while it runs",
        description="Write a consistent copy of <data-dir>/esc.db to OUTPUT while the server keeps running "
                    "(SQLite's online backup: everything committed before the backup began is in the copy, "
                    "nothing half-written is). OUTPUT is written under a temporary name and renamed into "
                    "place. The simulated VIM's state is not included, as a real cloud is not.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    back.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the server's data dir (default ./var)")
    back.add_argument("--output", "-o", type=Path, required=True, help="file to write the copy to")
    back.set_defaults(local=backup)

    rest = commands.add_parser(
        "restore", help="make a backup the database of a stopped server's data dir",
        description="Make INPUT (a file written by 'escadm backup') the database of <data-dir>, which may be "
                    "new. Refused while any process (a running server) has that database open: stop the "
                    "server first, then start it again after the restore. The database being replaced is "
                    "kept beside it as esc.db.before-restore-<time>. A backup from an older release is "
                    "migrated when the server starts; one from a newer release is refused.",
        epilog=EXIT_STATUS, formatter_class=raw,
    )
    rest.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the data dir (default ./var)")
    rest.add_argument("--input", "-i", type=Path, required=True, help="the backup file")
    rest.set_defaults(local=restore)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        local = getattr(args, "local", None)
        if local is not None:
            return int(local(args, out))
        if args.timeout <= 0:
            raise UsageError(f"The timeout [{args.timeout:g}] must be greater than 0.")
        client = connect_active(args.url, args.user, args.password, args.timeout)
        return int(args.handler(client, args, out))
    except CliError as exc:
        print(f"{PROG}: {exc.message}", file=err)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130


def console_main() -> None:
    """The ``escadm`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
