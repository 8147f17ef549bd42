"""CLI flags and environment variables are a public interface: pinned here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, parse_config


def test_defaults() -> None:
    cfg = parse_config([], env={})
    assert cfg.host == "127.0.0.1" and cfg.port == 8080 and cfg.model is None
    assert cfg.log_level == "info" and cfg.insights is True
    assert cfg.ice_transport_policy == "all" and cfg.stun_urls == () and cfg.turn_urls == ()


def test_environment() -> None:
    env = {"GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "9000", "VOSK_MODEL": "/m",
           "GATEWAY_LOG_LEVEL": "DEBUG", "GATEWAY_MAX_SESSIONS": "3",
           "GATEWAY_STUN_URL": "stun:a:3478, stun:b:3478", "GATEWAY_TURN_URL": "turn:t:3478",
           "GATEWAY_TURN_SECRET": "s3cret", "GATEWAY_TURN_TTL": "600",
           "GATEWAY_ICE_TRANSPORT_POLICY": "relay", "GATEWAY_INSIGHTS": "0",
           "GATEWAY_LANGUAGE": "en-GB", "GATEWAY_WORKERS": "4"}
    cfg = parse_config([], env=env)
    assert cfg == GatewayConfig(
        host="0.0.0.0", port=9000, model="/m", log_level="debug", max_sessions=3,
        stun_urls=("stun:a:3478", "stun:b:3478"), turn_urls=("turn:t:3478",),
        turn_secret="s3cret", turn_ttl=600, ice_transport_policy="relay", insights=False,
        language="en-GB", workers=4, web_root=cfg.web_root,
        database=str(Path.home() / ".local/share/conversation-gateway/conversations.db"),
    )


def test_store_options() -> None:
    cfg = parse_config([], env={"XDG_DATA_HOME": "/data"})
    assert cfg.database == "/data/conversation-gateway/conversations.db"
    assert cfg.retention_days is None
    cfg = parse_config(["--database", "off"], env={"GATEWAY_DATABASE": "/x.db"})
    assert cfg.database is None
    cfg = parse_config([], env={"GATEWAY_DATABASE": "postgresql://u@h/db",
                                "GATEWAY_RETENTION_DAYS": "30"})
    assert cfg.database == "postgresql://u@h/db" and cfg.retention_days == 30
    assert cfg.abandoned_after == 300
    cfg = parse_config(["--abandoned-after", "90"], env={"GATEWAY_ABANDONED_AFTER": "600"})
    assert cfg.abandoned_after == 90
    assert parse_config([], env={"GATEWAY_ABANDONED_AFTER": "600"}).abandoned_after == 600
    with pytest.raises(SystemExit):
        parse_config(["--retention-days", "0"], env={})


def test_flags_override_environment() -> None:
    cfg = parse_config(["--host", "::1", "--port", "0", "--model", "/x", "--log-level", "warning",
                        "--stun-url", "stun:s:1", "--turn-url", "turn:t:1", "--turn-url",
                        "turns:t:5349?transport=tcp", "--turn-secret", "k", "--turn-ttl", "60",
                        "--ice-transport-policy", "relay", "--no-insights"],
                       env={"GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "1", "VOSK_MODEL": "/m"})
    assert (cfg.host, cfg.port, cfg.model, cfg.log_level) == ("::1", 0, "/x", "warning")
    assert cfg.turn_urls == ("turn:t:1", "turns:t:5349?transport=tcp")
    assert cfg.turn_ttl == 60 and cfg.ice_transport_policy == "relay" and not cfg.insights


@pytest.mark.parametrize("argv", [["--port", "70000"], ["--log-level", "loud"],
                                  ["--ice-transport-policy", "none"], ["--max-sessions", "0"]])
def test_bad_flags_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config(argv, env={})
    assert exc.value.code == 2


def test_bad_environment_value_is_named() -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config([], env={"GATEWAY_PORT": "eighty"})
    assert "GATEWAY_PORT" in str(exc.value.code)


def test_console_help_lists_every_flag() -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for flag in ("--host", "--port", "--model", "--log-level", "--stun-url", "--turn-url",
                 "--turn-secret", "--turn-ttl", "--ice-transport-policy", "--max-sessions"):
        assert flag in out


def test_relay_defaults_off() -> None:
    cfg = parse_config([], env={})
    assert cfg.relay_url is None and cfg.relay_token is None


def test_relay_from_environment() -> None:
    cfg = parse_config([], env={"GATEWAY_RELAY_URL": "wss://analytics.example.org/ingest?x=1",
                                "GATEWAY_RELAY_TOKEN": "t0ken"})
    assert cfg.relay_url == "wss://analytics.example.org/ingest?x=1"
    assert cfg.relay_token == "t0ken"
    assert "t0ken" not in repr(cfg)


def test_relay_flags_override_environment() -> None:
    cfg = parse_config(["--relay-url", "ws://127.0.0.1:9000/c/{conversationId}",
                        "--relay-token", "flag"],
                       env={"GATEWAY_RELAY_URL": "wss://env.example/",
                            "GATEWAY_RELAY_TOKEN": "env"})
    assert cfg.relay_url == "ws://127.0.0.1:9000/c/{conversationId}"
    assert cfg.relay_token == "flag"


@pytest.mark.parametrize("argv, env, named", [
    (["--relay-url", "http://analytics.example.org/"], {}, "--relay-url"),
    (["--relay-url", "analytics.example.org:9000"], {}, "--relay-url"),
    (["--relay-url", "ws://"], {}, "--relay-url"),
    (["--relay-url", "ws://host:99999/"], {}, "--relay-url"),
    ([], {"GATEWAY_RELAY_URL": "https://analytics.example.org/"}, "GATEWAY_RELAY_URL"),
])
def test_bad_relay_url_is_named(argv: list[str], env: dict[str, str], named: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config(argv, env=env)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert named in err and ("ws://" in err or "URL" in err or "host" in err)


def test_console_help_lists_relay_flags() -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--relay-url" in out and "--relay-token" in out


def test_the_retired_subscribe_token_stops_the_gateway_saying_what_replaced_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    """--subscribe-token was superseded by access control (docs/access-control.md): a
    gateway started with it must not come up with its consoles unprotected."""
    parse_config([], env={"GATEWAY_SUBSCRIBE_TOKEN": ""})  # an empty variable is no value
    for argv, env in ((["--subscribe-token", "flag-secret-9"], {}),
                      ([], {"GATEWAY_SUBSCRIBE_TOKEN": "t"})):
        with pytest.raises(SystemExit) as stopped:
            parse_config(argv, env=env)
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert "replaced by access control" in error and "--apps-file" in error
        assert "flag-secret-9" not in error
    assert "--subscribe-token" not in subprocess.run(
        [sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True,
        check=True).stdout


def test_model_url() -> None:
    assert parse_config([], env={}).model_url is None
    assert parse_config([], env={"GATEWAY_MODEL_URL": "http://m/x.zip"}).model_url == (
        "http://m/x.zip")
    assert parse_config(["--model-url", "http://f/y.zip"],
                        env={"GATEWAY_MODEL_URL": "http://m/x.zip"}).model_url == "http://f/y.zip"


def test_url_lists_and_their_precedence() -> None:
    env = {"GATEWAY_TURN_URL": "turn:a:3478 turn:b:3478,turns:c:5349?transport=tcp"}
    assert parse_config([], env=env).turn_urls == (
        "turn:a:3478", "turn:b:3478", "turns:c:5349?transport=tcp")
    # Repeating a URL flag replaces the variable's whole list.
    assert parse_config(["--turn-url", "turn:x:1"], env=env).turn_urls == ("turn:x:1",)


def test_a_clusters_resume_window_covers_the_resume_grace() -> None:
    base = ["--redis-url", "redis://127.0.0.1:6379/0", "--node-url", "http://a.example:8080"]
    short = parse_config([*base, "--resume-grace", "10"], env={})
    assert short.cluster.resume_window == 60.0  # the default already covers it
    long = parse_config([*base, "--resume-grace", "300"], env={})
    assert long.cluster.resume_window >= 300 + long.cluster.node_ttl


def test_the_retired_whip_token_stops_the_gateway_saying_what_replaced_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    parse_config([], env={"GATEWAY_WHIP_TOKEN": ""})  # an empty variable is no value
    for argv, env in ((["--whip-token", "flag-secret-9"], {}),
                      ([], {"GATEWAY_WHIP_TOKEN": "t"})):
        with pytest.raises(SystemExit) as stopped:
            parse_config(argv, env=env)
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert "retired" in error and "--apps-file" in error
        assert "flag-secret-9" not in error
    assert "--whip-token" not in subprocess.run(
        [sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True,
        check=True).stdout
