"""Ways media enters the gateway (WebRTC, Symbl's WebSocket API)."""
