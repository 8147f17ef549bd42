"""Fixtures of the resume tests: a gateway with the scripted recogniser behind a TCP proxy
the test can cut, and a recorder of everything the gateway published."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gateway.config import SessionSettings

# The cluster fixtures (a real redis-server, nodes), for the cluster resume test.
from tests.cluster.conftest import nodes, prefix, redis, redis_up  # noqa: F401
from tests.conftest import RunningGateway, StartGateway
from tests.resume.support import Recorder, recognizer
from tests.resume.tcp_proxy import TcpProxy

SETTINGS = SessionSettings(analytics_interval=60.0, connect_timeout=15.0)

MakeProxy = Callable[..., Awaitable[TcpProxy]]


@pytest.fixture
async def proxies() -> AsyncIterator[MakeProxy]:
    made: list[TcpProxy] = []

    async def make(url: str, **kwargs: Any) -> TcpProxy:
        proxy = await TcpProxy.to(url, **kwargs)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        await proxy.close()


@pytest.fixture
async def scripted(start_gateway: StartGateway) -> Callable[..., Awaitable[RunningGateway]]:
    """``await scripted(resume_grace=..., max_sessions=...)``: a gateway on the script."""

    async def start(**overrides: Any) -> RunningGateway:
        return await start_gateway(settings=SETTINGS, recognizer=recognizer(),
                                   insights=False, database=None, **overrides)

    return start


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
