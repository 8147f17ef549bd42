"""Symbl.ai real-time API shapes: results, insights, and the streaming socket's own messages."""
