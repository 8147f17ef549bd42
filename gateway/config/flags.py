"""Command-line flags and ``GATEWAY_*`` environment variables into a ``GatewayConfig``.

Precedence: flag, then environment variable, then default. Every option is documented in
docs/configuration.md; tests pin the names.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence

from gateway.asr.config import add_recognition_arguments, recognition_config_from_args
from gateway.auth.config import add_auth_arguments, auth_config_from_args
from gateway.cluster.config import add_cluster_arguments, cluster_config_from_args
from gateway.envvars import env_int, env_value
from gateway.relays.flags import add_relay_arguments, relay_config_from_args
from gateway.transports.whip.access import RETIRED_WHIP_TOKEN

from .checks import check_ws_url, non_negative_seconds, port, positive
from .settings import GatewayConfig, default_database

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
RETIRED_SUBSCRIBE_TOKEN = (
    "--subscribe-token (GATEWAY_SUBSCRIBE_TOKEN) was replaced by access control: create an "
    "agent app ('gateway apps create --apps-file FILE --role agent'), start the gateway with "
    "--apps-file FILE, and give consoles a token from POST /oauth2/token:generate; see "
    "docs/access-control.md")


def _env_list(env: Mapping[str, str], name: str) -> list[str]:
    """Comma- or space-separated (URLs contain neither)."""
    return env.get(name, "").replace(",", " ").split()


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    d = GatewayConfig()
    p = argparse.ArgumentParser(
        prog="gateway",
        description="WebRTC-to-WebSocket media gateway: live transcripts and insights "
        "from browser audio, in Symbl's real-time message shapes.",
    )
    p.add_argument("--host", default=env.get("GATEWAY_HOST", d.host),
                   help="address to listen on (env GATEWAY_HOST; default %(default)s)")
    p.add_argument("--port", type=port, default=env_int(env, "GATEWAY_PORT", d.port),
                   help="TCP port (env GATEWAY_PORT; default %(default)s; 0 picks a free one)")
    p.add_argument("--model", default=env.get("VOSK_MODEL") or None,
                   help="path to a Vosk model directory (env VOSK_MODEL); without it the "
                   "default English model is downloaded once into the user cache")
    p.add_argument("--model-url", default=env.get("GATEWAY_MODEL_URL") or None,
                   help="download the default model from this URL instead of its official "
                   "source (an internal mirror); still verified against the built-in "
                   "SHA-256 sums (env GATEWAY_MODEL_URL)")
    p.add_argument("--log-level", choices=LOG_LEVELS,
                   default=env.get("GATEWAY_LOG_LEVEL", d.log_level).lower(),
                   help="env GATEWAY_LOG_LEVEL; default %(default)s")
    p.add_argument("--log-format", choices=LOG_FORMATS,
                   default=env.get("GATEWAY_LOG_FORMAT", d.log_format).lower(),
                   help="'json' writes one JSON object per line with session and "
                   "conversation ids (env GATEWAY_LOG_FORMAT; default %(default)s)")
    p.add_argument("--drain-timeout", type=non_negative_seconds,
                   default=env_value(env, "GATEWAY_DRAIN_TIMEOUT", non_negative_seconds,
                                     d.drain_timeout, expected="a number of seconds"),
                   help="on SIGTERM, seconds open calls may go on before they are closed; "
                   "no new calls are admitted meanwhile (env GATEWAY_DRAIN_TIMEOUT; "
                   "default %(default)s)")
    p.add_argument("--language", default=env.get("GATEWAY_LANGUAGE", d.language),
                   help="language the model recognises, checked against the client's "
                   "languageCode (env GATEWAY_LANGUAGE; default %(default)s)")
    p.add_argument("--max-sessions", type=_sessions,
                   default=env_value(env, "GATEWAY_MAX_SESSIONS", _sessions, None,
                                     expected="'auto' or a positive integer"),
                   help="concurrent sessions before new ones get 'server_busy': a number, or "
                   "'auto' (the default) for the capacity measured from what sessions cost "
                   "on this machine (env GATEWAY_MAX_SESSIONS; see docs/performance.md)")
    p.add_argument("--max-participants", type=positive,
                   default=env_int(env, "GATEWAY_MAX_PARTICIPANTS", d.max_participants),
                   help="callers per conversation; beyond it a joiner gets "
                   "'conversation_full'. Above 2 the call page connects every pair of "
                   "callers directly (a mesh) (env GATEWAY_MAX_PARTICIPANTS; "
                   "default %(default)s)")
    p.add_argument("--resume-grace", type=_non_negative_float,
                   default=env_value(env, "GATEWAY_RESUME_GRACE", _non_negative_float,
                                     d.resume_grace, expected="0 to 3600 seconds"),
                   help="seconds a call waits for a browser whose connection dropped to come "
                   "back (same session, same transcript); 0 ends it at once "
                   "(env GATEWAY_RESUME_GRACE; default %(default)s)")
    p.add_argument("--workers", type=int, default=env_int(env, "GATEWAY_WORKERS", d.workers),
                   help="recognition worker threads, 0 = one per core (env GATEWAY_WORKERS)")
    p.add_argument("--no-insights", action="store_true",
                   default=env.get("GATEWAY_INSIGHTS", "1").lower() in ("0", "false", "no"),
                   help="transcripts only (env GATEWAY_INSIGHTS=0)")
    p.add_argument("--stun-url", action="append", default=None,
                   help="STUN server URL, repeatable (env GATEWAY_STUN_URL, comma-separated)")
    p.add_argument("--turn-url", action="append", default=None,
                   help="TURN server URL, repeatable (env GATEWAY_TURN_URL, comma-separated)")
    p.add_argument("--turn-secret", default=env.get("GATEWAY_TURN_SECRET") or None,
                   help="coturn static-auth-secret for TURN REST credentials "
                   "(env GATEWAY_TURN_SECRET)")
    p.add_argument("--turn-ttl", type=positive,
                   default=env_int(env, "GATEWAY_TURN_TTL", d.turn_ttl),
                   help="lifetime of issued TURN credentials in seconds "
                   "(env GATEWAY_TURN_TTL; default %(default)s)")
    p.add_argument("--ice-transport-policy", choices=("all", "relay"),
                   default=env.get("GATEWAY_ICE_TRANSPORT_POLICY", d.ice_transport_policy),
                   help="'relay' forces every call through TURN "
                   "(env GATEWAY_ICE_TRANSPORT_POLICY; default %(default)s)")
    p.add_argument("--relay-url", default=None,
                   help="relay every conversation's results to this downstream WebSocket, "
                   "ws:// or wss://; '{conversationId}' in it is replaced, otherwise "
                   "conversationId=<id> is added to the query (env GATEWAY_RELAY_URL; "
                   "see docs/relay.md)")
    p.add_argument("--relay-token", default=env.get("GATEWAY_RELAY_TOKEN") or None,
                   help="bearer token sent as 'Authorization: Bearer <token>' to the relay "
                   "URL (env GATEWAY_RELAY_TOKEN, which keeps it out of the process list)")
    # Retired: kept only to answer with what replaced it (see parse_config).
    p.add_argument("--subscribe-token", default=env.get("GATEWAY_SUBSCRIBE_TOKEN") or None,
                   help=argparse.SUPPRESS)
    p.add_argument("--database", default=env.get("GATEWAY_DATABASE") or default_database(env),
                   help="where conversations are stored: a file path or sqlite:///path "
                   "(embedded default %(default)s), postgresql://user:pass@host/db, or 'off' "
                   "(env GATEWAY_DATABASE; see docs/conversation-api.md)")
    p.add_argument("--retention-days", type=_positive_float,
                   default=env_value(env, "GATEWAY_RETENTION_DAYS", _positive_float, None,
                                     expected="a positive number"),
                   help="delete conversations inactive for more than this many days, checked "
                   "hourly (env GATEWAY_RETENTION_DAYS; default: keep them)")
    p.add_argument("--abandoned-after", type=_positive_float, metavar="SECONDS",
                   default=env_value(env, "GATEWAY_ABANDONED_AFTER", _positive_float, 300.0,
                                     expected="a positive number"),
                   help="a stored conversation left open by a gateway that was killed gets "
                   "its end after this many seconds without a sign of life; live ones are "
                   "renewed every fifth of it (env GATEWAY_ABANDONED_AFTER; default "
                   "%(default)g)")
    add_auth_arguments(p, env)
    add_recognition_arguments(p, env)
    add_cluster_arguments(p, env)
    add_relay_arguments(p, env)
    # Retired: kept only to answer with what replaced it (see parse_config).
    p.add_argument("--whip-token", default=env.get("GATEWAY_WHIP_TOKEN") or None,
                   help=argparse.SUPPRESS)
    return p


def _sessions(text: str) -> int | None:
    """``auto`` (None: measured) or a positive number of sessions."""
    if text.strip().lower() == "auto":
        return None
    return positive(text)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be from 0 to 3600 seconds")
    return value


def parse_config(argv: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> GatewayConfig:
    env = os.environ if env is None else env
    parser = build_parser(env)
    args = parser.parse_args(argv)
    if args.max_participants < 1:  # an environment default bypasses the flag's type check
        parser.error("GATEWAY_MAX_PARTICIPANTS must be at least 1")
    if args.log_format not in LOG_FORMATS:  # argparse checks choices of flags, not defaults
        parser.error(f"GATEWAY_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                     f"got {args.log_format!r}")
    if args.subscribe_token:
        parser.error(RETIRED_SUBSCRIBE_TOKEN)
    if args.whip_token:
        parser.error(RETIRED_WHIP_TOKEN)
    relay_url = args.relay_url
    relay_source = "--relay-url"
    if relay_url is None:
        relay_url = env.get("GATEWAY_RELAY_URL") or None
        relay_source = "GATEWAY_RELAY_URL"
    if relay_url is not None:
        try:
            check_ws_url(relay_url)
        except ValueError as exc:
            parser.error(f"{relay_source} {exc}")
    try:
        cluster = cluster_config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    # A session's owner must stay known in Redis for as long as its client may resume it
    # (plus a heartbeat's lag), or a resume arriving at another node late in the grace
    # period finds no owner to redirect to.
    cluster = dataclasses.replace(
        cluster, resume_window=max(cluster.resume_window, args.resume_grace + cluster.node_ttl))
    return GatewayConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        model_url=args.model_url,
        log_level=args.log_level,
        language=args.language,
        max_sessions=args.max_sessions,
        max_participants=args.max_participants,
        resume_grace=args.resume_grace,
        workers=max(0, args.workers),
        insights=not args.no_insights,
        stun_urls=tuple(args.stun_url or _env_list(env, "GATEWAY_STUN_URL")),
        turn_urls=tuple(args.turn_url or _env_list(env, "GATEWAY_TURN_URL")),
        turn_secret=args.turn_secret,
        turn_ttl=args.turn_ttl,
        ice_transport_policy=args.ice_transport_policy,
        relay_url=relay_url,
        relay_token=args.relay_token,
        database=None if args.database.strip().lower() == "off" else args.database,
        retention_days=args.retention_days,
        abandoned_after=args.abandoned_after,
        auth=auth_config_from_args(args),
        recognition=recognition_config_from_args(args, parser),
        cluster=cluster,
        relays=relay_config_from_args(parser, args, env),
        log_format=args.log_format,
        drain_timeout=args.drain_timeout,
    )
