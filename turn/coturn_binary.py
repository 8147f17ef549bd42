"""Which coturn is installed, and what its build can do.

Development instances, tests and the config renderer all need to know where
``turnserver`` is and whether the build has optional features: distributions build coturn
with different options, and coturn only logs a warning for configuration lines it does not
understand, so asking the binary is the only reliable way to find out.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

__all__ = ["supports_prometheus", "turnserver_binary"]


@functools.cache
def turnserver_binary() -> str | None:
    """Path of coturn's ``turnserver``, or ``None`` if it is not installed."""
    return shutil.which("turnserver") or (
        "/usr/bin/turnserver" if os.access("/usr/bin/turnserver", os.X_OK) else None
    )


@functools.cache
def supports_prometheus(binary: str | None = None) -> bool:
    """Whether this coturn build has the Prometheus exporter.

    Debian 12's coturn 4.6.1 is built without it (``--prometheus`` is an unknown option there),
    and coturn only logs "Bad configuration format" for unknown config lines, so the template
    enables it only where it exists rather than leaving a silently ignored line.
    """
    path = binary or turnserver_binary()
    if path is None:
        return False
    result = subprocess.run([path, "--help"], capture_output=True, text=True, check=False)
    return "--prometheus" in result.stdout + result.stderr
