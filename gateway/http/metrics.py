"""``GET /metrics``: Prometheus exposition of the process-wide series and this app's gauges.

The text format by default, OpenMetrics when the scraper asks for it (``Accept``). Series
names and labels are listed in docs/operations.md. Rendering walks in-memory tables only, so
it runs on the loop; it is not authenticated: expose it on a private network or behind the
proxy's access rules, as with any Prometheus target.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from gateway.observability.collector import app_registry

REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(request.app[REGISTRY_KEY])
    response = web.Response(body=body, headers={"Cache-Control": "no-store"})
    response.headers["Content-Type"] = content_type
    return response


def setup(app: web.Application) -> None:
    app[REGISTRY_KEY] = app_registry(app)
    app.router.add_get("/metrics", metrics)
