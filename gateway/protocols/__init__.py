"""Wire formats: one module per protocol the gateway speaks."""
