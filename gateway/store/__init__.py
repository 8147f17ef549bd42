"""Conversation store: every conversation's results kept as they happen (SQLite or PostgreSQL)
and served back through Symbl's Conversation API shapes (``gateway.http.conversations``).

Wiring: ``app.cleanup_ctx.append(store_cleanup_context(StoreConfig(database=…)))``, then
``app[STORE_KEY].sink`` is the :class:`StoreSink` that receives every conversation's
``Result`` objects in publish order.
"""

from .access import OPEN, Principal
from .config import StoreConfig, StoreConfigError
from .context import STORE_KEY, store_cleanup_context
from .sink import StoreSink
from .store import Store, StoreUnavailable

__all__ = [
    "OPEN",
    "STORE_KEY",
    "Principal",
    "Store",
    "StoreConfig",
    "StoreConfigError",
    "StoreSink",
    "StoreUnavailable",
    "store_cleanup_context",
]
