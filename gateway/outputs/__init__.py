"""Outputs: where a conversation's results go (data channels, consoles, relays, the store).

Every output is a ``Sink`` fed by the ``ResultBus``; each one buffers on its own
(``BufferedSink``), so a slow or broken output never slows recognition or another output.
"""
