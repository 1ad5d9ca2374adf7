"""``esc-netconf serve``: the daemon (CONTRACT section 1).

Ready when both ports accept connections; it then prints one line per listener (with the real port when
0 was asked for). SIGTERM and SIGINT shut it down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import resource
import signal
import sys
from pathlib import Path

from esc_netconf.errors import EscError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esc-netconf", description="ESC-compatible NETCONF/REST server.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server in the foreground")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--netconf-port", type=int, default=830, help="NETCONF over SSH port (default 830; 0 = any)")
    serve.add_argument("--rest-port", type=int, default=8080, help="REST port (default 8080; 0 = any)")
    serve.add_argument("--data-dir", type=Path, default=Path("var"), help="state directory (default ./var)")
    serve.add_argument("--export-dir", type=Path,
                       help="directory EXPORT may write to; destinations outside it are refused "
                            "(default <data-dir>/exports)")
    serve.add_argument("--vim", choices=("sim", "openstack"), default="sim", help="VIM driver (default sim)")
    serve.add_argument("--os-cloud", help="clouds.yaml entry for the openstack driver")
    serve.add_argument("--properties", type=Path, help="application.properties (VIM manager settings)")
    serve.add_argument("--config", type=Path,
                       help="TOML file with [[users]] (password hashes, authorized keys) and [limits] (see README)")
    serve.add_argument("--yang-dir", type=Path,
                       help="directory of the application's YANG modules (default: the shipped esc.yang); "
                            "the standard IETF modules always come from the package")
    serve.add_argument("--monitor-interval", type=float, help="seconds between monitoring polls (overrides vim.monitor.poll.secs)")
    serve.add_argument("--database",
                       help="database URL (default sqlite in the data dir); every server started with the same "
                            "postgresql://user@host:port/db joins one active/standby group")
    serve.add_argument("--ha-takeover-secs", type=_positive_float, default=5.0,
                       help="a standby takes over within this many seconds of the active's death (default 5)")
    serve.add_argument("--sim-dir", type=Path,
                       help="state of the simulated cloud (--vim sim; default <data-dir>/sim); the servers "
                            "of a group are given the same one")
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


async def _serve(args: argparse.Namespace) -> int:
    from esc_netconf.app import Application, Options
    from esc_netconf.limits import EdgeLimits

    options = Options(
        host=args.host,
        netconf_port=args.netconf_port,
        rest_port=args.rest_port,
        data_dir=args.data_dir,
        export_dir=args.export_dir,
        vim=args.vim,
        os_cloud=args.os_cloud,
        properties=args.properties,
        config=args.config,
        yang_dir=args.yang_dir,
        monitor_interval=args.monitor_interval,
        limits=EdgeLimits.from_toml(args.config),
        database=args.database,
        ha_takeover_secs=args.ha_takeover_secs,
        sim_dir=args.sim_dir,
    )
    app = Application(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await app.start()
    except BaseException:
        await app.stop()
        raise
    print(f"NETCONF listening on {args.host}:{app.netconf_port} (ssh -s netconf, user admin)", flush=True)
    print(f"REST listening on http://{args.host}:{app.rest_port}/ESCManager/v0", flush=True)
    if app.member is not None:
        print(f"Group member {app.member.node}: {app.role} (database {app.db.url})", flush=True)
    print(
        f"Try: netconf-console2 --host {args.host} --port {app.netconf_port} -u admin -p admin --hello\n"
        f"     esc_nc_cli --port {app.netconf_port} get-config\n"
        f"     curl http://{args.host}:{app.rest_port}/ESCManager/v0/deployments",
        flush=True,
    )
    stopped = asyncio.create_task(stop.wait())
    fenced = asyncio.create_task(app.fenced.wait())
    await asyncio.wait((stopped, fenced), return_when=asyncio.FIRST_COMPLETED)
    for waiter in (stopped, fenced):
        waiter.cancel()
    if app.fenced.is_set():
        await app.stop()
        return _fail(f"{app.fenced_reason}; stopped (restart it to rejoin its group as a standby)")
    print("Shutting down.", flush=True)
    await app.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        for noisy in ("alembic", "paramiko"):  # their INFO lines repeat what our own log says
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # a malformed HTTP request is the client's problem: aiohttp logs it with a traceback at ERROR
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    raise_open_file_limit()
    try:
        return asyncio.run(_serve(args))
    except OSError as exc:
        explained = explain_bind_error(exc)
        if explained is None:
            raise
        return _fail(explained)
    except EscError as exc:
        return _fail(str(exc))


def raise_open_file_limit(wanted: int = 65536) -> None:
    """Lift the soft limit on open files towards the hard one: every connection is a descriptor, and at
    the usual soft limit of 1,024 a crowd of idle sockets would make ``accept`` fail for everyone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            logging.getLogger("esc_netconf").warning("Could not raise the open-file limit above %d", soft)


def explain_bind_error(exc: OSError) -> str | None:
    """One line an operator can act on, for the bind errors ``make run`` meets; None for others."""
    hint = "make run NETCONF_PORT=2830 REST_PORT=8081"
    if exc.errno == errno.EACCES:
        return f"Cannot bind a port below 1024 without root ({exc}); use other ports: {hint}"
    if exc.errno == errno.EADDRINUSE:
        return f"A port is already in use ({exc}); stop the other server or use other ports: {hint}"
    return None


def _fail(message: str) -> int:
    print(f"esc-netconf: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
