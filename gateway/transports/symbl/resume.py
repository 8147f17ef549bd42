"""Who may take over a Symbl connection that is waiting for its reconnect (or live).

A Symbl client resumes by opening the same ``connectionId`` again (``noConnectionTimeout``),
and a ``connectionId`` is chosen by the client and shows up in URLs and logs: it names a
connection, it proves nothing. So the socket that takes a session over must be its own
principal's: the same token (``token_id``, the JWT's ``jti``; a reconnecting SDK presents
the token it connected with), a service, or a principal that may join this connection's
conversation anyway (a caller token naming the connectionId or its conversationId, an agent
of the conversation's tenant), exactly the join rule of every other entrance. An agent of
another tenant who learnt the id is refused and the session is not disturbed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.auth import Action, Principal, Role, authorize
from gateway.auth import errors as auth_errors

if TYPE_CHECKING:
    from .session import SymblSession


def check_resume(session: SymblSession, principal: Principal | None) -> None:
    """Raise ``AuthError`` unless ``principal`` may take ``session`` over."""
    owner = session.principal
    if owner is None:  # made without access control (no principal given): nothing to keep
        return
    if principal is None:
        raise auth_errors.unauthorized(auth_errors.MISSING_TOKEN,
                                       "resuming a connection needs its token")
    if principal.role is Role.SERVICE:
        return
    if owner.token_id is not None and principal.token_id == owner.token_id:
        return
    authorize(principal, Action.JOIN, session.connection_id, session.tenant,
              aliases=(session.conversation_id,))

