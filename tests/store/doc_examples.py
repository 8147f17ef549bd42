"""Print an example answer of every Conversation API route, for docs/conversation-api.md.

    python3 -m tests.store.doc_examples              # a real call through a wired gateway
    python3 -m tests.store.doc_examples --scripted   # the same, scripted recogniser
    python3 -m tests.store.doc_examples --local      # a built call, store only
    python3 -m tests.store.doc_examples --url http://127.0.0.1:8080 --conversation ID \
        --token TOKEN                                 # a running gateway's real call

By default a gateway with access control and a SQLite store runs in this process, two
aiortc clients with caller tokens hold a sales call over WebRTC (espeak-ng speech recognised
by the Vosk model of ``--model``/``VOSK_MODEL``; ``--scripted`` hears the same lines
exactly), and every route is read with a service token (tests/access/doc_call.py). With
``--local`` the call is produced by the insights engine and message builders and written
straight into a store; with ``--url`` a running gateway's answers are fetched as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


async def fetch_all(base: str, conversation_id: str,
                    token: str | None = None) -> list[tuple[str, int, Any]]:
    out = []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as session:
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


async def through_gateway(model: Path | None) -> list[tuple[str, int, Any]]:
    from tests.access.doc_call import doc_call

    async with doc_call(model) as call:
        answers = [("POST /oauth2/token:generate (role caller)", 200,
                    {"accessToken": call.caller_token[:24] + "…", "expiresIn": 3600})]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{call.url}/v1/conversations") as response:
                answers.append(("/v1/conversations (no token)", response.status,
                                await response.json(content_type=None)))
            async with session.get(
                    f"{call.url}/v1/conversations/another-call/messages",
                    headers={"Authorization": f"Bearer {call.caller_token}"}) as response:
                answers.append(("/v1/conversations/another-call/messages (caller token)",
                                response.status, await response.json(content_type=None)))
        return answers + await fetch_all(call.url, call.conversation_id, call.service_token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running gateway, e.g. http://127.0.0.1:8080")
    parser.add_argument("--conversation", help="a conversation id stored by that gateway")
    parser.add_argument("--token", help="a service token of that gateway (closed mode)")
    parser.add_argument("--local", action="store_true", help="store only, no gateway")
    parser.add_argument("--scripted", action="store_true",
                        help="a scripted recogniser instead of the Vosk model")
    parser.add_argument("--model", type=Path, default=os.environ.get("VOSK_MODEL") or None,
                        help="Vosk model directory (default: VOSK_MODEL)")
    args = parser.parse_args()
    if args.url:
        answers = asyncio.run(fetch_all(args.url.rstrip("/"), args.conversation, args.token))
    elif args.local:
        answers = asyncio.run(local())
    else:
        if not args.scripted and args.model is None:
            parser.error("give --model (or VOSK_MODEL), or --scripted")
        answers = asyncio.run(through_gateway(None if args.scripted else args.model))
    for path, status, body in answers:
        print(f"### {path} -> {status}\n```json\n{json.dumps(body, indent=2)}\n```\n")


if __name__ == "__main__":
    main()
