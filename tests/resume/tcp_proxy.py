"""A loopback TCP proxy the tests control: the network between a client and the gateway.

Clients connect to the proxy, which connects to the gateway and pipes bytes both ways.
``cut(seconds)`` is a network outage at the TCP level: every open connection is aborted
(reset, as when a Wi-Fi network goes away or a NAT forgets the mapping) and, for
``seconds``, new connections are reset as soon as they arrive. With ``upgrade="refuse"`` the
proxy is a corporate proxy that refuses WebSocket upgrades (``403``); ``upgrade="strip"``
forwards them without their ``Upgrade``/``Connection`` headers, so the server sees a plain
GET. Everything else passes, request by request (the proxy reads each request head, so a
later upgrade on a kept-alive connection is caught too).

Only TCP goes through it: WebRTC media (UDP, straight to the gateway's candidates) does not,
so cutting the proxy cuts signaling and leaves the media path alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

MAX_HEAD = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, upgrade: str = "pass") -> None:
        assert upgrade in ("pass", "refuse", "strip")
        self.target = (target_host, target_port)
        self.upgrade = upgrade
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._blocked_until = 0.0
        self.accepted = 0
        self.refused = 0  # connections reset during an outage
        self.upgrades = 0  # WebSocket upgrades refused or stripped
        self.requests: list[str] = []  # request lines seen (HTTP-aware modes)

    @classmethod
    async def to(cls, url: str, *, upgrade: str = "pass") -> TcpProxy:
        host, _, port = url.split("//", 1)[1].rstrip("/").partition(":")
        proxy = cls(host, int(port), upgrade=upgrade)
        await proxy.start()
        return proxy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def blocked(self) -> bool:
        return time.monotonic() < self._blocked_until

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self, seconds: float = 0.0) -> int:
        """Reset every open connection; refuse new ones for ``seconds``. Returns how many
        connections were cut."""
        self._blocked_until = time.monotonic() + seconds
        cut = len(self._open)
        for writer in list(self._open):
            _abort(writer)
        self._open.clear()
        return cut

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            self.refused += 1
            _abort(writer)
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        self._open.update((writer, up_writer))
        upstream = self._requests(reader, up_writer, writer) if self.upgrade != "pass" \
            else _pipe(reader, up_writer)
        tasks = [asyncio.ensure_future(upstream),
                 asyncio.ensure_future(_pipe(up_reader, writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for w in (writer, up_writer):
                self._open.discard(w)
                w.close()

    async def _requests(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter,
                        client: asyncio.StreamWriter) -> None:
        """Forward HTTP requests one by one, acting on WebSocket upgrades."""
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            self.requests.append(lines[0])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            if "upgrade" in headers:
                self.upgrades += 1
                if self.upgrade == "refuse":
                    body = b"WebSocket upgrades are not allowed by this proxy\n"
                    client.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: " + str(len(body)).encode() +
                                 b"\r\nConnection: close\r\n\r\n" + body)
                    await client.drain()
                    return
                kept = [line for line in lines if not line.lower().startswith(
                    ("upgrade:", "connection:", "sec-websocket-"))]
                head = "\r\n".join(kept).encode("latin-1")
            up.write(head)
            length = int(headers.get("content-length", "0") or 0)
            if length:
                up.write(await reader.readexactly(length))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                await _chunked(reader, up)
            await up.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def _chunked(reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        up.write(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        up.write(await reader.readexactly(size + 2))
        if size == 0:
            return


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()
