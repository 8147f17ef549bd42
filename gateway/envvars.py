"""Environment variables as flag defaults: one reader for every flag group.

Every flag has an environment variable (docs/configuration.md); its value goes through the
flag's own type, so a variable is checked exactly like the flag. argparse does not check
defaults, so a bad variable is reported here, naming the variable (the operator set it, not
a flag) and stopping before anything starts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")
D = TypeVar("D")


def env_value(env: Mapping[str, str], name: str, convert: Callable[[str], T], default: D, *,
              expected: str) -> T | D:
    """``convert(env[name])``, or ``default`` when it is unset or empty; a value ``convert``
    refuses stops the program with ``error: NAME must be EXPECTED, got 'VALUE'``."""
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return convert(value)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        detail = f" ({exc})" if isinstance(exc, argparse.ArgumentTypeError) else ""
        raise SystemExit(f"error: {name} must be {expected}, got {value!r}{detail}") from None


def env_int(env: Mapping[str, str], name: str, default: D) -> int | D:
    return env_value(env, name, int, default, expected="an integer")
