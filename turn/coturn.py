"""Rendering coturn's configuration, and running coturn for development and tests.

The template (``turnserver.conf.template``) holds the production settings. Development and test
instances render the same template with loopback addresses and fewer restrictions, and add
``--allow-loopback-peers`` on the command line only: that flag lets a client relay to
127.0.0.1, i.e. into the TURN host itself, so it must never appear in a production config.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from types import TracebackType

from .credentials import rest_credential
from .probe import TurnCheckError, check_turn

TEMPLATE_NAME = "turnserver.conf.template"

# Addresses a relay must not reach in production (RFC 6890 special-purpose ranges that are not
# globally routable, plus multicast). Loopback is listed separately so dev mode can drop it.
LOOPBACK_PEER_RANGES: tuple[str, ...] = ("127.0.0.0-127.255.255.255", "::1")
DENIED_PEER_RANGES: tuple[str, ...] = (
    "0.0.0.0-0.255.255.255",  # "this" network
    "10.0.0.0-10.255.255.255",  # private
    "100.64.0.0-100.127.255.255",  # carrier-grade NAT
    *LOOPBACK_PEER_RANGES[:1],
    "169.254.0.0-169.254.255.255",  # link-local (includes cloud metadata 169.254.169.254)
    "172.16.0.0-172.31.255.255",  # private
    "192.0.0.0-192.0.0.255",  # IETF protocol assignments
    "192.0.2.0-192.0.2.255",  # documentation (TEST-NET-1)
    "192.88.99.0-192.88.99.255",  # 6to4 relay anycast
    "192.168.0.0-192.168.255.255",  # private
    "198.18.0.0-198.19.255.255",  # benchmarking
    "198.51.100.0-198.51.100.255",  # documentation (TEST-NET-2)
    "203.0.113.0-203.0.113.255",  # documentation (TEST-NET-3)
    "224.0.0.0-255.255.255.255",  # multicast, reserved, broadcast
    *LOOPBACK_PEER_RANGES[1:],
    "::ffff:0.0.0.0-::ffff:255.255.255.255",  # IPv4-mapped: would bypass the IPv4 rules
    "64:ff9b::-64:ff9b::ffff:ffff",  # NAT64: likewise
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",  # unique local
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",  # link-local
    "ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",  # multicast
)


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


@dataclass(frozen=True)
class CoturnConfig:
    """Values for the template. Defaults are production ones except where noted."""

    secret: str
    realm: str
    listening_port: int = 3478
    tls_listening_port: int = 5349
    listening_ips: tuple[str, ...] = ()  # empty: all interfaces
    relay_ips: tuple[str, ...] = ()  # empty: the address the client reached
    external_ip: str | None = None  # "public" or "public/private" when coturn is behind NAT
    cert_file: str | None = None  # PEM; both set to enable TLS on tls_listening_port
    pkey_file: str | None = None
    min_port: int = 49152
    max_port: int = 65535
    denied_peers: tuple[str, ...] = DENIED_PEER_RANGES
    allowed_peers: tuple[str, ...] = ()
    user_quota: int = 12
    total_quota: int = 1200
    prometheus: bool = True
    log_file: str = "stdout"
    extra_lines: tuple[str, ...] = field(default=())

    def validate(self) -> None:
        if not self.secret:
            raise ValueError("coturn needs a non-empty static-auth-secret")
        if not self.realm:
            raise ValueError("coturn needs a realm (e.g. the TURN server's domain name)")
        if not 0 < self.min_port <= self.max_port < 65536:
            raise ValueError(f"bad relay port range {self.min_port}-{self.max_port}")
        if (self.cert_file is None) != (self.pkey_file is None):
            raise ValueError("TLS needs both a certificate (--cert) and a private key (--pkey)")
        for value in (self.secret, self.realm, *self.extra_lines):
            if "\n" in value:
                raise ValueError("configuration values must not contain line breaks")


def _lines(key: str, values: tuple[str, ...], comment: str) -> str:
    return "\n".join(f"{key}={v}" for v in values) if values else f"# {comment}"


def render_config(config: CoturnConfig) -> str:
    """Fill the template; the result is a complete ``turnserver.conf``."""
    config.validate()
    template = Template(resources.files("turn").joinpath(TEMPLATE_NAME).read_text("utf-8"))
    if config.cert_file and config.pkey_file:
        tls = "\n".join(
            [
                f"cert={config.cert_file}",
                f"pkey={config.pkey_file}",
                "no-tlsv1",
                "no-tlsv1_1",
                "# TURN over DTLS is not used by browsers or aiortc.",
                "no-dtls",
            ]
        )
    else:
        tls = "# No certificate configured: TLS and DTLS listeners are off.\nno-tls\nno-dtls"
    if config.prometheus and supports_prometheus():
        prometheus = "# Metrics at http://<host>:9641/metrics (firewall it).\nprometheus"
    elif config.prometheus:
        prometheus = (
            "# This coturn build has no Prometheus exporter (Debian's 4.6.1 lacks it); use the\n"
            "# coturn/coturn container image or a build with libprom to get one.\n# prometheus"
        )
    else:
        prometheus = "# Prometheus exporter disabled."
    return template.substitute(
        listening_port=config.listening_port,
        tls_listening_port=config.tls_listening_port,
        listening_ips=_lines("listening-ip", config.listening_ips, "listening on all addresses"),
        relay_ips=_lines("relay-ip", config.relay_ips, "relay address: the one clients reached"),
        external_ip=(
            f"external-ip={config.external_ip}"
            if config.external_ip
            else "# external-ip=<public>[/<private>]  (set when coturn is behind NAT)"
        ),
        secret=config.secret,
        realm=config.realm,
        tls=tls,
        min_port=config.min_port,
        max_port=config.max_port,
        denied_peers=_lines("denied-peer-ip", config.denied_peers, "no denied peer ranges"),
        allowed_peers=_lines(
            "allowed-peer-ip", config.allowed_peers, "allowed-peer-ip=<gateway private address>"
        ),
        user_quota=config.user_quota,
        total_quota=config.total_quota,
        prometheus=prometheus,
        log_file=config.log_file,
        extra="\n".join(config.extra_lines),
    )


def dev_config(
    secret: str, realm: str, port: int, *, pidfile: str, userdb: str, log_file: str = "stdout"
) -> CoturnConfig:
    """A loopback-only instance: plain UDP/TCP, no TLS, no quotas, loopback peers permitted.

    Loopback is removed from the denied ranges (coturn's explicit deny rules would otherwise win
    over ``--allow-loopback-peers``); the other ranges stay so a dev instance is no open proxy.
    """
    return CoturnConfig(
        secret=secret,
        realm=realm,
        listening_port=port,
        listening_ips=("127.0.0.1",),
        relay_ips=("127.0.0.1",),
        denied_peers=tuple(r for r in DENIED_PEER_RANGES if r not in LOOPBACK_PEER_RANGES),
        user_quota=0,
        total_quota=0,
        prometheus=False,
        log_file=log_file,
        extra_lines=(f"pidfile={pidfile}", f"userdb={userdb}"),
    )


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
