"""Relay flags and environment variables into a :class:`RelayConfig` (flag, then env, then
default). A bad value stops the gateway at start (argparse error, exit status 2) naming the
flag and what is wrong, never mid-call.

* ``--downstream NAME=PROTOCOL:URL`` (repeatable; env ``GATEWAY_DOWNSTREAMS``, entries
  separated by spaces): a downstream every session uses unless its client chooses otherwise;
* ``--downstream-option NAME:OPTION=VALUE`` (repeatable; env ``GATEWAY_DOWNSTREAM_OPTIONS``):
  an option of a named downstream: the protocol options of gateway/relays/targets.py, plus
  ``select=always|default|request``, ``token=...`` (or env ``GATEWAY_DOWNSTREAM_TOKEN_<NAME>``)
  and ``metadata.KEY=VALUE``;
* ``--downstream-allow PATTERN`` (repeatable; env ``GATEWAY_DOWNSTREAM_ALLOW``): URLs clients
  may name (gateway/relays/allow.py);
* ``--downstream-buffer SECONDS``, ``--downstream-connect-timeout SECONDS``;
* ``--asr URL`` (repeatable; env ``GATEWAY_ASR``) and ``--asr-endpoint auto|reset|eof``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any, cast

from gateway.envvars import env_value

from .allow import UrlPattern, UrlRefused, parse_ws_url
from .config import BUFFER_SECONDS, CONNECT_TIMEOUT, AsrEndpoint, RelayConfig
from .targets import OPTIONS, SELECTS, Target, TargetError, check_name, check_options, template_url

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def _env_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or choices[0]
    if value not in choices:
        raise SystemExit(f"error: {name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _words(env: Mapping[str, str], name: str, *, commas: bool = True) -> list[str]:
    value = env.get(name, "")
    return (value.replace(",", " ") if commas else value).split()


def add_relay_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    g = parser.add_argument_group("downstream relays and remote recognition (docs/relay.md)")
    g.add_argument("--downstream", action="append", metavar="NAME=PROTOCOL:URL", default=None,
                   help="stream audio (or results) of every session to this WebSocket, in "
                   "PROTOCOL: symbl, vosk, twilio, jambonz or results; repeatable "
                   "(env GATEWAY_DOWNSTREAMS, space-separated)")
    g.add_argument("--downstream-option", action="append", metavar="NAME:OPTION=VALUE",
                   default=None,
                   help="an option of downstream NAME, e.g. crm:tracks=both, asr:sampleRate=8000, "
                   "crm:select=request, crm:metadata.tenant=acme; repeatable "
                   "(env GATEWAY_DOWNSTREAM_OPTIONS, space-separated)")
    g.add_argument("--downstream-allow", action="append", metavar="PATTERN", default=None,
                   help="URLs a client may name in its start config, e.g. "
                   "'wss://*.example.org/asr'; repeatable; without it clients may only name "
                   "configured downstreams (env GATEWAY_DOWNSTREAM_ALLOW)")
    g.add_argument("--downstream-buffer", type=_seconds,
                   default=env_value(env, "GATEWAY_DOWNSTREAM_BUFFER", _seconds, BUFFER_SECONDS,
                                     expected="a number of seconds"),
                   help="seconds of audio kept per downstream stream while it is slow or "
                   "reconnecting (env GATEWAY_DOWNSTREAM_BUFFER; default %(default)s)")
    g.add_argument("--downstream-connect-timeout", type=_seconds,
                   default=env_value(env, "GATEWAY_DOWNSTREAM_CONNECT_TIMEOUT", _seconds,
                                     CONNECT_TIMEOUT, expected="a number of seconds"),
                   help="seconds a downstream has to accept a connection "
                   "(env GATEWAY_DOWNSTREAM_CONNECT_TIMEOUT; default %(default)s)")
    g.add_argument("--asr", action="append", metavar="URL", default=None,
                   help="recognise on this vosk-server (ws:// or wss://) instead of the local "
                   "model; repeatable: streams are balanced over the servers "
                   "(env GATEWAY_ASR, comma-separated)")
    g.add_argument("--asr-endpoint", choices=("auto", "reset", "eof"),
                   default=_env_choice(env, "GATEWAY_ASR_ENDPOINT", ("auto", "reset", "eof")),
                   help="how phrases are ended on the servers: 'reset' (vosk-server since "
                   "2023-12), 'eof' (older and C++ servers), 'auto' finds out "
                   "(env GATEWAY_ASR_ENDPOINT; default %(default)s)")


def relay_config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace,
                           env: Mapping[str, str]) -> RelayConfig:
    """The relay settings; a bad value is ``parser.error`` (exit 2) naming the flag."""
    try:
        specs = args.downstream or _words(env, "GATEWAY_DOWNSTREAMS", commas=False)
        options = args.downstream_option or _words(env, "GATEWAY_DOWNSTREAM_OPTIONS",
                                                   commas=False)
        allow = tuple(args.downstream_allow or _words(env, "GATEWAY_DOWNSTREAM_ALLOW"))
        for pattern in allow:
            UrlPattern.parse(pattern)
        asr = tuple(args.asr or _words(env, "GATEWAY_ASR"))
        for url in asr:
            try:
                parse_ws_url(url)
            except UrlRefused as exc:
                raise TargetError("--asr", str(exc)) from None
        downstreams = parse_downstreams(specs, options, env)
    except (TargetError, UrlRefused) as exc:
        parser.error(str(exc))
    return RelayConfig(downstreams=downstreams, allow=allow,
                       buffer_seconds=args.downstream_buffer,
                       connect_timeout=args.downstream_connect_timeout,
                       asr=asr, asr_endpoint=cast(AsrEndpoint, args.asr_endpoint))


def parse_downstreams(specs: list[str], options: list[str],
                      env: Mapping[str, str]) -> tuple[Target, ...]:
    """``NAME=PROTOCOL:URL`` entries with their ``NAME:OPTION=VALUE`` options."""
    parsed: dict[str, tuple[str, str]] = {}
    for spec in specs:
        name, eq, rest = spec.partition("=")
        protocol, colon, url = rest.partition(":")
        if not eq or not colon:
            raise TargetError("--downstream", f"{spec!r} is not NAME=PROTOCOL:URL")
        check_name(name, f"--downstream {name!r}")
        if name in parsed:
            raise TargetError("--downstream", f"{name!r} is configured twice")
        parsed[name] = (protocol.strip().lower(), url)
    per_name: dict[str, dict[str, Any]] = {name: {} for name in parsed}
    for option in options:
        name, colon, assignment = option.partition(":")
        key, eq, value = assignment.partition("=")
        if not colon or not eq:
            raise TargetError("--downstream-option", f"{option!r} is not NAME:OPTION=VALUE")
        if name not in per_name:
            raise TargetError("--downstream-option", f"{option!r} names no --downstream")
        _set_option(per_name[name], key.strip(), value, f"--downstream-option {option!r}")
    targets = []
    for name, (protocol, url) in parsed.items():
        where = f"--downstream {name}"
        opts = per_name[name]
        select = opts.pop("select", "default")
        token = opts.pop("token", None) or env.get(f"GATEWAY_DOWNSTREAM_TOKEN_{_env_key(name)}")
        checked = check_options(protocol, opts, where)
        targets.append(Target(name, protocol, template_url(url, where), checked,
                              token=token or None, select=select))
    return tuple(targets)


def _set_option(options: dict[str, Any], key: str, value: str, where: str) -> None:
    if key == "select":
        if value not in SELECTS:
            raise TargetError(where, f"select must be one of {', '.join(SELECTS)}")
        options[key] = value
    elif key == "token":
        options[key] = value
    elif key.startswith("metadata."):
        options.setdefault("metadata", {})[key[len("metadata."):]] = value
    elif key in OPTIONS and OPTIONS[key][1] is not dict:
        options[key] = _convert(OPTIONS[key][1], value, where)
    else:
        raise TargetError(where, f"unknown option {key!r} (known: select, token, "
                          f"metadata.NAME, {', '.join(k for k in OPTIONS if k != 'metadata')})")


def _convert(kind: type, value: str, where: str) -> Any:
    if kind is int:
        if not value.strip().isdigit():
            raise TargetError(where, "must be a whole number")
        return int(value)
    if kind is bool:
        if value.lower() not in TRUE + FALSE:
            raise TargetError(where, "must be true or false")
        return value.lower() in TRUE
    if kind is list:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def _env_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())
