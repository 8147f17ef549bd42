"""Whether a directory is a model: landmark files for ours or theirs, sha256 for ours.

Two levels of trust. A model the operator names is theirs (bigger, other-language models
whose sums we cannot know), so we only check it *looks* like a Vosk model, to fail with a
named missing file instead of Kaldi's terse log line or an abort. A model we fetched must
match its embedded sums file by file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

__all__ = ["looks_like_vosk_model", "verify_model_dir"]

_HASH_BLOCK = 256 * 1024
"""Read size while hashing: large enough that per-call overhead vanishes, small enough
that hashing a 40 MB graph never holds more than this in memory."""


def looks_like_vosk_model(path: Path) -> list[str]:
    """Return what is missing for ``path`` to be a Vosk model directory (empty if fine).

    Vosk itself fails on a wrong directory with a terse Kaldi log line, or aborts the
    process; checking the landmark files first lets us say which file is missing.
    """
    missing: list[str] = []
    if not (path / "am" / "final.mdl").is_file():
        missing.append("am/final.mdl")
    if not (path / "conf" / "model.conf").is_file():
        missing.append("conf/model.conf")
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst)")
    return missing


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_model_dir(path: Path, sha256: Mapping[str, str]) -> list[str]:
    """Hash every listed file under ``path``; return human-readable problems (empty = ok)."""
    problems: list[str] = []
    for rel, expected in sorted(sha256.items()):
        file = path.joinpath(*PurePosixPath(rel).parts)
        if not file.is_file():
            problems.append(f"{rel}: missing")
            continue
        actual = _sha256_file(file)
        if actual != expected.lower():
            problems.append(f"{rel}: sha256 mismatch (expected {expected}, got {actual})")
    return problems
