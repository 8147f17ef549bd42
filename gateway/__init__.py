"""WebRTC-to-WebSocket media gateway for real-time conversation intelligence."""

__version__ = "0.1.0"
