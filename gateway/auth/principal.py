"""Who is asking: roles, and the Principal every entrance gets from authentication.

Three roles, ordered by what they may reach (issue 12):

- ``caller``: a participant; may join, watch and read only the conversations its token
  names, and only within its tenant.
- ``agent``: a support agent or console; may join, watch, read and list the
  conversations of its tenant.
- ``service``: a trusted backend; may use the whole API across tenants.

The order matters when an app asks for a token: it may ask for its own role or a lower
one, never a higher one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_TENANT = "default"
# The gateway's conversation-id alphabet (gateway/start_config.py CONVERSATION_ID); a
# tenant uses the same one so it can appear in logs, keys and scopes without escaping.
IDENTIFIER = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_CONVERSATIONS_PER_TOKEN = 100


class Role(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    SERVICE = "service"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def may_grant(self, other: Role) -> bool:
        """An app of this role may mint tokens of ``other`` (its own role or below)."""
        return other.rank <= self.rank


_RANK = {Role.CALLER: 0, Role.AGENT: 1, Role.SERVICE: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated identity, as the entrances see it.

    ``conversations`` is the caller's scope (empty for agents and services, whose scope is
    their tenant or everything). ``token_id`` is the JWT's ``jti``: the key of per-token
    limits; ``session_limit`` is filled from the app (or the gateway default) when the
    token is checked. ``anonymous`` is the open-mode principal: full rights, no limits.
    """

    subject: str
    role: Role
    tenant: str = DEFAULT_TENANT
    conversations: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
    expires_at: int | None = None
    anonymous: bool = False
    session_limit: int | None = None  # concurrent sessions; None: not limited

    @property
    def limit_key(self) -> str | None:
        """What per-token limits count against; None means not limited (open mode)."""
        return None if self.anonymous or self.token_id is None else f"token:{self.token_id}"

    def describe(self) -> str:
        """For logs: who, never the token itself."""
        if self.anonymous:
            return "anonymous (open mode)"
        return f"{self.role.value} of app {self.subject} (tenant {self.tenant})"


ANONYMOUS = Principal(subject="anonymous", role=Role.SERVICE, anonymous=True)


def check_identifier(value: object, what: str) -> str:
    """``value`` if it is a usable id/tenant string, else ValueError naming ``what``."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ValueError(f"{what} must be 1-128 characters of letters, digits, '.', '_', "
                         f"':' or '-'")
    return value
