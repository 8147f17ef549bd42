"""JSON for JWT segments that decode with the browser's ``atob``.

Symbl's Web SDK, given an ``accessToken``, reads its expiry in the browser with
``JSON.parse(atob(token.split(".")[1]))`` (symbl-web-sdk src/symbl/index.ts). ``atob``
takes standard base64 only: a JWT segment is base64url, and any ``-`` or ``_`` in it
makes ``atob`` throw, so the SDK refuses the token before connecting. Symbl's own tokens
happened to avoid those characters; ours must too, every time.

A base64 character is ``-``/``_`` (62/63) only when its six bits are ``11111x``. For ASCII
input (``json.dumps`` escapes everything else) that happens in exactly two places of each
3-byte group: the second byte with low nibble ``0xF`` (``/ ? O _ o``), or the third byte
with low six bits ``0x3E``/``0x3F`` (``> ? ~``). None of JSON's structural characters,
digits, literals or escape characters is among them, so such a byte can only be a literal
character inside a string, where its ``\\u00XX`` escape means the same and is itself made
only of safe characters. :class:`AtobSafeEncoder` rewrites those bytes and nothing else;
every JSON parser reads the result as the same value.
"""

from __future__ import annotations

import json
from typing import Any


def _unsafe(byte: int, phase: int) -> bool:
    if phase == 1:
        return byte & 0x0F == 0x0F
    if phase == 2:
        return byte & 0x3F >= 0x3E
    return False


def atob_safe(text: str) -> str:
    """``text`` (ASCII JSON) with the bytes that would encode to ``-``/``_`` escaped."""
    out: list[str] = []
    position = 0
    for ch in text:
        code = ord(ch)
        if code > 0x7F:
            raise ValueError("atob_safe needs ASCII JSON (ensure_ascii=True)")
        if _unsafe(code, position % 3):
            escaped = f"\\u{code:04x}"
            out.append(escaped)
            position += len(escaped)
        else:
            out.append(ch)
            position += 1
    return "".join(out)


class AtobSafeEncoder(json.JSONEncoder):
    """A ``json_encoder`` for PyJWT: compact ASCII JSON whose base64url has no ``-``/``_``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = True
        super().__init__(**kwargs)

    def encode(self, o: Any) -> str:
        return atob_safe(super().encode(o))
