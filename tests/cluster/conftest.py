"""Fixtures of the cluster tests: one real redis-server per test session, a fresh key prefix
per test (tests never see each other's nodes), nodes that are always stopped."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from tests.cluster.nodes import Node, NodeProcess, spawn_node, start_node
from tests.support.redis import RedisServer, RedisUnavailable, redis_server


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    try:
        with redis_server() as server:
            yield server
    except RedisUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def redis_up(redis: RedisServer) -> AsyncIterator[RedisServer]:
    """The server, started again after a test that stopped it."""
    yield redis
    if redis.process is None:
        redis.start()


StartNode = Callable[..., Awaitable[Node]]
SpawnNode = Callable[..., Awaitable[NodeProcess]]


@pytest.fixture
async def nodes(redis_up: RedisServer, prefix: str) -> AsyncIterator[StartNode]:
    started: list[Node] = []

    async def start(node_id: str, **kwargs: int) -> Node:
        node = await start_node(redis_up.url, node_id, prefix, **kwargs)
        started.append(node)
        return node

    yield start
    for node in reversed(started):
        await node.stop()


@pytest.fixture
async def processes(redis_up: RedisServer, prefix: str) -> AsyncIterator[SpawnNode]:
    started: list[NodeProcess] = []

    async def spawn(node_id: str, **kwargs: int) -> NodeProcess:
        node = await spawn_node(redis_up.url, node_id, prefix, **kwargs)
        started.append(node)
        return node

    yield spawn
    for node in started:
        await node.kill()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0,
                     what: str = "condition") -> None:
    """Wait until ``predicate()`` holds (heartbeats make cluster views eventually right)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
