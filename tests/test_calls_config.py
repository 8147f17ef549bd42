"""The callers-per-conversation limit: flag, environment, default, and bad values."""

from __future__ import annotations

import pytest

from gateway.config import parse_config


def test_two_callers_by_default() -> None:
    assert parse_config([], env={}).max_participants == 2


def test_flag_and_environment() -> None:
    assert parse_config([], env={"GATEWAY_MAX_PARTICIPANTS": "4"}).max_participants == 4
    assert parse_config(["--max-participants", "3"],
                        env={"GATEWAY_MAX_PARTICIPANTS": "4"}).max_participants == 3


@pytest.mark.parametrize(("argv", "env"), [(["--max-participants", "0"], {}),
                                           ([], {"GATEWAY_MAX_PARTICIPANTS": "0"}),
                                           ([], {"GATEWAY_MAX_PARTICIPANTS": "two"})])
def test_bad_values_stop_with_the_name(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_config(argv, env=env)
    assert exc.value.code != 0
