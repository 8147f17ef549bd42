"""A throwaway PostgreSQL cluster for tests and benchmarks (Debian's ``postgresql`` package).

Tests of the conversation store run against a real server, not a mock: this module finds
the server binaries (``initdb``/``pg_ctl`` on ``PATH``, else Debian's
``/usr/lib/postgresql/<version>/bin``), initialises a cluster in a temporary directory,
starts it on a free loopback port with trust authentication, and removes it afterwards.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) every server
command runs as the ``postgres`` system user through ``runuser``; the data directory is
handed to that user. Nothing here touches a system cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SERVER_USER = "postgres"
START_TIMEOUT = 60


class PostgresUnavailable(RuntimeError):
    """The binaries (or a user to run them as) are missing; the message says which."""


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``createdb``."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: _version_key(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (install Debian's 'postgresql' package)")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running throwaway cluster; ``url(db)`` gives a ``postgresql://`` URL for a database."""

    bindir: Path
    root: Path
    port: int
    user: str = SERVER_USER
    _as_root: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.root)

    def _check(self, *args: str) -> None:
        done = self._run(*args)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}\n{tail}")

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        self._check("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")


def _prepare_root(as_root: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    if as_root:
        # The server user must own its directory and reach it through the parents.
        shutil.chown(root, user=SERVER_USER, group=None)
        os.chmod(root, 0o700)
    return root


@contextlib.contextmanager
def postgres_cluster(*, fsync: bool = False) -> Iterator[PostgresCluster]:
    """Start a cluster for the duration of the ``with`` block.

    ``fsync=False`` suits tests (the crash tests kill clients, never the server); benchmarks
    pass ``fsync=True`` so commit costs are the ones a deployment pays.
    """
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    if as_root:
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root and 'runuser' is missing")
        try:
            import pwd

            pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            raise PostgresUnavailable(f"running as root and no '{SERVER_USER}' user") from exc
    root = _prepare_root(as_root)
    cluster = PostgresCluster(bindir, root, free_port(), _as_root=as_root)
    started = False
    try:
        cluster._check("initdb", "-D", str(cluster.datadir), "-U", cluster.user,
                       "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        options = (f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections=50" + ("" if fsync else " -F"))
        cluster._check("pg_ctl", "start", "-D", str(cluster.datadir), "-w",
                       "-t", str(START_TIMEOUT), "-l", str(root / "server.log"), "-o", options)
        started = True
        yield cluster
    finally:
        if started:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
