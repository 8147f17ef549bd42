"""``GET /api/ice-servers``: fresh ICE servers for clients that want them before ``/ws``.

The answer holds TURN credentials, and a TURN server relays traffic anywhere for whoever
holds them, so with access control on the request needs a token (any role: a caller about
to join needs them as much as an agent); without one it would be an open relay. The Origin
check applies in open mode too: a foreign page gets no credentials.
"""

from __future__ import annotations

from aiohttp import web

from gateway.auth import ACCESS_KEY, cors_headers

from .keys import ICE_KEY


async def ice_servers(request: web.Request) -> web.Response:
    # An AuthError becomes its JSON refusal (401/403/429) in the access-control middleware.
    access = request.app[ACCESS_KEY]
    principal = await access.authenticate(request)
    ice = request.app[ICE_KEY]
    user = request.query.get("user", "") or principal.subject
    return web.json_response({
        "iceServers": ice.client_servers(user[:64]),
        "iceTransportPolicy": ice.transport_policy,
    }, headers={"Cache-Control": "no-store", **cors_headers(request, access)})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/ice-servers", ice_servers)
