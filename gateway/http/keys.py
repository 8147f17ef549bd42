"""Typed application keys: the parts of the running gateway that handlers reach for.

Each part is built in a cleanup context of ``gateway.app.create_app`` and stored once
under its own key (aiohttp's ``AppKey``), so a handler names exactly what it depends on.
"""

from __future__ import annotations

from aiohttp import web

from gateway.asr.base import Recognizer
from gateway.config import GatewayConfig
from gateway.conversation.admission import LocalAdmission
from gateway.conversation.directory import LocalDirectory
from gateway.outputs.board import ConversationBoard
from gateway.outputs.bus import LocalBus
from gateway.transports.symbl.transport import SymblTransport
from gateway.transports.webrtc.ice import IceProvider
from gateway.transports.webrtc.transport import WebRtcTransport
from gateway.workers import WorkerPool

from .subscriptions import Subscriptions

CONFIG_KEY = web.AppKey("config", GatewayConfig)
STARTED_KEY = web.AppKey("started", float)
ICE_KEY = web.AppKey("ice", IceProvider)
POOL_KEY = web.AppKey("pool", WorkerPool)
RECOGNIZER_KEY = web.AppKey("recognizer", Recognizer)
BUS_KEY = web.AppKey("bus", LocalBus)
DIRECTORY_KEY = web.AppKey("directory", LocalDirectory)
ADMISSION_KEY = web.AppKey("admission", LocalAdmission)
WEBRTC_KEY = web.AppKey("webrtc", WebRtcTransport)
SYMBL_KEY = web.AppKey("symbl", SymblTransport)
SUBSCRIPTIONS_KEY = web.AppKey("subscriptions", Subscriptions)
BOARD_KEY = web.AppKey("board", ConversationBoard)
