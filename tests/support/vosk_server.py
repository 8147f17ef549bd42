"""A real server of vosk-server's WebSocket protocol, with real Vosk behind it, on loopback.

Behaves as alphacep/vosk-server websocket/asr_server.py does (written from its protocol,
not copied): a text frame containing ``config`` sets ``sample_rate``, ``words``,
``max_alternatives``, ``phrase_list`` until the recogniser exists (it is created on the first
other frame); every other frame gets exactly one JSON answer, computed in a thread pool:
the literal ``{"eof" : 1}`` gives the final result and ends the connection, the literal
``{"reset" : 1}`` the final result and the stream goes on, audio gives ``Result()`` when
Vosk ends a phrase and ``PartialResult()`` otherwise. Defaults as the real server's:
8000 Hz until configured, words on, no alternatives.

``dialect`` reproduces the older servers a deployment may still run:

* ``"python"``: today's asr_server.py (config, eof, reset);
* ``"legacy"``: before December 2023: no reset; any text that is neither config nor the
  eof literal reaches ``AcceptWaveform`` as ``str``, fails, and the connection closes 1011;
* ``"cpp"``: websocket-cpp/asr_server.cpp: no config (its rate is fixed), every frame but
  the eof literal is fed as audio bytes.

``kill()`` drops every connection without a close frame, as a crashed process would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import vosk
from aiohttp import WSCloseCode, WSMsgType, web

EOF_TEXT = '{"eof" : 1}'
RESET_TEXT = '{"reset" : 1}'
Dialect = Literal["python", "legacy", "cpp"]

_MODELS: dict[str, vosk.Model] = {}


def load_model(path: str | Path) -> vosk.Model:
    """One model per path per process (a ``vosk.Model`` is read-only and shareable)."""
    key = str(path)
    if key not in _MODELS:
        vosk.SetLogLevel(-1)
        _MODELS[key] = vosk.Model(key)
    return _MODELS[key]


@dataclass
class SessionLog:
    """What one client connection did, for tests to inspect."""

    config: dict[str, object] = field(default_factory=dict)
    audio_frames: int = 0
    audio_bytes: int = 0
    texts: list[str] = field(default_factory=list)
    replies: list[dict[str, object]] = field(default_factory=list)
    close_code: int | None = None


class VoskServer:
    """``async with VoskServer(model_path) as server: server.url``"""

    def __init__(self, model_path: str | Path, *, dialect: Dialect = "python",
                 sample_rate: float = 8000, show_words: bool = True,
                 max_alternatives: int = 0, workers: int = 2, port: int = 0,
                 heartbeat: float | None = None) -> None:
        self.model = load_model(model_path)
        self.dialect = dialect
        self.sample_rate = sample_rate
        self.show_words = show_words
        self.max_alternatives = max_alternatives
        self.port = port
        self.heartbeat = heartbeat  # the real server's websockets library pings every 20 s
        self.sessions: list[SessionLog] = []
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vosk-server")
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._requests: list[web.BaseRequest] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._sockets)

    async def __aenter__(self) -> VoskServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            for ws in list(self._sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY)
            await runner.cleanup()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def kill(self) -> None:
        """Vanish like a killed process: no close frames, sockets reset, port closed."""
        runner, self._runner = self._runner, None
        for request in list(self._requests):
            if request.transport is not None:
                request.transport.abort()
        if runner is not None:
            await runner.cleanup()

    async def restart(self) -> None:
        """Come back on the same port (after ``kill``)."""
        await self.start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, heartbeat=self.heartbeat)
        await ws.prepare(request)
        log = SessionLog()
        self.sessions.append(log)
        self._sockets.add(ws)
        self._requests.append(request)
        try:
            await self._session(ws, log)
        finally:
            self._sockets.discard(ws)
            self._requests.remove(request)
            log.close_code = ws.close_code
        return ws

    async def _session(self, ws: web.WebSocketResponse, log: SessionLog) -> None:
        loop = asyncio.get_running_loop()
        sample_rate, words, alternatives = self.sample_rate, self.show_words, \
            self.max_alternatives
        phrase_list: list[str] | None = None
        rec: vosk.KaldiRecognizer | None = None
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            data: str | bytes = msg.data
            if isinstance(data, str):
                log.texts.append(data)
                if self.dialect != "cpp" and "config" in data:
                    config = json.loads(data)["config"]
                    log.config.update(config)
                    phrase_list = config.get("phrase_list", phrase_list)
                    sample_rate = float(config.get("sample_rate", sample_rate))
                    words = bool(config.get("words", words))
                    alternatives = int(config.get("max_alternatives", alternatives))
                    continue
            else:
                log.audio_frames += 1
                log.audio_bytes += len(data)
            if rec is None:
                rec = (vosk.KaldiRecognizer(self.model, sample_rate, json.dumps(phrase_list))
                       if phrase_list else vosk.KaldiRecognizer(self.model, sample_rate))
                rec.SetWords(words)
                rec.SetMaxAlternatives(alternatives)
            try:
                reply, stop = await loop.run_in_executor(self._pool, self._process, rec, data)
            except TypeError:  # str into AcceptWaveform, as the Python servers do
                await ws.close(code=WSCloseCode.INTERNAL_ERROR)
                return
            log.replies.append(json.loads(reply))
            await ws.send_str(reply)
            if stop:
                break
        await ws.close()

    def _process(self, rec: vosk.KaldiRecognizer, data: str | bytes) -> tuple[str, bool]:
        if data == EOF_TEXT:
            return rec.FinalResult(), True
        if data == RESET_TEXT and self.dialect == "python":
            return rec.FinalResult(), False
        if isinstance(data, str) and self.dialect == "cpp":
            data = data.encode()
        if rec.AcceptWaveform(data):
            return rec.Result(), False
        return rec.PartialResult(), False


class SilentServer:
    """Accepts TCP connections and never answers (a handshake that never completes)."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.accepted = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        await reader.read()  # until the client gives up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(args: argparse.Namespace) -> None:
    server = VoskServer(args.model, dialect=args.dialect, sample_rate=args.sample_rate,
                        port=args.port)
    await server.start()
    print(f"listening {server.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    """``python -m tests.support.vosk_server --model DIR [--port N]``: the same server as a
    separate process (for benchmarks, and tests that kill it with a signal)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dialect", choices=("python", "legacy", "cpp"), default="python")
    parser.add_argument("--sample-rate", type=float, default=8000)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
