"""``ConversationAccess`` on its own: the order of the checks, the store's part, the race.

Real access control (a closed ``AccessControl`` on a real apps file) and a real store
(SQLite); the live directory is a dict, since what is under test is which tenant wins when.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.auth import AccessControl, AuthConfig, AuthError, Principal, Role
from gateway.auth.conversations import ConversationAccess
from gateway.outputs.result import Result
from gateway.store import Store, StoreConfig

AGENT_X = Principal(subject="app-x", role=Role.AGENT, tenant="x", token_id="tx")
AGENT_Y = Principal(subject="app-y", role=Role.AGENT, tenant="y", token_id="ty")
SERVICE = Principal(subject="svc", role=Role.SERVICE, tenant="ops", token_id="ts")


def closed(tmp_path: Path) -> AccessControl:
    apps = tmp_path / "apps.json"
    apps.write_text('{"version": 1, "apps": []}\n')
    return AccessControl.from_config(AuthConfig(apps_file=apps))


async def test_a_race_of_two_first_joins_is_won_by_the_tenant_that_created_it(
        tmp_path: Path) -> None:
    """Both ask the store (nothing there), X's join creates the conversation while Y's
    answer is still on its way: Y must not join X's conversation."""
    live: dict[str, str] = {}
    released = asyncio.Event()

    async def slow_store(cid: str) -> tuple[bool, str | None]:
        await released.wait()
        return False, None

    access = ConversationAccess(closed(tmp_path), lambda cid: (cid in live, live.get(cid)),
                                slow_store)

    async def join_then_create(who: Principal) -> str:
        grant = await access.join(who, "new-call")
        live.setdefault("new-call", grant.tenant)  # the directory's join: no await between
        return grant.tenant

    first = asyncio.ensure_future(join_then_create(AGENT_X))
    second = asyncio.ensure_future(join_then_create(AGENT_Y))
    await asyncio.sleep(0)
    released.set()  # both answers arrive in the same turn of the loop
    assert await first == "x"
    with pytest.raises(AuthError) as refused:
        await second
    assert refused.value.code == "conversation_of_other_tenant"
    assert live == {"new-call": "x"}


async def test_the_store_decides_for_ids_not_live_and_fails_closed(tmp_path: Path) -> None:
    store = await Store.open(StoreConfig(f"sqlite:///{tmp_path / 'store.db'}"))
    try:
        for seq, (cid, tenant) in enumerate((("old-x", "x"), ("legacy", None)), 1):
            body = {"type": "conversation_started", "conversationId": cid,
                    "startTime": "2026-01-02T03:04:05.000Z",
                    **({"tenantId": tenant} if tenant else {})}
            store.sink.send(Result.of(cid, body, seq, kind="lifecycle"))
        await store.sink.drain(5)
        access = ConversationAccess(closed(tmp_path), lambda cid: (False, None),
                                    store.conversation_tenant)
        assert (await access.join(AGENT_X, "old-x")).tenant == "x"
        with pytest.raises(AuthError) as other:
            await access.join(AGENT_Y, "old-x")
        assert other.value.code == "conversation_of_other_tenant"
        assert await access.watch(AGENT_X, "old-x") == "x"
        # Stored before tenants existed: the default tenant's.
        assert await access.tenant_of("legacy", AGENT_X) == "default"
        # A service reopening a stored id keeps the id's tenant.
        assert (await access.join(SERVICE, "old-x")).tenant == "x"
        assert (await access.join(SERVICE, "brand-new")).tenant == "ops"
    finally:
        await store.close()

    async def broken(cid: str) -> tuple[bool, str | None]:
        raise ConnectionError("database is down")

    access = ConversationAccess(closed(tmp_path), lambda cid: (False, None), broken)
    with pytest.raises(AuthError) as down:
        await access.join(AGENT_X, "anything")
    assert (down.value.status, down.value.code, down.value.ws_close_code()) == (
        503, "store_unavailable", 1013)
    assert (await access.join(SERVICE, "anything")).tenant == "ops"


async def test_scope_is_checked_before_the_store_is_asked(tmp_path: Path) -> None:
    """A caller asking for an id it was not given learns nothing about that id: refused
    from its token, the store never consulted."""
    asked: list[str] = []

    async def store(cid: str) -> tuple[bool, str | None]:
        asked.append(cid)
        return True, "x"

    caller = Principal(subject="app-x", role=Role.CALLER, tenant="x",
                       conversations=frozenset({"mine"}), token_id="tc")
    access = ConversationAccess(closed(tmp_path), lambda cid: (False, None), store)
    for attempt in (access.join(caller, "theirs"), access.watch(caller, "theirs")):
        with pytest.raises(AuthError) as refused:
            await attempt
        assert refused.value.code == "conversation_not_in_scope"
    assert asked == []
    assert (await access.join(caller, None)).conversation_id == "mine"
    assert asked == ["mine"]
    with pytest.raises(AuthError):
        await access.join(None, "mine")  # an entrance that did not authenticate
