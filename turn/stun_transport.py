"""A STUN request/response session with one server over UDP, TCP or TLS.

The checks in :mod:`turn.probe` need just enough of a STUN client to send a few requests
and match their answers: aioice's message codec does the encoding, and this module adds
the transports. It does not relay anything. Over UDP a request is retransmitted with
doubling intervals (as in RFC 8489 section 6.2.1, capped at 2 s) until the caller's
deadline cancels it; over TCP/TLS messages are framed by their own length field and each
request is sent once.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Callable

from aioice import stun

from .diagnosis import TurnCheckError
from .urls import IceUrl

__all__ = ["StunSession"]

_FIRST_RTO = 0.25  # UDP retransmission: loopback and LAN answer in well under this


class _StunChannel:
    """Request/response matching over one UDP socket or one TCP/TLS stream."""

    def __init__(self, send: Callable[[bytes], None], reliable: bool) -> None:
        self._send = send
        self._reliable = reliable
        self._pending: dict[bytes, asyncio.Future[stun.Message]] = {}
        self._failure: BaseException | None = None

    def feed(self, data: bytes) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        future = self._pending.get(message.transaction_id)
        if future is not None and not future.done():
            future.set_result(message)

    def fail(self, exc: BaseException) -> None:
        self._failure = exc
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)

    async def request(self, message: stun.Message) -> stun.Message:
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[stun.Message] = asyncio.get_running_loop().create_future()
        self._pending[message.transaction_id] = future
        data = bytes(message)
        try:
            if self._reliable:
                self._send(data)
                return await future
            # UDP: retransmit with doubling intervals until the caller's deadline cancels us.
            rto = _FIRST_RTO
            while True:
                self._send(data)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), rto)
                except TimeoutError:
                    rto = min(rto * 2, 2.0)
        finally:
            self._pending.pop(message.transaction_id, None)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.channel: _StunChannel | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.channel is not None:
            self.channel.feed(data)

    def error_received(self, exc: Exception) -> None:
        # On a connected UDP socket an ICMP port-unreachable arrives as ConnectionRefusedError.
        if self.channel is not None:
            self.channel.fail(exc)


async def _read_stream(reader: asyncio.StreamReader, channel: _StunChannel) -> None:
    try:
        while True:
            header = await reader.readexactly(20)
            (length,) = struct.unpack("!H", header[2:4])
            channel.feed(header + await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as exc:
        channel.fail(ConnectionResetError(f"connection closed by the server ({exc!r})"))


class StunSession:
    """One connection to a STUN/TURN server for the duration of a check."""

    def __init__(self, url: IceUrl, ssl_context: ssl.SSLContext | None) -> None:
        self.url = url
        self.ssl_context = ssl_context
        self.channel: _StunChannel | None = None
        self._close: Callable[[], None] = lambda: None
        self._reader_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        url = self.url
        try:
            infos = await loop.getaddrinfo(
                url.host,
                url.port,
                type=2 if url.transport in (None, "udp") else 1,  # SOCK_DGRAM / SOCK_STREAM
            )
        except OSError as exc:
            raise TurnCheckError(
                f"TURN/STUN server {url} could not be resolved: {exc}", reason="dns", url=url.url
            ) from exc
        address = (str(infos[0][4][0]), int(infos[0][4][1]))
        if url.transport in (None, "udp") and url.scheme in ("stun", "turn"):
            transport, protocol = await loop.create_datagram_endpoint(
                _UdpProtocol, remote_addr=address
            )
            self.channel = _StunChannel(lambda data: transport.sendto(data), reliable=False)
            protocol.channel = self.channel
            self._close = transport.close
            return
        if url.scheme in ("stuns", "turns"):
            context = self.ssl_context or ssl.create_default_context()
            reader, writer = await asyncio.open_connection(
                address[0], address[1], ssl=context, server_hostname=url.host
            )
        else:
            reader, writer = await asyncio.open_connection(address[0], address[1])
        self.channel = _StunChannel(writer.write, reliable=True)
        self._reader_task = asyncio.create_task(_read_stream(reader, self.channel))
        self._close = writer.close

    def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
        self._close()

    async def request(self, message: stun.Message) -> stun.Message:
        assert self.channel is not None
        return await self.channel.request(message)
