"""The pages' Content-Security-Policy, sent as a header so it can name the cluster's nodes.

The pages load nothing but their own scripts and styles, so everything else is closed.
They connect to their own origin, to any WebSocket (a cluster redirect may send a call to
another node's ``wss://`` URL), and over HTTP to the other live nodes of the cluster (the
signaling fallback behind proxies that block WebSockets, after such a redirect): the
nodes are those the origin policy trusts, read per request since nodes come and go. A
``<meta>`` policy could not name them, and could not forbid framing.
"""

from __future__ import annotations

from aiohttp import web

from gateway.auth import ACCESS_KEY

FIXED = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
         "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def content_security_policy(request: web.Request) -> str:
    """The policy for a page served in answer to ``request``."""
    access = request.app.get(ACCESS_KEY)
    nodes = sorted(access.origins.trusted_origins()) if access is not None else []
    connect = " ".join(("'self'", "ws:", "wss:", *nodes))
    return f"{FIXED}; connect-src {connect}"


def page_headers(request: web.Request) -> dict[str, str]:
    """Headers of an HTML page: revalidated on every load, and its policy."""
    return {"Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(request)}
