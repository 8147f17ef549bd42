"""``GET /healthz``: liveness and a summary an operator (or a load balancer) can read."""

from __future__ import annotations

import time

from aiohttp import web

from gateway import __version__

from .keys import ADMISSION_KEY, CONFIG_KEY, POOL_KEY, STARTED_KEY, WEBRTC_KEY


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    admission = app[ADMISSION_KEY]
    return web.json_response({
        "status": "ok",
        "version": __version__,
        "uptimeSeconds": round(time.time() - app[STARTED_KEY], 1),
        "sessions": len(app[WEBRTC_KEY].sessions),
        "maxSessions": admission.capacity,
        "recognitionWorkers": app[POOL_KEY].workers,
        "language": app[CONFIG_KEY].language,
        "insights": app[CONFIG_KEY].insights,
    })


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
