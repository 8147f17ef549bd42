"""Ingest transports: each owns a participant's connection and lifetime and feeds its audio
to a ``gateway.pipeline.stream.MediaStream``. ``webrtc`` is the browser path (signaling on
``/ws``); others (a Symbl-compatible WebSocket, WHIP) are siblings with the same shape."""
