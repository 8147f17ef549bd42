"""``GET /api/ice-servers``: fresh ICE servers for clients that want them before ``/ws``."""

from __future__ import annotations

from aiohttp import web

from .keys import ICE_KEY


async def ice_servers(request: web.Request) -> web.Response:
    ice = request.app[ICE_KEY]
    user = request.query.get("user", "") or "anonymous"
    return web.json_response({
        "iceServers": ice.client_servers(user[:64]),
        "iceTransportPolicy": ice.transport_policy,
    }, headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/ice-servers", ice_servers)
