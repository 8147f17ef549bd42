"""Streamed containers — WebM from ``MediaRecorder``, Ogg, FLAC — decoded as they arrive.

The approach: FFmpeg's demuxers pull bytes through a read callback and cannot be suspended
in the middle of a parse, while the bytes arrive one WebSocket frame at a time, cut at any
offset (the first frame carries the EBML header, later ones pieces of clusters). So each
stream gets one worker thread running PyAV's demux/decode loop over a pipe whose ``read``
blocks *the worker* until the next frame comes. After each push the caller waits until the
worker is starved again (blocked in ``read`` with the pipe empty): by then every complete
packet in the pushed bytes has been decoded, so each push returns all the PCM its bytes
completed, deterministically, and the pipe never holds more than one frame.

Bounded: the pipe holds at most one frame (the caller waits before pushing the next); FFmpeg
reads through a 4 KiB buffer and is told not to probe ahead (``probesize``/``analyzeduration``:
the container header names the codec); PCM produced per push is capped (a FLAC stream of
digital silence compresses ~1000:1, so a few KiB could otherwise expand to minutes).
Non-blocking: :meth:`ContainerDecoder.decode` and :meth:`~ContainerDecoder.finish` await a
future the worker resolves with ``call_soon_threadsafe``; the sync ``push``/``close`` block
the calling thread for the decode time (milliseconds) and are for threads and tests.
A decoder that is dropped without ``close`` is aborted by a finalizer, so no thread leaks.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterable

import av

from gateway.protocols.symbl.audio_format import AudioDecodeError

__all__ = ["ContainerDecoder", "FrameResampler"]

# 60 s of 16 kHz s16 per push: far beyond any real frame, far below a memory problem.
MAX_OUTPUT_BYTES = 60 * 16_000 * 2
# A push is decoded in milliseconds; a worker this late is stuck, not slow.
STALL_SECONDS = 10.0
_OPEN_OPTIONS = {"probesize": "32", "analyzeduration": "0"}


class FrameResampler:
    """Decoded frames (any sample format, layout, rate) to mono s16le bytes at ``rate``.

    A stream whose format changes midway (a chained Ogg file) gets a fresh resampler.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler: av.AudioResampler | None = None
        self._shape: tuple[str, str, int] | None = None

    def push(self, frames: Iterable[av.AudioFrame]) -> bytes:
        out: list[bytes] = []
        for frame in frames:
            shape = (frame.format.name, frame.layout.name, frame.sample_rate)
            if self._resampler is None or shape != self._shape:
                out.append(self.flush())
                self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
                self._shape = shape
            frame.pts = None  # sample counts are the clock; never let swr stretch to pts
            out.extend(f.to_ndarray().astype("<i2", copy=False).tobytes()
                       for f in self._resampler.resample(frame))
        return b"".join(out)

    def flush(self) -> bytes:
        resampler, self._resampler = self._resampler, None
        if resampler is None:
            return b""
        return b"".join(f.to_ndarray().astype("<i2", copy=False).tobytes()
                        for f in resampler.resample(None))


