"""The download progress bar an operator sees on stderr during the one-time fetch.

A first start downloads 40 MB before the gateway listens; without feedback that looks
like a hang. stderr keeps stdout clean for anything that parses it.
"""

from __future__ import annotations

import sys

__all__ = ["StderrProgress"]


class StderrProgress:
    """One self-overwriting line on stderr: ``name [#####.....]  45%  18.2/40.0 MB``.

    Redraws only when the shown percentage changes, so a log file captured from a
    non-terminal stderr gets ~100 updates rather than one per 256 KiB block.
    """

    def __init__(self, label: str, width: int = 30) -> None:
        self._label = label
        self._width = width
        self._last: object = None
        self._open = False

    def __call__(self, done: int, total: int | None) -> None:
        mb = done / 1e6
        if total:
            frac = min(done / total, 1.0)
            pct = int(frac * 100)
            key: object = pct
            filled = int(frac * self._width)
            bar = "#" * filled + "." * (self._width - filled)
            line = f"Downloading {self._label} [{bar}] {pct:3d}%  {mb:.1f}/{total / 1e6:.1f} MB"
            finished = done >= total
        else:
            key = int(mb)
            line = f"Downloading {self._label} ... {mb:.1f} MB"
            finished = False
        if key == self._last and not finished:
            return
        self._last = key
        self._open = not finished
        end = "\n" if finished else ""
        print(f"\r{line}", end=end, file=sys.stderr, flush=True)

    def close(self) -> None:
        """End a bar left open by a failed download, so the error starts on its own line."""
        if self._open:
            print(file=sys.stderr, flush=True)
            self._open = False
