"""Flags, environment, the signing key file, the apps file at startup, the startup line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import stat
from pathlib import Path

import pytest

from gateway.auth import AccessControl, AuthConfig, Role, add_auth_arguments
from gateway.auth import auth_config_from_args as from_args
from gateway.auth.app_file import FileAppRegistry
from gateway.auth.keys import load_or_create_key
from tests.auth.conftest import add_app


def parse(argv: list[str], env: dict[str, str] | None = None) -> AuthConfig:
    parser = argparse.ArgumentParser()
    add_auth_arguments(parser, env or {})
    return from_args(parser.parse_args(argv))


def test_defaults_are_open_mode() -> None:
    config = parse([])
    assert config.open and config.key_path() is None
    assert (config.token_ttl, config.session_limit, config.rate_limit) == (3600, 10,
                                                                          "300/minute")
    assert config.allowed_origins == ()


def test_flags_and_environment(tmp_path: Path) -> None:
    config = parse(["--apps-file", str(tmp_path / "apps.json"), "--token-ttl", "900",
                    "--allowed-origin", "https://App.example.com:443",
                    "--allowed-origin", "http://localhost:3000", "--session-limit", "4",
                    "--rate-limit", "60", "--auth-failure-limit", "5/minute"])
    assert not config.open
    assert config.key_path() == tmp_path.resolve() / "jwt-signing.key"
    assert config.allowed_origins == ("https://app.example.com", "http://localhost:3000")
    assert (config.token_ttl, config.session_limit, config.rate_limit,
            config.auth_failure_limit) == (900, 4, "60", "5/minute")
    env = {"GATEWAY_APPS_FILE": "/srv/apps.json", "GATEWAY_JWT_KEY_FILE": "/srv/k",
           "GATEWAY_TOKEN_TTL": "7200", "GATEWAY_ALLOWED_ORIGINS": "https://a.example, "
           "https://b.example", "GATEWAY_SESSION_LIMIT": "3", "GATEWAY_RATE_LIMIT": "10/second"}
    config = parse([], env)
    assert config.apps_file == Path("/srv/apps.json") and config.key_path() == Path("/srv/k")
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert (config.token_ttl, config.session_limit, config.rate_limit) == (7200, 3,
                                                                          "10/second")
    # A flag wins over the environment.
    assert parse(["--allowed-origin", "*"], env).allowed_origins == ("*",)


@pytest.mark.parametrize("argv", [["--token-ttl", "60"], ["--token-ttl", "100000"],
                                  ["--token-ttl", "x"], ["--session-limit", "0"],
                                  ["--rate-limit", "lots"], ["--allowed-origin", "evil.com"]])
def test_bad_flags_stop_with_status_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2


def test_bad_environment_names_the_variable() -> None:
    with pytest.raises(SystemExit, match="GATEWAY_TOKEN_TTL"):
        parse([], {"GATEWAY_TOKEN_TTL": "5"})
    with pytest.raises(SystemExit, match="GATEWAY_ALLOWED_ORIGINS"):
        parse([], {"GATEWAY_ALLOWED_ORIGINS": "ftp://x"})


def test_signing_key_is_made_once_with_safe_permissions(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys" / "jwt.key"
    key = load_or_create_key(path)
    assert len(key) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert key.decode() not in caplog.text
    path.write_text("short\n")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_or_create_key(path)
    path.write_text("x" * 40 + "\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert load_or_create_key(path) == b"x" * 40
    assert "readable by others" in caplog.text


def test_missing_or_broken_apps_file_stops_startup(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such apps file"):
        AccessControl.from_config(AuthConfig(apps_file=tmp_path / "typo.json"))
    broken = tmp_path / "apps.json"
    broken.write_text('{"version": 1, "apps": [{"appId": "a", "role": "service"}]}')
    with pytest.raises(ValueError, match="secretHash"):
        AccessControl.from_config(AuthConfig(apps_file=broken))


async def test_startup_lines(tmp_path: Path) -> None:
    open_access = AccessControl.from_config(AuthConfig())
    line = open_access.startup_line("127.0.0.1")
    assert line.startswith("access control OPEN") and "\n" not in line
    assert "WARNING" not in line
    assert "WARNING: listening on 0.0.0.0" in open_access.startup_line("0.0.0.0")
    apps = tmp_path / "apps.json"
    await add_app(apps, Role.SERVICE)
    closed = await asyncio.to_thread(AccessControl.from_config, AuthConfig(
        apps_file=apps, allowed_origins=("https://a.example",)))
    line = closed.startup_line("0.0.0.0")
    assert line.startswith("access control ON: 1 active apps in ")
    assert "https://a.example" in line and "10 sessions" in line


async def test_a_broken_edit_keeps_the_last_good_apps(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    apps = tmp_path / "apps.json"
    creds = await add_app(apps, Role.AGENT)
    registry = FileAppRegistry.load(apps)
    good = apps.read_text()
    apps.write_text("{ half written")
    assert not await registry.refresh()
    assert "keeping the previous apps" in caplog.text
    assert (await registry.get(creds.app_id)) is not None
    apps.write_text(good)
    other = await add_app(apps, Role.SERVICE)  # as another process (the CLI) would
    assert await registry.refresh()
    assert {a.app_id for a in await registry.list()} == {creds.app_id, other.app_id}
