"""Who may read what: the principal an authorisation hook returns, applied in the queries.

The conversation API does not decide access itself: an injectable hook (the gateway's
auth feature) turns a request into a :class:`Principal`, and every query the store runs
for that request is narrowed to what the principal may see. Filtering in the query layer,
not after it, is what keeps paging honest (an agent of tenant X gets full pages of tenant
X's conversations) and keeps other tenants' conversations indistinguishable from absent
ones (404, never 403, for an id that is not yours).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, true

from gateway.auth.principal import DEFAULT_TENANT

from .schema import conversations


@dataclass(frozen=True, slots=True)
class Principal:
    """What a request may see.

    ``tenant``: only conversations stored with this tenant (``None``: every tenant, e.g. a
    service, or an open gateway). ``conversation_ids``: only these conversations (``None``:
    no such limit; a caller token names the conversations it may join and read).
    ``subject`` names the principal in the deletion audit log. A conversation stored
    without a tenant (before tenants existed, or from an entrance that sets none) belongs
    to the default tenant, as conversations of an open gateway do.
    """

    subject: str = "anonymous"
    tenant: str | None = None
    conversation_ids: frozenset[str] | None = None

    def visible(self) -> ColumnElement[bool]:
        """SQL condition on ``conversations`` for the rows this principal may see."""
        clauses: list[ColumnElement[bool]] = []
        if self.tenant is not None:
            tenant = conversations.c.tenant
            clauses.append(or_(tenant == self.tenant, tenant.is_(None))
                           if self.tenant == DEFAULT_TENANT else tenant == self.tenant)
        if self.conversation_ids is not None:  # its ids, or the Symbl connections it names
            ids = sorted(self.conversation_ids)
            clauses.append(or_(conversations.c.id.in_(ids),
                               conversations.c.connection_id.in_(ids)))
        return and_(true(), *clauses)


OPEN = Principal()
"""Everything visible: the default when no authorisation hook is installed."""
