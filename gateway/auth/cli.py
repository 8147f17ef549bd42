"""``python -m gateway.auth apps create|list|revoke`` (also ``gateway apps ...``).

``create`` prints the new secret exactly once (stdout, nowhere else: not in the file, not
in a log); ``list`` shows everything but secrets and hashes; ``revoke`` marks an app
revoked, which a running gateway notices within seconds. To move Symbl credentials over
unchanged, ``create --app-id ID --secret-stdin`` takes the secret from standard input
(never from the command line, which other users can read in the process list).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from .app_file import FileAppRegistry
from .apps import App, AppExists, AppNotFound, new_app_id, new_app_secret, utc_now_iso
from .hashing import SecretHasher
from .principal import DEFAULT_TENANT, MAX_CONVERSATIONS_PER_TOKEN, Role, check_identifier
from .quotas import parse_rate

MIN_IMPORTED_SECRET = 16


def add_apps_commands(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """The ``apps`` sub-commands, for ``python -m gateway.auth`` and ``gateway apps``."""
    common = argparse.ArgumentParser(add_help=False)
    default_file = env.get("GATEWAY_APPS_FILE") or None
    common.add_argument("--apps-file", type=Path, default=default_file,
                        required=default_file is None,
                        help="the apps JSON file (env GATEWAY_APPS_FILE)")
    common.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)

    create = sub.add_parser("create", parents=[common], help="register an app, print its "
                            "secret once")
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--tenant", default=DEFAULT_TENANT)
    create.add_argument("--name", default="", help="a label for people")
    create.add_argument("--conversation", action="append", default=[],
                        help="a conversation id a caller app may join (repeatable)")
    create.add_argument("--app-id", help="use this appId (e.g. an existing Symbl one)")
    create.add_argument("--secret-stdin", action="store_true",
                        help="read the secret from standard input instead of generating one")
    create.add_argument("--session-limit", type=int, help="override --session-limit")
    create.add_argument("--rate-limit", help="override --rate-limit, e.g. 6000/minute")

    sub.add_parser("list", parents=[common], help="list apps (never secrets)")
    revoke = sub.add_parser("revoke", parents=[common], help="revoke an app")
    revoke.add_argument("app_id")


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway",
                                     description="Manage the apps that may get tokens.")
    groups = parser.add_subparsers(dest="group", required=True)
    add_apps_commands(groups.add_parser("apps", help="create, list, revoke apps"), env)
    return parser


def _new_app(args: argparse.Namespace, stdin: TextIO) -> tuple[App, str]:
    """The app to register and its secret; ValueError for bad arguments."""
    role = Role(args.role)
    tenant = check_identifier(args.tenant, "--tenant")
    conversations = frozenset(check_identifier(c, "--conversation") for c in args.conversation)
    if role is Role.CALLER and not conversations:
        raise ValueError("a caller app needs at least one --conversation")
    if role is not Role.CALLER and conversations:
        raise ValueError("--conversation applies to caller apps only")
    if len(conversations) > MAX_CONVERSATIONS_PER_TOKEN:
        raise ValueError(f"at most {MAX_CONVERSATIONS_PER_TOKEN} conversations")
    if args.session_limit is not None and args.session_limit < 1:
        raise ValueError("--session-limit must be at least 1")
    if args.rate_limit is not None:
        parse_rate(args.rate_limit)
    app_id = check_identifier(args.app_id, "--app-id") if args.app_id else new_app_id()
    if args.secret_stdin:
        secret = stdin.readline().rstrip("\r\n")
        if len(secret) < MIN_IMPORTED_SECRET:
            raise ValueError(f"the secret on stdin needs at least {MIN_IMPORTED_SECRET} "
                             "characters")
    else:
        secret = new_app_secret()
    app = App(app_id=app_id, secret_hash=SecretHasher().hash(secret), role=role, tenant=tenant,
              conversations=conversations, name=args.name, created=utc_now_iso(),
              session_limit=args.session_limit, rate_limit=args.rate_limit)
    return app, secret


async def _run(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    registry = FileAppRegistry.load(args.apps_file, must_exist=args.command == "list")
    if args.command == "create":
        app, secret = _new_app(args, stdin)
        await registry.add(app)
        if args.json:
            print(json.dumps({**app.public_json(), "appSecret": secret}), file=out)
        else:
            print(f"created {app.role.value} app {app.app_id} (tenant {app.tenant}) in "
                  f"{registry.path}", file=out)
            print(f"appId:     {app.app_id}", file=out)
            if not args.secret_stdin:
                print(f"appSecret: {secret}", file=out)
                print("The secret is shown only now and stored only as a hash: put it in "
                      "your backend's secret store.", file=out)
        return 0
    if args.command == "list":
        apps = await registry.list()
        if args.json:
            print(json.dumps([a.public_json() for a in apps], indent=2), file=out)
            return 0
        for a in apps:
            state = f"revoked {a.revoked}" if a.revoked else "active"
            scope = " ".join(sorted(a.conversations)) if a.conversations else "-"
            print(f"{a.app_id}  {a.role.value:<7}  tenant={a.tenant}  {state}  "
                  f"conversations={scope}  {a.name}", file=out)
        if not apps:
            print("no apps", file=out)
        return 0
    app = await registry.revoke(args.app_id)
    print(json.dumps(app.public_json()) if args.json else f"revoked app {app.app_id} at "
          f"{app.revoked}", file=out)
    return 0


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Exit status: 0 done, 1 refused (exists, unknown, bad file), 2 usage error."""
    parser = build_parser(os.environ if env is None else env)
    args = parser.parse_args(argv)
    return run_apps_command(args, stdin=stdin, out=out)


def run_apps_command(args: argparse.Namespace, *, stdin: TextIO | None = None,
                     out: TextIO | None = None) -> int:
    """Run parsed ``apps`` arguments (``gateway apps ...`` calls this after parsing)."""
    try:
        return asyncio.run(_run(args, stdin or sys.stdin, out or sys.stdout))
    except AppExists as exc:
        print(f"error: an app {exc.args[0]} already exists", file=sys.stderr)
    except AppNotFound as exc:
        print(f"error: no app {exc.args[0]}", file=sys.stderr)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1
