"""Print an example answer of every Conversation API route, for docs/conversation-api.md.

    python3 -m tests.store.doc_examples                       # a built call, local store
    python3 -m tests.store.doc_examples --url http://127.0.0.1:8080 --conversation ID
                                                              # a live gateway's real call

Without ``--url`` a two-person call is produced by the real insights engine and message
builders, written through the StoreSink into a temporary SQLite store and read back over
HTTP; with ``--url`` the answers of a running gateway are fetched as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from gateway.http.conversations import setup_conversation_api
from gateway.store import Store, StoreConfig
from tests.store.stream import build_conversation

ROUTES = [
    ("", {}), ("/messages", {"sentiment": "true", "verbose": "true"}), ("/messages", {}),
    ("/insights", {}), ("/questions", {}), ("/action-items", {}), ("/follow-ups", {}),
    ("/topics", {"sentiment": "true"}), ("/trackers-detected", {}), ("/analytics", {}),
    ("/members", {}),
]


async def fetch_all(base: str, conversation_id: str) -> list[tuple[str, int, Any]]:
    out = []
    async with aiohttp.ClientSession() as session:
        requests = [("/v1/conversations", {"limit": "2"})] + [
            (f"/v1/conversations/{conversation_id}{tail}", params) for tail, params in ROUTES]
        requests += [("/v1/conversations/bad%20id", {}), ("/v1/conversations", {"limit": "x"})]
        for path, params in requests:
            async with session.get(base + path, params=params) as response:
                query = "&".join(f"{k}={v}" for k, v in params.items())
                out.append((path + (f"?{query}" if query else ""), response.status,
                            await response.json(content_type=None)))
        async with session.delete(f"{base}/v1/conversations/{conversation_id}") as response:
            out.append((f"DELETE /v1/conversations/{conversation_id}", response.status,
                        await response.json(content_type=None)))
    return out


async def local() -> list[tuple[str, int, Any]]:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    call = build_conversation("support-call-42", started=started, title="Contract renewal",
                              lines=10)
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(StoreConfig(f"{folder}/doc.db"))
        app = web.Application()
        setup_conversation_api(app, store)
        runner = web.AppRunner(app, access_log=None)
        try:
            for result in call.results:
                store.sink.send(result)
            await store.sink.drain(10)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return await fetch_all(f"http://127.0.0.1:{runner.addresses[0][1]}", call.id)
        finally:
            await runner.cleanup()
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running gateway, e.g. http://127.0.0.1:8080")
    parser.add_argument("--conversation", help="a conversation id stored by that gateway")
    args = parser.parse_args()
    if args.url:
        answers = asyncio.run(fetch_all(args.url.rstrip("/"), args.conversation))
    else:
        answers = asyncio.run(local())
    for path, status, body in answers:
        print(f"### {path} -> {status}\n```json\n{json.dumps(body, indent=2)}\n```\n")


if __name__ == "__main__":
    main()
