"""NAT traversal for the gateway: STUN/TURN configuration, ephemeral credentials, coturn.

* :mod:`turn.credentials` mints TURN REST credentials from coturn's shared secret.
* :mod:`turn.ice` turns flags/environment into what browsers and aiortc each need.
* :mod:`turn.probe` performs real TURN allocations so misconfiguration gives a clear error
  (aiortc itself fails silently).
* :mod:`turn.mdns` drops ``*.local`` browser candidates that would stall aiortc.
* :mod:`turn.coturn` renders coturn's configuration and runs development instances.
"""

from .credentials import TurnCredential, rest_credential
from .ice import IceSettings, browser_ice_servers, gateway_rtc_configuration
from .mdns import is_mdns_candidate, strip_mdns_candidates
from .probe import TurnCheckError, check_turn

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
