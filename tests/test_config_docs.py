"""docs/configuration.md names every flag and environment variable the gateway reads, and
nothing it does not: the public interface and its documentation cannot drift apart."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from gateway.config.flags import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
# Flags that only answer with what replaced them; the docs say so.
RETIRED = {"--subscribe-token", "--whip-token"}


def flags() -> set[str]:
    return {option for action in build_parser({})._actions
            if action.help != argparse.SUPPRESS
            for option in action.option_strings if option.startswith("--")} - {"--help"}


def test_every_flag_is_documented_and_every_documented_flag_exists() -> None:
    documented = set(re.findall(r"`(--[a-z0-9-]+)", DOCS))
    assert flags() - documented == set(), "flags missing from docs/configuration.md"
    assert documented - flags() - RETIRED == set(), "documented flags that do not exist"
    assert RETIRED <= documented


def test_every_environment_variable_read_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "gateway").rglob("*.py"))
    read = set(re.findall(r"""["'](GATEWAY_[A-Z0-9_]+)["']""", source)) - {"GATEWAY_DEFAULTS"}
    assert "GATEWAY_ABANDONED_AFTER" in read
    assert {name for name in read if not re.search(f"`{name}[`=]", DOCS)} == set()
