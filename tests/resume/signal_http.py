"""A client of the HTTP signaling carrier (``/signal``), written from docs/protocol.md.

The same messages as ``/ws``: ``open()`` makes the connection, ``post()`` sends client
messages (in order: one request at a time), and ``events()`` yields the server's messages
from the event stream (server-sent events) or, with ``poll=True``, from long polls. The
close event (or poll ``closed``) ends the iteration and is kept in ``closed_with``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp


class HttpSignal:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, *, poll: bool = False,
                 query: str = "") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.poll = poll
        self.query = query  # kept on every request (e.g. a load balancer's ?node=b)
        self.connection_id: str | None = None
        self.secret: str | None = None
        self.last_event_id: int | None = None  # sent as Last-Event-ID when known
        self.closed_with: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def headers(self) -> dict[str, str]:
        assert self.connection_id is not None and self.secret is not None
        return {"X-Signal-Connection": self.connection_id, "X-Signal-Secret": self.secret}

    def _url(self, path: str, extra: str = "") -> str:
        query = "&".join(q for q in (self.query, extra) if q)
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    async def open(self, resume: str | None = None) -> dict[str, Any]:
        extra = f"resume={resume}" if resume else ""
        async with self.http.post(self._url("/signal/open", extra)) as resp:
            resp.raise_for_status()
            body: dict[str, Any] = await resp.json()
        self.connection_id, self.secret = body["connectionId"], body["secret"]
        return body

    async def post(self, message: dict[str, Any] | list[dict[str, Any]] | str) -> dict[str, Any]:
        data = message if isinstance(message, str) else json.dumps(message)
        async with self._lock, self.http.post(self._url("/signal"), data=data,
                                              headers=self.headers) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
            if resp.status >= 400:
                raise HttpSignalError(resp.status, body)
            return body

    async def close(self) -> None:
        if self.connection_id is None:
            return
        try:
            async with self.http.delete(self._url("/signal"), headers=self.headers):
                pass
        except aiohttp.ClientError:
            pass

    async def events(self) -> AsyncGenerator[dict[str, Any], None]:
        if self.poll:
            async for message in self._polls():
                yield message
        else:
            async for message in self._stream():
                yield message

    async def _stream(self) -> AsyncGenerator[dict[str, Any], None]:
        headers = dict(self.headers)
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        async with self.http.get(self._url("/signal/events"), headers=headers,
                                 timeout=timeout) as resp:
            resp.raise_for_status()
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            event, event_id = "message", None
            data: list[str] = []
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if data:
                        payload = json.loads("\n".join(data))
                        if event == "close":
                            self.closed_with = payload
                            return
                        if event_id is not None:
                            self.last_event_id = int(event_id)
                        yield payload
                    event, data, event_id = "message", [], None
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        data.append(value)
                    elif field == "event":
                        event = value
                    elif field == "id":
                        event_id = value

    async def _polls(self) -> AsyncGenerator[dict[str, Any], None]:
        while True:
            after = "" if self.last_event_id is None else f"after={self.last_event_id}&"
            url = self._url("/signal/poll", f"{after}wait=20")
            async with self.http.get(url, headers=self.headers) as resp:
                resp.raise_for_status()
                body = await resp.json()
            for event in body["events"]:
                self.last_event_id = int(event["id"])
                yield event["message"]
            if body["closed"] is not None:
                self.closed_with = body["closed"]
                return


class HttpSignalError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
