"""The Symbl-compatible WebSocket transport: raw audio frames in, Symbl messages out."""
