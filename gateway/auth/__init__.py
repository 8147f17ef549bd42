"""Access control: apps, signed tokens, roles and scopes, limits, origin checks (issue 12).

The app factory builds one :class:`AccessControl` from an :class:`AuthConfig` and calls
:func:`setup_access`; every entrance then authenticates through it. docs/access-control.md
describes the model; NOTES-auth.md says how it is wired.
"""

from __future__ import annotations

from .access import AccessControl
from .config import AuthConfig, add_auth_arguments, auth_config_from_args
from .errors import AuthError
from .policy import (
    Action,
    ConversationFilter,
    allowed,
    authorize,
    creation_tenant,
    default_conversation,
    list_filter,
)
from .principal import ANONYMOUS, DEFAULT_TENANT, Principal, Role
from .routes import (
    ACCESS_KEY,
    cors_headers,
    refuse_websocket,
    setup_access,
    token_generate,
    websocket_response,
)

__all__ = [
    "ACCESS_KEY", "ANONYMOUS", "DEFAULT_TENANT", "AccessControl", "Action", "AuthConfig",
    "AuthError", "ConversationFilter", "Principal", "Role", "add_auth_arguments", "allowed",
    "auth_config_from_args", "authorize", "cors_headers", "creation_tenant",
    "default_conversation", "list_filter",
    "refuse_websocket", "setup_access", "token_generate", "websocket_response",
]
