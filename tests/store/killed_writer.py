"""A gateway stand-in for the crash test: streams a call's results into the store, paced
like speech, and prints each final message id once it has been handed to the sink.

Run as ``python3 -m tests.store.killed_writer DATABASE CONVERSATION_ID``; the test kills it
with SIGKILL mid-call and then checks what survived.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from gateway.store import Store, StoreConfig
from tests.store.stream import build_conversation

PHRASE_GAP = 0.25  # seconds between finals: speech pace, compressed


async def main(database: str, conversation_id: str) -> None:
    call = build_conversation(conversation_id, started=datetime.now(UTC), lines=60, ended=True)
    store = await Store.open(StoreConfig(database))
    print("ready", flush=True)
    for result in call.results:
        final = result.body.get("type") == "message_response"
        if final:
            await asyncio.sleep(PHRASE_GAP)  # the phrase being spoken
        store.sink.send(result)
        if final:
            print("final", result.body["messages"][0]["id"], flush=True)
    await store.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
