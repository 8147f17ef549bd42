"""coturn's configuration: the values it takes, and the ``turnserver.conf`` they render to.

The template (``turnserver.conf.template``) holds the production settings. Development and test
instances render the same template with loopback addresses and fewer restrictions, so the file
a test exercises is the file production runs; what dev mode needs beyond that
(``--allow-loopback-peers``) goes on the command line only (see :mod:`turn.coturn`), because
it lets a client relay into the TURN host itself and must never appear in a production config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from string import Template

from .coturn_binary import supports_prometheus

__all__ = [
    "DENIED_PEER_RANGES",
    "LOOPBACK_PEER_RANGES",
    "TEMPLATE_NAME",
    "CoturnConfig",
    "dev_config",
    "render_config",
]

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
