"""NAT traversal for the gateway: STUN/TURN configuration, ephemeral credentials, coturn.

* :mod:`turn.credentials` mints TURN REST credentials from coturn's shared secret.
* :mod:`turn.ice` turns flags/environment into what browsers and aiortc each need.
* :mod:`turn.urls` parses ``stun:``/``turn:`` URLs (RFC 7064/7065).
* :mod:`turn.probe` performs real TURN allocations so misconfiguration gives a clear error
  (aiortc itself fails silently), using :mod:`turn.stun_transport` (STUN over UDP/TCP/TLS),
  :mod:`turn.allocation` (the Allocate exchange) and :mod:`turn.diagnosis` (the error and
  its advice).
* :mod:`turn.mdns` drops ``*.local`` browser candidates that would stall aiortc.
* :mod:`turn.coturn_config` renders coturn's configuration; :mod:`turn.coturn_binary` finds
  the installed coturn and its features; :mod:`turn.coturn` runs development instances.
* :mod:`turn.selftest` connects two local peers through the configured servers.
"""

from .credentials import TurnCredential, rest_credential
from .diagnosis import TurnCheckError
from .ice import IceSettings, browser_ice_servers, gateway_rtc_configuration
from .mdns import is_mdns_candidate, strip_mdns_candidates
from .probe import check_turn

__all__ = [
    "IceSettings",
    "TurnCheckError",
    "TurnCredential",
    "browser_ice_servers",
    "check_turn",
    "gateway_rtc_configuration",
    "is_mdns_candidate",
    "rest_credential",
    "strip_mdns_candidates",
]
