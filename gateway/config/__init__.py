"""Configuration: flags and environment (``GatewayConfig``) and internal tunables
(``SessionSettings``). Every flag is documented in docs/configuration.md."""

from .checks import check_ws_url
from .flags import build_parser, parse_config
from .settings import GatewayConfig, SessionSettings, default_web_root

__all__ = [
    "GatewayConfig",
    "SessionSettings",
    "build_parser",
    "check_ws_url",
    "default_web_root",
    "parse_config",
]
