"""Access-control settings and their flags (flag, then ``GATEWAY_*`` variable, then default).

The gateway's parser gets these through :func:`add_auth_arguments`; the values come back
as an :class:`AuthConfig` through :func:`auth_config_from_args`. Bad values stop the
gateway at once (argparse error, exit status 2) naming the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gateway.envvars import env_value

from .origin import normalize_origin
from .quotas import parse_rate

# Symbl's JS SDK refreshes a token 300 s before it expires, at once when that moment has
# passed: with a lifetime near 300 s it would ask for a new token in a tight loop. Its Web
# SDK also refuses a given token with under 60 s left. 600 s keeps both sane.
MIN_TOKEN_TTL = 600
MAX_TOKEN_TTL = 86_400  # Symbl's own default lifetime
DEFAULT_KEY_NAME = "jwt-signing.key"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``apps_file`` None is open mode: no access control, as before issue 12."""

    apps_file: Path | None = None
    jwt_key_file: Path | None = None
    token_ttl: int = 3600
    allowed_origins: tuple[str, ...] = ()
    session_limit: int = 10
    rate_limit: str = "300/minute"
    auth_failure_limit: str = "10/minute"
    limits_storage: str | None = None  # "async+redis://..." for several nodes (later)
    reload_interval: float = 2.0

    @property
    def open(self) -> bool:
        return self.apps_file is None

    def key_path(self) -> Path | None:
        """The signing key file: the flag, else beside the apps file; None in open mode."""
        if self.jwt_key_file is not None:
            return self.jwt_key_file
        if self.apps_file is not None:
            return self.apps_file.expanduser().resolve().parent / DEFAULT_KEY_NAME
        return None


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of seconds") from None
    if not MIN_TOKEN_TTL <= value <= MAX_TOKEN_TTL:
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_TOKEN_TTL} and {MAX_TOKEN_TTL} seconds")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _rate(text: str) -> str:
    try:
        parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _origin(text: str) -> str:
    try:
        return normalize_origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_auth_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    d = AuthConfig()
    g = parser.add_argument_group("access control (docs/access-control.md)")
    g.add_argument("--apps-file", type=Path, default=env.get("GATEWAY_APPS_FILE") or None,
                   help="JSON file of apps (made with 'gateway apps create'); without it the "
                   "gateway is open to anyone who can reach it (env GATEWAY_APPS_FILE)")
    g.add_argument("--jwt-key-file", type=Path, default=env.get("GATEWAY_JWT_KEY_FILE") or None,
                   help="HS256 token signing key; generated (mode 0600) if missing "
                   f"(env GATEWAY_JWT_KEY_FILE; default {DEFAULT_KEY_NAME} beside the apps file)")
    g.add_argument("--token-ttl", type=_ttl,
                   default=env_value(env, "GATEWAY_TOKEN_TTL", _ttl, d.token_ttl,
                                     expected="a token lifetime"),
                   help=f"lifetime of issued tokens in seconds, {MIN_TOKEN_TTL}-{MAX_TOKEN_TTL} "
                   "(env GATEWAY_TOKEN_TTL; default %(default)s)")
    g.add_argument("--allowed-origin", action="append", type=_origin, default=None,
                   help="a browser origin (scheme://host[:port]) allowed besides the "
                   "gateway's own, repeatable; '*' allows any (env GATEWAY_ALLOWED_ORIGINS, "
                   "comma-separated)")
    g.add_argument("--session-limit", type=_positive,
                   default=env_value(env, "GATEWAY_SESSION_LIMIT", _positive, d.session_limit,
                                     expected="a positive integer"),
                   help="concurrent sessions per token (env GATEWAY_SESSION_LIMIT; "
                   "default %(default)s)")
    g.add_argument("--rate-limit", type=_rate,
                   default=env_value(env, "GATEWAY_RATE_LIMIT", _rate, d.rate_limit,
                                     expected="a rate"),
                   help="requests per token, as N (per minute) or N/second|minute|hour "
                   "(env GATEWAY_RATE_LIMIT; default %(default)s)")
    g.add_argument("--auth-failure-limit", type=_rate,
                   default=env_value(env, "GATEWAY_AUTH_FAILURE_LIMIT", _rate,
                                     d.auth_failure_limit, expected="a rate"),
                   help="failed token:generate attempts per client address "
                   "(env GATEWAY_AUTH_FAILURE_LIMIT; default %(default)s)")
    parser.set_defaults(_allowed_origins_env=_env_origins(env))


def _env_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    values = env.get("GATEWAY_ALLOWED_ORIGINS", "").replace(",", " ").split()
    out = []
    for value in values:
        try:
            out.append(normalize_origin(value))
        except ValueError as exc:
            raise SystemExit(f"error: GATEWAY_ALLOWED_ORIGINS: {exc}") from None
    return tuple(out)


def auth_config_from_args(args: argparse.Namespace) -> AuthConfig:
    origins = args.allowed_origin if args.allowed_origin else args._allowed_origins_env
    return AuthConfig(
        apps_file=args.apps_file, jwt_key_file=args.jwt_key_file, token_ttl=args.token_ttl,
        allowed_origins=tuple(origins), session_limit=args.session_limit,
        rate_limit=args.rate_limit, auth_failure_limit=args.auth_failure_limit,
    )
