"""Who may join or watch a conversation, knowing which tenant it belongs to.

A conversation carries the tenant of the principal that created it, and keeps it: the live
conversation knows it, and once started the store does too (its row keeps the first tenant
an id was started with, even after the call ended). So before a client joins or watches an
id, the tenant is looked up in that order (here, then the store), and:

- a **join** of an id nobody has used creates the conversation in the joiner's tenant; an id
  that exists (live or stored) is joined only by principals of its tenant (or services), so
  an agent of tenant X can never add speech to, or reopen, tenant Y's conversation;
- a **watch** of an id nobody has used yet waits for it; the subscriber is checked again
  against the tenant the conversation starts with (``conversation_started`` carries it).

Caller scope (the ids a caller token names) is checked first, from the token alone, so a
refusal for an id the caller was never given says nothing about whether the id exists.
When the store cannot be asked, a caller or agent is refused (503, try again), never let in
on a guess; a service, which may reach every tenant anyway, goes ahead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from . import errors as e
from .access import AccessControl
from .policy import Action, creation_tenant, default_conversation
from .principal import ANONYMOUS, DEFAULT_TENANT, Principal, Role

log = logging.getLogger(__name__)

LiveTenant = Callable[[str], tuple[bool, str | None]]
"""(live on this node, its tenant) for a conversation id."""
StoredTenant = Callable[[str], Awaitable[tuple[bool, str | None]]]
"""(stored at all, its tenant) for a conversation id: ``Store.conversation_tenant``."""


@dataclass(frozen=True, slots=True)
class JoinGrant:
    """What a permitted join joins: ``conversation_id`` None is a new private conversation
    (the directory names it); ``tenant`` is the one the conversation has or will have.

    Join the directory with it before awaiting anything else: two first joins of one id by
    different tenants are told apart only by what is live when each decides.
    """

    conversation_id: str | None
    tenant: str


class ConversationAccess:
    """The join and watch checks of every entrance, with the tenant looked up."""

    def __init__(self, access: AccessControl, live: LiveTenant,
                 stored: StoredTenant | None = None) -> None:
        self.access = access
        self._live = live
        self._stored = stored

    def _who(self, principal: Principal | None) -> Principal:
        if principal is not None:
            return principal
        if self.access.open:
            return ANONYMOUS
        # An entrance that did not authenticate: refuse rather than guess.
        raise e.unauthorized(e.MISSING_TOKEN, "a token is required")

    def live_tenant(self, conversation_id: str) -> tuple[bool, str | None]:
        """(live here, its tenant): a synchronous look, for re-checks right before attaching."""
        return self._live(conversation_id)

    async def tenant_of(self, conversation_id: str, principal: Principal) -> str | None:
        """The conversation's tenant, None when it is neither live here nor stored."""
        live, tenant = self._live(conversation_id)
        if live:
            return tenant or DEFAULT_TENANT
        if self._stored is None:
            return None
        try:
            stored, tenant = await self._stored(conversation_id)
        except Exception as exc:  # noqa: BLE001 - any store failure: the answer is unknown
            log.warning("tenant of conversation %s unknown, the store failed: %s",
                        conversation_id, str(exc).splitlines()[0][:200] if str(exc) else
                        type(exc).__name__)
            if principal.role is Role.SERVICE:
                return None
            raise e.unavailable(e.STORE_UNAVAILABLE, "cannot check this conversation right "
                                "now (the conversation store is unreachable); try again") \
                from None
        return (tenant or DEFAULT_TENANT) if stored else None

    async def join(self, principal: Principal | None, conversation_id: str | None) -> JoinGrant:
        """May ``principal`` send audio into ``conversation_id`` (None: the client named
        none)? The grant says which conversation and its tenant; AuthError if not."""
        who = self._who(principal)
        cid = conversation_id or default_conversation(who)
        if cid is None:
            if who.role is Role.CALLER:
                raise e.forbidden(e.CONVERSATION_NOT_IN_SCOPE, "this token names several "
                                  "conversations: say which one in conversationId")
            return JoinGrant(None, creation_tenant(who))
        if self.access.open:  # one tenant, no checks: what is live here says the rest
            live, tenant = self._live(cid)
            return JoinGrant(cid, (tenant if live else None) or creation_tenant(who))
        self.access.authorize(who, Action.JOIN, cid)  # scope, from the token alone
        tenant = await self.tenant_of(cid, who)
        # Another join may have created the conversation while the store was asked: what
        # is live now wins. The caller joins with no await after this (the grant is only
        # valid until its next await).
        live, live_tenant = self._live(cid)
        if live:
            tenant = live_tenant or DEFAULT_TENANT
        self.access.authorize(who, Action.JOIN, cid, tenant)
        return JoinGrant(cid, tenant or creation_tenant(who))

    async def watch(self, principal: Principal | None, conversation_id: str) -> str | None:
        """May ``principal`` watch ``conversation_id`` live? Its tenant if known (None: it
        has not started; check again with :meth:`may_watch` when it does)."""
        who = self._who(principal)
        if self.access.open:
            return None
        self.access.authorize(who, Action.WATCH, conversation_id)
        tenant = await self.tenant_of(conversation_id, who)
        self.access.authorize(who, Action.WATCH, conversation_id, tenant)
        return tenant

    def may_watch(self, principal: Principal, conversation_id: str, tenant: str | None) -> bool:
        """The re-check when a conversation a subscriber waited for starts."""
        try:
            self.access.authorize(principal, Action.WATCH, conversation_id,
                                  tenant or DEFAULT_TENANT)
        except e.AuthError:
            return False
        return True


CONVERSATION_ACCESS_KEY = web.AppKey("conversation_access", ConversationAccess)
"""Where entrances find the join and watch checks: ``request.app[CONVERSATION_ACCESS_KEY]``."""
