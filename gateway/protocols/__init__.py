"""Wire formats, one module per protocol: messages are built here and nowhere else.

``symbl`` holds Symbl's real-time result shapes (every participant-facing output sends
them); ``relay`` the results-relay envelope; ``subscribe`` the console socket's own messages.
The signaling protocol lives in the top-level ``signaling`` package.
"""