class _Worker:
    """State shared by the caller and the decoding thread; every field under ``cv``."""

    def __init__(self, container_format: str, rate: int) -> None:
        self.container_format = container_format
        self.rate = rate
        self.cv = threading.Condition()
        self.pending = bytearray()
        self.output = bytearray()
        self.eof = False
        self.aborted = False
        self.idle = True  # starved in read() with nothing pending, or finished
        self.done = False
        self.error: str | None = None
        self.waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    # ---------------------------------------------------------------- worker thread side

    def read(self, size: int) -> bytes:
        """FFmpeg's read callback: blocks until bytes come; b"" means end of stream."""
        with self.cv:
            while not self.pending:
                if self.eof or self.aborted:
                    return b""
                self._become_idle()
                self.cv.wait()
            chunk = bytes(self.pending[:size])
            del self.pending[:size]
            return chunk

    def _become_idle(self) -> None:
        self.idle = True
        self.cv.notify_all()
        if self.waiter is not None:
            loop, future = self.waiter
            self.waiter = None
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _emit(self, pcm: bytes) -> None:
        if not pcm:
            return
        with self.cv:
            if len(self.output) + len(pcm) > MAX_OUTPUT_BYTES:
                raise AudioDecodeError("audio expands to more than 60 s in one frame")
            self.output += pcm

    def run(self) -> None:
        resampler = FrameResampler(self.rate)
        try:
            with av.open(_Reader(self), "r", format=self.container_format,
                         options=_OPEN_OPTIONS, buffer_size=4096) as container:
                if not container.streams.audio:
                    raise AudioDecodeError(f"the {self.container_format} stream has no audio")
                stream = container.streams.audio[0]
                for packet in container.demux(stream):
                    self._emit(resampler.push(packet.decode()))
                    if self.aborted:
                        return
            self._emit(resampler.flush())
        except AudioDecodeError as exc:
            self._fail(str(exc))
        except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
            self._fail(f"{self.container_format} stream does not decode: {exc}")
        finally:
            with self.cv:
                self.done = True
                self._become_idle()

    def _fail(self, message: str) -> None:
        with self.cv:
            self.error = message

    # ---------------------------------------------------------------- caller side

    def feed(self, data: bytes, *, eof: bool = False) -> None:
        with self.cv:
            if self.done and not eof:
                raise AudioDecodeError(self.error or "the audio stream already ended")
            self.pending += data
            self.eof = self.eof or eof
            if not self.done:
                self.idle = False
            self.cv.notify_all()

    def take(self, *, raise_error: bool = True) -> bytes:
        """The PCM decoded so far; a failure is raised once its earlier PCM was taken."""
        with self.cv:
            if self.output:
                out = bytes(self.output)
                self.output.clear()
                return out
            if self.error is not None and raise_error:
                raise AudioDecodeError(self.error)
            return b""

    def abort(self) -> None:
        with self.cv:
            self.aborted = True
            self.pending.clear()
            self.cv.notify_all()


class _Reader:
    """The file-like PyAV reads: only ``read``, so FFmpeg treats the stream as unseekable."""

    def __init__(self, worker: _Worker) -> None:
        self.read = worker.read


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ContainerDecoder:
    """One streamed container (``matroska``, ``ogg`` or ``flac``) to mono s16le at ``rate``."""

    def __init__(self, container_format: str, rate: int) -> None:
        self.encoding = container_format
        self.sample_rate = rate
        self._worker = _Worker(container_format, rate)
        self._thread: threading.Thread | None = None
        self._finalizer = weakref.finalize(self, self._worker.abort)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._worker.run, daemon=True,
                                            name=f"symbl-{self.encoding}-decoder")
            self._thread.start()

    def _wait_idle(self) -> None:
        with self._worker.cv:
            if not self._worker.cv.wait_for(lambda: self._worker.idle, STALL_SECONDS):
                raise AudioDecodeError("the audio decoder stalled")

    async def _await_idle(self) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._worker.cv:
            if self._worker.idle:
                return
            self._worker.waiter = (loop, future)
        try:
            await asyncio.wait_for(future, STALL_SECONDS)
        except TimeoutError:
            raise AudioDecodeError("the audio decoder stalled") from None

    def push(self, data: bytes) -> bytes:
        self._start()
        self._worker.feed(data)
        self._wait_idle()
        return self._worker.take()

    async def decode(self, data: bytes) -> bytes:
        self._start()
        self._worker.feed(data)
        await self._await_idle()
        return self._worker.take()

    def close(self) -> bytes:
        if self._thread is None:
            return b""
        self._worker.feed(b"", eof=True)
        self._wait_idle()
        self._thread.join(STALL_SECONDS)
        return self._worker.take(raise_error=False)  # a failure was raised by a push

    async def finish(self) -> bytes:
        if self._thread is None:
            return b""
        self._worker.feed(b"", eof=True)
        await self._await_idle()
        return self._worker.take(raise_error=False)

    def abort(self) -> None:
        self._finalizer()
