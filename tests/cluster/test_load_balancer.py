"""deploy/Caddyfile's routing rules, with real Caddy in front of two real nodes: callers
spread over the nodes, a redirect's ``?node=`` URL reaches the owning node through the
proxy, and every participant of a conversation ends up on one node.

Skipped without the ``caddy`` binary (Debian's ``caddy`` package). The file is used as
shipped, with only the addresses swapped for loopback ones (and plain HTTP: no certificate).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.http.keys import DIRECTORY_KEY
from tests.cluster.calls import Participant
from tests.cluster.nodes import ROOT, SETTINGS, node_config, recognizer
from tests.support.redis import RedisServer, free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy not installed")]


def loopback_caddyfile(lb: int, ports: dict[str, int]) -> str:
    text = (ROOT / "deploy" / "Caddyfile").read_text()
    text = text.replace("{$GATEWAY_DOMAIN:localhost}", f"http://127.0.0.1:{lb}")
    for node_id, port in ports.items():
        text = text.replace(f"gw-{node_id}:8080", f"127.0.0.1:{port}")
    # Until /readyz lands (another helper's), health is checked on /healthz.
    text = text.replace("health_uri /readyz", "health_uri /healthz")
    return "{\n\tadmin off\n}\n" + text


@pytest.fixture
async def behind_caddy(redis_up: RedisServer, prefix: str,
                       tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, web.Application]]]:
    lb = free_port()
    ports = {"a": free_port(), "b": free_port()}
    runners, apps = [], {}
    for node_id, port in ports.items():
        config = node_config(redis_up.url, node_id, port, prefix)
        config = dataclasses.replace(config, max_participants=3, cluster=dataclasses.replace(
            config.cluster, node_url=f"http://127.0.0.1:{lb}/?node={node_id}"))
        app = create_app(config, None, session_settings=SETTINGS, recognizer=recognizer())
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        apps[node_id] = app
    (tmp_path / "Caddyfile").write_text(loopback_caddyfile(lb, ports))
    caddy = await asyncio.create_subprocess_exec(
        "caddy", "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={"HOME": str(tmp_path)})
    try:
        for _ in range(100):  # listening, and the first health checks passed
            await asyncio.sleep(0.1)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", lb)
                writer.close()
                break
            except OSError:
                continue
        await asyncio.sleep(1.0)
        yield f"http://127.0.0.1:{lb}", apps
    finally:
        caddy.terminate()
        await asyncio.wait_for(caddy.wait(), 10)
        for runner in runners:
            await runner.cleanup()


async def test_participants_behind_the_proxy_meet_on_one_node(
        behind_caddy: tuple[str, dict[str, web.Application]]) -> None:
    url, apps = behind_caddy
    people = [Participant(url, name, "via-proxy", seconds=3) for name in ("Kim", "Lee", "Ann")]
    for person in people:
        await person.join()
    hosts = {node_id: [c for c in app[DIRECTORY_KEY].live()] for node_id, app in apps.items()}
    (owner,) = [node_id for node_id, live in hosts.items() if live]
    (conversation,) = hosts[owner]
    assert sorted(m.speaker.name or "" for m in conversation.members.values()) == \
        ["Ann", "Kim", "Lee"]
    # The proxy spread the three over both nodes: whoever landed on the other one was
    # redirected through the proxy (?node=<owner>), never directly to a node's own port.
    redirects = [r for p in people for r in p.redirects]
    assert redirects, "round-robin put someone on the other node"
    assert all(r["url"] == url.replace("http", "ws") + f"/ws?node={owner}" for r in redirects)
    for person in people:
        assert person.client is not None
        await person.client.close()
