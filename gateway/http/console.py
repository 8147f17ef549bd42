"""``GET /console``: the support-agent console (a static page, no build step, like ``/``).

The page lists live and recent conversations (``/api/conversations``, ``/api/console/feed``)
and watches any of them over ``/subscribe/{id}``; its scripts and styles are served from
``/static/`` with the call page's. The page itself is open: what it shows comes from
endpoints that check the access token.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .csp import page_headers


def setup(app: web.Application, web_root: Path) -> None:
    async def console(request: web.Request) -> web.StreamResponse:
        # FileResponse answers 404 itself when the file is missing; no blocking stat here.
        return web.FileResponse(web_root / "console.html", headers=page_headers(request))

    async def slash(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect("/console")

    app.router.add_get("/console", console)
    app.router.add_get("/console/", slash)
