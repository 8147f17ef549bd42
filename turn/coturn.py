"""Running coturn: throwaway instances for development and tests, and the foreground launcher.

A development/test instance is only useful once it really relays, so :class:`CoturnProcess`
counts as started when a TURN allocation with a fresh credential succeeds, not when the
process exists. Dev instances add ``--allow-loopback-peers`` on the command line only: that
flag lets a client relay to 127.0.0.1, i.e. into the TURN host itself, so it must never
appear in a rendered (production) config.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .coturn_binary import turnserver_binary
from .coturn_config import CoturnConfig, dev_config, render_config
from .credentials import rest_credential
from .diagnosis import TurnCheckError
from .probe import check_turn

__all__ = ["CoturnProcess", "free_port", "run_foreground"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free UDP+TCP port found")


class CoturnProcess:
    """A development/test coturn on loopback, started and stopped by the caller.

    ``dev=True`` (the normal case) permits loopback peers so two local clients can relay to each
    other. ``dev=False`` runs the *production* template unchanged apart from loopback listening
    and relay addresses, to test its rules: it relays to no loopback peer, so calls through it
    fail on one machine by design.

    Usable as ``async with CoturnProcess(secret="s") as coturn:`` or, from synchronous code
    such as session-scoped pytest fixtures, with :meth:`start_sync` / :meth:`stop`. The instance
    is ready when :meth:`start` returns: a real TURN allocation with a fresh credential succeeded.
    """

    def __init__(
        self,
        port: int | None = None,
        secret: str = "dev-secret",
        realm: str = "gateway.test",
        dev: bool = True,
        *,
        host: str = "127.0.0.1",
        workdir: str | None = None,
        binary: str | None = None,
    ) -> None:
        self.dev = dev
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.secret = secret
        self.realm = realm
        self.binary = binary or turnserver_binary()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.config_path: Path | None = None
        self.config_text = ""

    @property
    def url(self) -> str:
        """``turn:`` URL over UDP; :meth:`url_for` gives other transports."""
        return self.url_for("udp")

    def url_for(self, transport: str = "udp") -> str:
        return f"turn:{self.host}:{self.port}?transport={transport}"

    @property
    def stun_url(self) -> str:
        return f"stun:{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The turnserver command line (dev flags are added here, not in the template)."""
        if self.binary is None:
            raise RuntimeError("coturn is not installed: apt-get install coturn")
        assert self.config_path is not None
        command = [self.binary, "-c", str(self.config_path)]
        if self.dev:
            command.append("--allow-loopback-peers")
        return command

    def _prepare(self) -> None:
        if self._workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="coturn-")
            workdir = Path(self._tmp.name)
        else:
            workdir = Path(self._workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "turnserver.conf"
        self.log_path = workdir / "turnserver.log"
        pidfile, userdb = str(workdir / "turnserver.pid"), str(workdir / "turndb")
        if self.dev:
            config = dev_config(self.secret, self.realm, self.port, pidfile=pidfile, userdb=userdb)
        else:
            config = CoturnConfig(
                secret=self.secret,
                realm=self.realm,
                listening_port=self.port,
                listening_ips=(self.host,),
                relay_ips=(self.host,),
                extra_lines=(f"pidfile={pidfile}", f"userdb={userdb}"),
            )
        self.config_text = render_config(config)
        self.config_path.write_text(self.config_text)
        self.config_path.chmod(0o600)

    def _spawn(self) -> None:
        self._prepare()
        assert self.log_path is not None
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    async def start(self, timeout: float = 10.0) -> CoturnProcess:  # noqa: ASYNC109
        """Start coturn and wait until it allocates a relay for a fresh credential."""
        self._spawn()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"turnserver exited with {self.process.returncode}:\n{self.log()}"
                )
            credential = rest_credential(self.secret, "readiness", 60)
            try:
                await check_turn(self.url, credential.username, credential.password, timeout=0.5)
                return self
            except TurnCheckError as exc:
                last = exc
                await asyncio.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"turnserver did not become ready in {timeout} s ({last}):\n{self.log()}"
        )

    def start_sync(self, timeout: float = 10.0) -> CoturnProcess:
        """:meth:`start` for code that runs outside an event loop."""
        return asyncio.run(self.start(timeout))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop coturn (SIGTERM, then SIGKILL) and remove its temporary directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log(self) -> str:
        """coturn's output so far (for assertion messages)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    async def __aenter__(self) -> CoturnProcess:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __enter__(self) -> CoturnProcess:
        return self.start_sync()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_foreground(command: list[str]) -> int:
    """Run turnserver until it exits; SIGINT/SIGTERM to us stop it cleanly, then we return.

    Signals are forwarded rather than relying on the terminal's process group, so that a
    supervisor (systemd, a container runtime, a test harness) that signals only this process
    does not leave coturn running with a deleted configuration file.
    """
    process = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.terminate()

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            return process.wait()
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
