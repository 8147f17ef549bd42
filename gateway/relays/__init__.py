"""The audio relay: participants' audio (and conversations' results) to downstream
WebSocket services in their own protocols, and their answers back to the clients.

``manager.Relays`` is the entry point (one per gateway): transports call
``open_participant_taps(member, start)`` for a participant's ``MediaStream`` taps; the
conversation directory gets ``conversation_output`` for the mixing and results streams.
Configuration: ``config.RelayConfig`` (flags in ``flags.py``), the session's choice in
``choice.py``, the allow-list in ``allow.py``. One connection: ``link.DownstreamLink``.

This package's ``__init__`` imports nothing, so the configuration and start-config
parsing can use its small modules without loading the connection machinery.
"""
