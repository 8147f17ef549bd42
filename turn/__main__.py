"""Command line for the TURN side of the gateway.

    python -m turn serve --dev                 # loopback coturn for development (foreground)
    python -m turn serve --realm turn.example.org --secret ... --cert ... --pkey ...
    python -m turn render --realm ... --secret ... > /etc/turnserver.conf
    python -m turn credentials --secret S --user alice --ttl 600
    python -m turn check --url turn:turn.example.org:3478 --secret S
    python -m turn selftest --url turn:turn.example.org:3478 --secret S --relay

The secret may come from ``GATEWAY_TURN_SECRET`` instead of ``--secret`` so it stays out of the
process list and shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

from .coturn import run_foreground
from .coturn_binary import turnserver_binary
from .coturn_config import CoturnConfig, dev_config, render_config
from .credentials import rest_credential
from .diagnosis import TurnCheckError
from .ice import DEFAULT_TURN_TTL, ENV_TURN_SECRET
from .probe import check_turn


def _secret(args: argparse.Namespace, required: bool = True) -> str | None:
    value = args.secret or os.environ.get(ENV_TURN_SECRET)
    if not value and required:
        raise SystemExit(f"error: pass --secret or set {ENV_TURN_SECRET}")
    return value or None


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=3478, help="STUN/TURN port (UDP and TCP)")
    parser.add_argument("--secret", help=f"static-auth-secret [{ENV_TURN_SECRET}]")
    parser.add_argument("--realm", default="gateway.test", help="TURN realm, e.g. your domain")
    parser.add_argument("--tls-port", type=int, default=5349, help="TURN over TLS (5349 or 443)")
    parser.add_argument("--cert", help="TLS certificate chain (PEM)")
    parser.add_argument("--pkey", help="TLS private key (PEM)")
    parser.add_argument("--listening-ip", action="append", default=[], metavar="IP")
    parser.add_argument("--relay-ip", action="append", default=[], metavar="IP")
    parser.add_argument("--external-ip", help="public[/private] address when behind NAT")
    parser.add_argument("--min-port", type=int, default=49152, help="relay port range start")
    parser.add_argument("--max-port", type=int, default=65535, help="relay port range end")
    parser.add_argument(
        "--allowed-peer-ip",
        action="append",
        default=[],
        metavar="IP",
        help="private address the relay may reach anyway (e.g. the gateway's)",
    )
    parser.add_argument("--no-prometheus", action="store_true", help="omit the exporter")


def _production_config(args: argparse.Namespace, secret: str) -> CoturnConfig:
    return CoturnConfig(
        secret=secret,
        realm=args.realm,
        listening_port=args.port,
        tls_listening_port=args.tls_port,
        listening_ips=tuple(args.listening_ip),
        relay_ips=tuple(args.relay_ip),
        external_ip=args.external_ip,
        cert_file=args.cert,
        pkey_file=args.pkey,
        min_port=args.min_port,
        max_port=args.max_port,
        allowed_peers=tuple(args.allowed_peer_ip),
        prometheus=not args.no_prometheus,
    )


def _serve(args: argparse.Namespace) -> int:
    binary = turnserver_binary()
    if binary is None:
        print("error: coturn is not installed (apt-get install coturn)", file=sys.stderr)
        return 2
    secret = _secret(args, required=not args.dev)
    if secret is None:
        secret = secrets.token_urlsafe(24)
        print(f"dev secret (pass to the gateway as --turn-secret): {secret}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="coturn-") as workdir:
        config_path = Path(workdir) / "turnserver.conf"
        command = [binary, "-c", str(config_path)]
        if args.dev:
            config = dev_config(
                secret,
                args.realm,
                args.port,
                pidfile=str(Path(workdir) / "turnserver.pid"),
                userdb=str(Path(workdir) / "turndb"),
            )
            # Loopback peers only for development: never part of the rendered template.
            command.append("--allow-loopback-peers")
            print(
                f"coturn (dev) on turn:127.0.0.1:{args.port}?transport=udp and ?transport=tcp, "
                f"realm {args.realm}",
                file=sys.stderr,
            )
        else:
            config = _production_config(args, secret)
        config_path.write_text(render_config(config))
        config_path.chmod(0o600)
        return run_foreground(command)


def _render(args: argparse.Namespace) -> int:
    secret = _secret(args)
    assert secret is not None
    sys.stdout.write(render_config(_production_config(args, secret)))
    return 0


def _credentials(args: argparse.Namespace) -> int:
    secret = _secret(args)
    assert secret is not None
    credential = rest_credential(secret, args.user, args.ttl)
    print(
        json.dumps(
            {
                "username": credential.username,
                "password": credential.password,
                "expires_at": credential.expires_at,
                "ttl": args.ttl,
            }
        )
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    secret = _secret(args)
    assert secret is not None
    credential = rest_credential(secret, args.user, 60)
    try:
        seconds = asyncio.run(
            check_turn(args.url, credential.username, credential.password, args.timeout)
        )
    except TurnCheckError as error:
        print(json.dumps({"url": args.url, "ok": False, "reason": error.reason}))
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"url": args.url, "ok": True, "allocate_seconds": round(seconds, 4)}))
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from .ice import IceSettings, gateway_rtc_configuration
    from .selftest import PairError, connect_pair

    secret = _secret(args)
    assert secret is not None
    settings = IceSettings(
        turn_urls=(args.url,),
        turn_secret=secret,
        transport_policy="relay" if args.relay else "all",
    )
    settings.validate()
    try:
        result = asyncio.run(
            connect_pair(
                gateway_rtc_configuration(settings, "selftest-offerer"),
                gateway_rtc_configuration(settings, "selftest-answerer"),
                limit=args.timeout,
            )
        )
    except PairError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"url": args.url, "ok": True, **result.as_dict()}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m turn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run coturn in the foreground")
    _add_server_options(serve)
    serve.add_argument(
        "--dev",
        action="store_true",
        help="loopback only, no TLS, loopback peers allowed; a random secret if none is given",
    )
    serve.set_defaults(func=_serve)

    render = commands.add_parser("render", help="print a production turnserver.conf")
    _add_server_options(render)
    render.set_defaults(func=_render)

    creds = commands.add_parser("credentials", help="print a TURN REST credential as JSON")
    creds.add_argument("--secret", help=f"static-auth-secret [{ENV_TURN_SECRET}]")
    creds.add_argument("--user", default="user", help="label for coturn's logs and quotas")
    creds.add_argument("--ttl", type=int, default=DEFAULT_TURN_TTL, help="seconds until expiry")
    creds.set_defaults(func=_credentials)

    check = commands.add_parser("check", help="allocate on a TURN server and report the result")
    check.add_argument("--url", required=True, help="e.g. turn:turn.example.org:3478")
    check.add_argument("--secret", help=f"static-auth-secret [{ENV_TURN_SECRET}]")
    check.add_argument("--user", default="check")
    check.add_argument("--timeout", type=float, default=3.0)
    check.set_defaults(func=_check)

    selftest = commands.add_parser(
        "selftest", help="connect two local aiortc peers through the TURN server and time it"
    )
    selftest.add_argument("--url", required=True)
    selftest.add_argument("--secret", help=f"static-auth-secret [{ENV_TURN_SECRET}]")
    selftest.add_argument("--relay", action="store_true", help="relay-only (forces TURN)")
    selftest.add_argument("--timeout", type=float, default=15.0)
    selftest.set_defaults(func=_selftest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
