"""The WebRTC transport: signaling sessions, aiortc peer connections, ICE and the data
channel that carries each participant's results."""
