"""Gateway nodes on one real Redis, for the cluster tests: in this process or in their own.

Every node runs the real app (``create_app``: signaling, aiortc, insights, outputs) with a
scripted recogniser, so a call takes seconds and its transcript is exact. A node's public
URL must be known before it starts (it is what other nodes redirect to), so each gets a free
port picked in advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.cluster.admission import ClusterAdmission
from gateway.cluster.bus import RedisBus
from gateway.cluster.cluster import Cluster
from gateway.cluster.config import ClusterConfig
from gateway.cluster.directory import ClusterDirectory
from gateway.config import GatewayConfig, SessionSettings
from gateway.http.keys import ADMISSION_KEY, BUS_KEY, DIRECTORY_KEY
from tests.support.redis import free_port

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = 0.25
NODE_TTL = 2.0

# Who says what: the scripted recogniser picks the script by the speaker's name.
SCRIPTS = {
    "Kim": [ScriptedPhrase("the quarterly numbers look good", 0.3, 1.6),
            ScriptedPhrase("we should ship the release next week", 4.0, 5.2)],
    "Lee": [ScriptedPhrase("can you send me the report by friday", 1.8, 3.2),
            ScriptedPhrase("thanks that sounds great", 5.6, 6.6)],
}


def recognizer() -> ScriptedRecognizer:
    return ScriptedRecognizer(SCRIPTS["Kim"], per_speaker=SCRIPTS)


def node_config(redis_url: str, node_id: str, port: int, prefix: str, *, max_sessions: int = 4,
                cluster_max: int = 0) -> GatewayConfig:
    return GatewayConfig(
        host="127.0.0.1", port=port, max_sessions=max_sessions, database=None,
        cluster=ClusterConfig(redis_url=redis_url, node_id=node_id,
                              node_url=f"http://127.0.0.1:{port}", prefix=prefix,
                              max_sessions_total=cluster_max, heartbeat=HEARTBEAT,
                              node_ttl=NODE_TTL))


SETTINGS = SessionSettings(analytics_interval=2.0, connect_timeout=15.0)


@dataclass
class Node:
    """A node running in this test's event loop."""

    id: str
    url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def bus(self) -> RedisBus:
        bus = self.app[BUS_KEY]
        assert isinstance(bus, RedisBus)
        return bus

    @property
    def directory(self) -> ClusterDirectory:
        directory = self.app[DIRECTORY_KEY]
        assert isinstance(directory, ClusterDirectory)
        return directory

    @property
    def admission(self) -> ClusterAdmission:
        admission = self.app[ADMISSION_KEY]
        assert isinstance(admission, ClusterAdmission)
        return admission

    @property
    def cluster(self) -> Cluster:
        return self.admission.cluster

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_node(redis_url: str, node_id: str, prefix: str, **kwargs: int) -> Node:
    port = free_port()
    config = node_config(redis_url, node_id, port, prefix, **kwargs)
    app = create_app(config, None, session_settings=SETTINGS, recognizer=recognizer())
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Node(node_id, f"http://127.0.0.1:{port}", app, runner)


@dataclass
class NodeProcess:
    """A node in its own Python process (``python -m tests.cluster.node_main``)."""

    id: str
    url: str
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)

    async def terminate(self) -> int:
        """SIGTERM: the graceful shutdown an orchestrator sends."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 20)

    async def kill(self) -> None:
        """SIGKILL: the node dies without a word (no goodbye to Redis)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


async def spawn_node(redis_url: str, node_id: str, prefix: str, *,
                     max_sessions: int = 4) -> NodeProcess:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.cluster.node_main", "--redis-url", redis_url,
        "--node-id", node_id, "--port", str(port), "--prefix", prefix,
        "--max-sessions", str(max_sessions),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    node = NodeProcess(node_id, f"http://127.0.0.1:{port}", process)
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError(f"node {node_id} exited: {''.join(node.output)}")
        node.output.append(line)
        if line.startswith("node ready"):
            break
    asyncio.ensure_future(_collect(process, node.output))
    return node


async def _collect(process: asyncio.subprocess.Process, into: list[str]) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        into.append(line.decode())
