"""Wire formats the gateway speaks, one module (or package) per format."""
