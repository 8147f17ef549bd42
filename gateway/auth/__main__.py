"""``python -m gateway.auth apps create|list|revoke``: see gateway/auth/cli.py."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
