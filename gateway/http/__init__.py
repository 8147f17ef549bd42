"""HTTP routes of the gateway (health, pages, ICE servers, subscribe, conversation API)."""
