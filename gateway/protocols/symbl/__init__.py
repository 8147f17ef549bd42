"""Symbl.ai's real-time API shapes: transcript messages and insight messages."""
