"""WebSocket signaling: the wire protocol that negotiates a session's peer connection.

It validates messages and calls the small interface in ``signaling.interface``; it imports
nothing from recognition or insights.
"""
