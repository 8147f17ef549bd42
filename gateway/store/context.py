"""The store's lifecycle in an aiohttp application (a cleanup context).

Register it before the features that publish results, so it opens first and closes last:
sessions flush their final results into the sink, then the store commits them and stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from .config import StoreConfig
from .store import Store

STORE_KEY = web.AppKey("conversation_store", Store)
CLOSE_TIMEOUT = 10.0


def store_cleanup_context(config: StoreConfig) -> Callable[[web.Application],
                                                           AsyncIterator[None]]:
    """``app.cleanup_ctx.append(store_cleanup_context(config))``; the store is at
    ``app[STORE_KEY]`` from start-up on (its ``sink`` is the output to register)."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = await Store.open(config)
        app[STORE_KEY] = store
        try:
            yield
        finally:
            await store.close(CLOSE_TIMEOUT)

    return lifecycle
