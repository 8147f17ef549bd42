"""The permission table, cell by cell."""

from __future__ import annotations

import pytest

from gateway.auth import (
    ANONYMOUS,
    Action,
    AuthError,
    Principal,
    Role,
    allowed,
    authorize,
    default_conversation,
)
from gateway.auth import errors as e
from gateway.auth.policy import list_filter

CALLER = Principal("app", Role.CALLER, "X", frozenset({"A"}), token_id="t1")
AGENT = Principal("app", Role.AGENT, "X", token_id="t2")
SERVICE = Principal("app", Role.SERVICE, "ops", token_id="t3")


@pytest.mark.parametrize("principal, action, cid, tenant, expected", [
    (CALLER, Action.JOIN, "A", None, True),       # creates A in X
    (CALLER, Action.JOIN, "A", "X", True),
    (CALLER, Action.WATCH, "A", "X", True),
    (CALLER, Action.READ, "A", "X", True),
    (CALLER, Action.JOIN, "B", None, False),
    (CALLER, Action.READ, "B", "X", False),
    (CALLER, Action.JOIN, "A", "Y", False),       # its id, but another tenant's call
    (CALLER, Action.DELETE, "A", "X", False),
    (AGENT, Action.JOIN, "any", None, True),
    (AGENT, Action.WATCH, "any", "X", True),
    (AGENT, Action.READ, "any", "X", True),
    (AGENT, Action.READ, "any", "Y", False),
    (AGENT, Action.WATCH, "any", "Y", False),
    (AGENT, Action.DELETE, "any", "X", False),
    (SERVICE, Action.DELETE, "any", "Y", True),
    (SERVICE, Action.READ, "any", "X", True),
    (ANONYMOUS, Action.DELETE, "any", "Y", True),
])
def test_table(principal: Principal, action: Action, cid: str, tenant: str | None,
               expected: bool) -> None:
    assert allowed(principal, action, cid, tenant) is expected


def test_refusals_are_403_with_codes() -> None:
    cases = [(CALLER, Action.READ, "B", "X", e.CONVERSATION_NOT_IN_SCOPE),
             (AGENT, Action.READ, "c", "Y", e.OTHER_TENANT),
             (AGENT, Action.DELETE, "c", "X", e.FORBIDDEN)]
    for principal, action, cid, tenant, code in cases:
        with pytest.raises(AuthError) as info:
            authorize(principal, action, cid, tenant)
        assert (info.value.status, info.value.code) == (403, code)


def test_a_waiting_watch_is_rechecked_when_the_conversation_starts() -> None:
    # Subscribing before the call exists passes (tenant unknown) ...
    assert allowed(AGENT, Action.WATCH, "later", None)
    # ... and attaching must re-check with the tenant the conversation got.
    assert not allowed(AGENT, Action.WATCH, "later", "Y")


def test_aliases_and_the_default_conversation() -> None:
    # A Symbl client's connectionId "A" became conversation "c-981": the token naming
    # "A" reaches it through the alias, and nothing else does.
    assert allowed(CALLER, Action.READ, "c-981", "X", aliases=("A",))
    assert not allowed(CALLER, Action.READ, "c-981", "X", aliases=("B",))
    assert default_conversation(CALLER) == "A"
    assert default_conversation(AGENT) is None
    two = Principal("app", Role.CALLER, "X", frozenset({"A", "B"}), token_id="t4")
    assert default_conversation(two) is None


def test_list_filters() -> None:
    assert list_filter(SERVICE).admits("x", "any")
    assert list_filter(AGENT).admits("x", "X") and not list_filter(AGENT).admits("x", "Y")
    assert list_filter(CALLER).admits("A", "X") and not list_filter(CALLER).admits("B", "X")
    assert not list_filter(CALLER).admits("A", "Y")
