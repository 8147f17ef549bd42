"""Speech recognition behind one small protocol (``gateway.asr.base``).

``vosk`` runs the model in this process's worker pool; ``scripted`` is a deterministic fake
for unit tests of the pipeline, conversations and outputs.
"""
