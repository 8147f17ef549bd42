"""``python -m gateway.auth apps ...`` as a real process, and the file it manages."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp

from gateway.auth.app_file import read_apps
from tests.auth.conftest import Credentials, StartServer

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_APPS_FILE"}
    return subprocess.run([sys.executable, "-m", "gateway.auth", "apps", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=60, env=env)


async def test_create_list_revoke_round_trip(tmp_path: Path, start_server: StartServer,
                                             http: aiohttp.ClientSession) -> None:
    apps = tmp_path / "apps.json"
    made = cli("create", "--apps-file", str(apps), "--role", "agent", "--tenant", "acme",
               "--name", "support console")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines() if ":" in line
                 and line.split(":", 1)[0] in ("appId", "appSecret"))
    app_id, secret = lines["appId"].strip(), lines["appSecret"].strip()
    assert len(app_id) == 64 and len(secret) == 128  # Symbl's Web SDK checks both lengths
    assert made.stdout.count(secret) == 1 and secret not in made.stderr
    assert stat.S_IMODE(apps.stat().st_mode) == 0o600
    stored = apps.read_text()
    assert secret not in stored and "$argon2id$" in stored

    made_json = cli("create", "--apps-file", str(apps), "--role", "caller", "--conversation",
                    "room-1", "--conversation", "room-2", "--json")
    assert made_json.returncode == 0, made_json.stderr
    caller = json.loads(made_json.stdout)
    assert caller["conversations"] == ["room-1", "room-2"] and "secretHash" not in caller

    listed = cli("list", "--apps-file", str(apps))
    listed_json = cli("list", "--apps-file", str(apps), "--json")
    for out in (listed.stdout, listed_json.stdout):
        assert app_id in out and caller["appId"] in out
        assert secret not in out and caller["appSecret"] not in out and "argon2" not in out
    entries = {a["appId"]: a for a in json.loads(listed_json.stdout)}
    assert entries[app_id]["role"] == "agent" and entries[app_id]["revoked"] is None
    assert entries[app_id]["name"] == "support console"

    # The secret printed once is the one that works.
    server = await start_server(apps_file=apps)
    token = await server.token(http, Credentials(app_id, secret))
    assert token.count(".") == 2

    revoked = cli("revoke", "--apps-file", str(apps), app_id)
    assert revoked.returncode == 0 and "revoked app" in revoked.stdout
    entries = {a["appId"]: a for a in json.loads(cli("list", "--apps-file", str(apps),
                                                     "--json").stdout)}
    assert entries[app_id]["revoked"] and entries[caller["appId"]]["revoked"] is None
    assert not read_apps(apps)[app_id].active


def test_refusals_have_exit_status_and_message(tmp_path: Path) -> None:
    apps = tmp_path / "apps.json"
    assert cli("list", "--apps-file", str(apps)).returncode == 1  # no such file yet
    ok = cli("create", "--apps-file", str(apps), "--role", "service", "--app-id", "fixed-id")
    assert ok.returncode == 0
    again = cli("create", "--apps-file", str(apps), "--role", "service", "--app-id", "fixed-id")
    assert again.returncode == 1 and "already exists" in again.stderr
    unknown = cli("revoke", "--apps-file", str(apps), "nope")
    assert unknown.returncode == 1 and "no app nope" in unknown.stderr
    bad = cli("create", "--apps-file", str(apps), "--role", "caller")
    assert bad.returncode == 1 and "--conversation" in bad.stderr
    usage = cli("create", "--apps-file", str(apps), "--role", "owner")
    assert usage.returncode == 2
    apps.write_text("{broken")
    broken = cli("list", "--apps-file", str(apps))
    assert broken.returncode == 1 and "not valid JSON" in broken.stderr


async def test_symbl_credentials_move_over_unchanged(tmp_path: Path, start_server: StartServer,
                                                     http: aiohttp.ClientSession) -> None:
    apps = tmp_path / "apps.json"
    app_id, secret = "a1" * 32, "Zz9" * 40 + "abcdefgh"
    made = cli("create", "--apps-file", str(apps), "--role", "service", "--app-id", app_id,
               "--secret-stdin", stdin=secret + "\n")
    assert made.returncode == 0, made.stderr
    assert secret not in made.stdout  # the operator has it already: never echoed
    server = await start_server(apps_file=apps)
    assert (await server.token(http, Credentials(app_id, secret))).count(".") == 2
    short = cli("create", "--apps-file", str(apps), "--role", "service", "--secret-stdin",
                stdin="short\n")
    assert short.returncode == 1


def test_concurrent_creates_lose_nothing(tmp_path: Path) -> None:
    apps = tmp_path / "apps.json"
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_APPS_FILE"}
    procs = [subprocess.Popen([sys.executable, "-m", "gateway.auth", "apps", "create",
                               "--apps-file", str(apps), "--role", "service", "--json"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(6)]
    ids = {json.loads(p.communicate(timeout=60)[0])["appId"] for p in procs}
    assert len(ids) == 6 and set(read_apps(apps)) == ids
