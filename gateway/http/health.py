"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness).

``/healthz`` answers 200 whenever the process serves HTTP, with a summary an operator can
read (its JSON is documented in docs/protocol.md and kept stable). ``/readyz`` answers 200
only when a new call would succeed here, else 503 with the reason
(``gateway.observability.readiness``): load balancers route on it, and a draining node
drops out of rotation while its calls finish.
"""

from __future__ import annotations

import time

from aiohttp import web

from gateway import __version__
from gateway.observability.live import LIVE_KEY
from gateway.observability.readiness import readiness

from .keys import ADMISSION_KEY, CONFIG_KEY, POOL_KEY, STARTED_KEY


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    admission = app[ADMISSION_KEY]
    return web.json_response({
        "status": "ok",
        "version": __version__,
        "uptimeSeconds": round(time.time() - app[STARTED_KEY], 1),
        "sessions": app[LIVE_KEY].count(),  # every transport's (WebRTC, WHIP, Symbl)
        "maxSessions": admission.capacity,
        "load": admission.load().to_json(),
        "recognitionWorkers": app[POOL_KEY].workers,
        "language": app[CONFIG_KEY].language,
        "insights": app[CONFIG_KEY].insights,
    })


async def readyz(request: web.Request) -> web.Response:
    state = readiness(request.app)
    return web.json_response(state.to_json(), status=200 if state.ready else 503,
                             headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
