"""A sink that records what it is given, for tests of the bus and conversations."""

from __future__ import annotations

from typing import Any

from gateway.outputs.result import Result


class RecordingSink:
    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.results: list[Result] = []
        self.drained = 0
        self.closed = False

    def send(self, result: Result) -> None:
        if self.closed:
            raise RuntimeError("send after close")
        self.results.append(result)

    async def drain(self, timeout: float) -> None:
        self.drained += 1

    async def close(self) -> None:
        self.closed = True

    def types(self) -> list[str]:
        return [r.type for r in self.results]

    def bodies(self, kind: str) -> list[Any]:
        return [r.body for r in self.results if r.type == kind]
