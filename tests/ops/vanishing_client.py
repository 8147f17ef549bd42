"""A client process to kill: it joins a call, says when connected, and streams until killed.

``python -m tests.ops.vanishing_client URL CONVERSATION`` (the fault tests SIGKILL it, as a
crashed browser tab or a laptop that lost power: no bye, no WebSocket close, no DTLS
close_notify; the kernel just drops its sockets).
"""

from __future__ import annotations

import asyncio
import sys

from aiortc.mediastreams import AudioStreamTrack

from tests.rtc_client import GatewayClient


async def main(url: str, conversation: str) -> None:
    client = GatewayClient(url)
    await client.connect()
    client.peer(AudioStreamTrack())
    await client.offer({"conversationId": conversation})
    await asyncio.wait_for(client.connected.wait(), 10)
    print("connected", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
