"""What a principal may do with a conversation.

The permission table (docs/access-control.md shows it too):

=========  ==========================  ===========================  ===========
action     caller                      agent                        service
=========  ==========================  ===========================  ===========
join       named ids, own tenant       own tenant                   any
watch      named ids, own tenant       own tenant                   any
read       named ids, own tenant       own tenant                   any
list       only its named ids          own tenant                   all
delete     no                          no                           any
=========  ==========================  ===========================  ===========

``tenant`` is the tenant of the conversation when it exists (conversations carry the
tenant of the principal that created them), or None when it does not exist yet: a join
then creates it in the principal's tenant, and a watch waits for it. A watch that waits
must be re-checked with the real tenant when the conversation starts (``authorize`` again
at attach time), or an agent of tenant X could wait on an id that tenant Y later uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import CONVERSATION_NOT_IN_SCOPE, FORBIDDEN, OTHER_TENANT, AuthError, forbidden
from .principal import Principal, Role


class Action(StrEnum):
    JOIN = "join"      # send audio into it: /ws, the Symbl streaming endpoints, /whip
    WATCH = "watch"    # live results: /subscribe, /v1/subscribe, /console
    READ = "read"      # stored results: GET /v1/conversations/{id}/...
    DELETE = "delete"  # DELETE /v1/conversations/{id}


def authorize(principal: Principal, action: Action, conversation_id: str,
              tenant: str | None = None, *, aliases: Iterable[str] = ()) -> None:
    """Raise a 403 :class:`AuthError` unless ``principal`` may do ``action`` on it.

    ``aliases``: other names of the same conversation that a caller token may name
    instead (the ``connectionId`` a Symbl client opened it under, when the gateway gave
    the conversation another id).
    """
    if principal.role is Role.SERVICE:
        return
    if action is Action.DELETE:
        raise forbidden(FORBIDDEN, f"a {principal.role.value} token may not delete "
                        "conversations")
    if principal.role is Role.CALLER and principal.conversations.isdisjoint(
            (conversation_id, *aliases)):
        raise forbidden(CONVERSATION_NOT_IN_SCOPE,
                        f"this token does not name conversation {conversation_id}")
    if tenant is not None and tenant != principal.tenant:
        raise forbidden(OTHER_TENANT,
                        f"conversation {conversation_id} belongs to another tenant")


def allowed(principal: Principal, action: Action, conversation_id: str,
            tenant: str | None = None, *, aliases: Iterable[str] = ()) -> bool:
    """:func:`authorize` as a boolean, for filtering."""
    try:
        authorize(principal, action, conversation_id, tenant, aliases=aliases)
    except AuthError:
        return False
    return True


def creation_tenant(principal: Principal) -> str:
    """The tenant a conversation created by ``principal`` carries."""
    return principal.tenant


def default_conversation(principal: Principal) -> str | None:
    """The conversation a client joins when it names none (an offer without
    ``conversationId``): a caller token naming exactly one means that one; for others the
    gateway makes a new id as before."""
    if principal.role is Role.CALLER and len(principal.conversations) == 1:
        return next(iter(principal.conversations))
    return None


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """What ``GET /v1/conversations`` may list for a principal.

    ``tenant`` None means every tenant; ``ids`` None means every id (within the tenant).
    A store applies both as WHERE clauses, so paging stays correct.
    """

    tenant: str | None
    ids: frozenset[str] | None

    def admits(self, conversation_id: str, tenant: str) -> bool:
        return ((self.tenant is None or tenant == self.tenant)
                and (self.ids is None or conversation_id in self.ids))


def list_filter(principal: Principal) -> ConversationFilter:
    if principal.role is Role.SERVICE:
        return ConversationFilter(tenant=None, ids=None)
    if principal.role is Role.AGENT:
        return ConversationFilter(tenant=principal.tenant, ids=None)
    return ConversationFilter(tenant=principal.tenant, ids=principal.conversations)
