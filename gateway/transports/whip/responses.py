"""WHIP's HTTP surface details: problem responses, CORS, ICE server Link headers.

Errors are RFC 9457 problem details (``application/problem+json``) with a stable ``code``
member, so a client that does not know a code still falls back to the status's meaning
(RFC 9725 section 4.1). Browsers publishing from another origin need CORS on every
response, and the ``Location``/``ETag``/``Link`` headers exposed to scripts.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from gateway.observability.metrics import count_error

SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"
ENDPOINT_METHODS = "POST, GET, OPTIONS"
SESSION_METHODS = "PATCH, DELETE, GET, OPTIONS"

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Post, Accept-Patch, "
                                     "Retry-After, Conversation-Id",
}
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, GET, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Max-Age": "86400",
}


def headers(**extra: str) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict(CORS)
    for name, value in extra.items():
        out[name.replace("_", "-")] = value
    return out


def problem(status: int, code: str, detail: str, *,
            extra: CIMultiDict[str] | None = None) -> web.Response:
    """An error response, counted in ``gateway_errors_total{source="whip"}``."""
    count_error("whip", code)
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "code": code, "detail": detail}
    out = headers()
    if extra:
        out.extend(extra)
    return web.json_response(body, status=status, headers=out,
                             content_type="application/problem+json")


def ice_server_links(servers: list[dict[str, Any]]) -> list[str]:
    """``Link: <url>; rel="ice-server"; username=...`` per URL (RFC 9725 section 4.6)."""
    links = []
    for server in servers:
        urls = server.get("urls") or []
        for url in [urls] if isinstance(urls, str) else urls:
            link = f'<{url}>; rel="ice-server"'
            if server.get("username") is not None and server.get("credential") is not None:
                link += (f'; username={_quoted(str(server["username"]))}'
                         f'; credential={_quoted(str(server["credential"]))}'
                         '; credential-type="password"')
            links.append(link)
    return links


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def etag_matches(if_match: str, etag: str) -> bool:
    """RFC 9110 section 13.1.1: ``*`` or a list of entity-tags, strong comparison."""
    if if_match.strip() == "*":
        return True
    return any(tag.strip() == etag and not tag.strip().startswith("W/")
               for tag in if_match.split(","))
