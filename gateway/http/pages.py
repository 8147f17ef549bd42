"""The static pages (no build step): the call page at ``/`` and its assets at ``/static/``."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .csp import page_headers


def setup(app: web.Application, web_root: Path) -> None:
    async def index(request: web.Request) -> web.StreamResponse:
        # FileResponse itself answers 404 when the file is missing; no blocking stat here.
        return web.FileResponse(web_root / "index.html", headers=page_headers(request))

    async def favicon(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(web_root / "favicon.svg",
                                headers={"Content-Type": "image/svg+xml"})

    app.router.add_get("/", index)
    app.router.add_get("/favicon.ico", favicon)
    if web_root.is_dir():
        app.router.add_static("/static/", web_root, show_index=False, follow_symlinks=False)
