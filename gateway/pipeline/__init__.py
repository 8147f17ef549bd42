"""The media pipeline: transport-independent PCM, from frames or bytes to the recogniser."""
