"""Fixtures for the conversation store: the same tests on SQLite and on a real PostgreSQL.

PostgreSQL is a throwaway cluster started once per test session (tests/support/postgres.py);
each test gets a fresh database in it. Without the server binaries the PostgreSQL half is
skipped with the reason; the SQLite half always runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.http.conversations import Authorize, allow_all, setup_conversation_api
from gateway.store import Store, StoreConfig
from tests.support.postgres import PostgresCluster, PostgresUnavailable, postgres_cluster

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster | str]:
    """The session's cluster, or the reason there is none (tests skip with it)."""
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except PostgresUnavailable as exc:
        yield str(exc)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path,
             pg_cluster: PostgresCluster | str) -> str:
    """A fresh, empty database URL of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if isinstance(pg_cluster, str):
        pytest.skip(f"PostgreSQL unavailable: {pg_cluster}")
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


OpenStore = Callable[..., Awaitable[Store]]


@pytest.fixture
async def open_store(database: str) -> AsyncIterator[OpenStore]:
    """Open stores on the test's database (several times: restarts); all closed at the end."""
    stores: list[Store] = []

    async def open_(**overrides: Any) -> Store:
        store = await Store.open(replace(StoreConfig(database), **overrides))
        stores.append(store)
        return store

    yield open_
    for store in stores:
        await store.close()


@dataclass
class Api:
    """A real HTTP server on loopback serving the conversation API of one store."""

    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.session.get(self.url + path, params=params) as response:
            return response.status, await response.json(content_type=None)

    async def delete(self, path: str) -> tuple[int, Any]:
        async with self.session.delete(self.url + path) as response:
            return response.status, await response.json(content_type=None)

    async def request(self, method: str, path: str) -> tuple[int, Any, dict[str, str]]:
        async with self.session.request(method, self.url + path) as response:
            return response.status, await response.json(content_type=None), dict(
                response.headers)


StartApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def start_api() -> AsyncIterator[StartApi]:
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(store: Store, authorize: Authorize = allow_all) -> Api:
        app = web.Application()
        setup_conversation_api(app, store, authorize=authorize)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Api(f"http://127.0.0.1:{runner.addresses[0][1]}", session)

    yield start
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()
