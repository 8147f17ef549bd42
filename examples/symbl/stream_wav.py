"""Stream a WAV file to the gateway's Symbl-compatible API, as Symbl's Python examples did.

    pip install aiohttp
    python examples/symbl/stream_wav.py --host http://localhost:8080 speech.wav

Only the host differs from a client written for api.symbl.ai: fetch a token at
``POST /oauth2/token:generate``, open ``/v1/streaming/{connectionId}?access_token=…``, send
``start_request`` declaring the file's real sample rate, stream 8192-byte LINEAR16 frames
paced to real time, send ``stop_request``, print what comes back until the socket closes.
Needs only the standard library and aiohttp; 16-bit PCM WAV files, any rate 8000-48000 Hz
(multi-channel files are sent as their first channel).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
import wave

import aiohttp

FRAME_BYTES = 8192  # Symbl's limit for one audio message


def read_wav(path: str) -> tuple[bytes, int]:
    with wave.open(path, "rb") as wav:
        if wav.getsampwidth() != 2:
            raise SystemExit(f"{path}: not 16-bit PCM")
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = wav.readframes(wav.getnframes())
    if channels > 1:  # keep the first channel: frames are interleaved 2-byte samples
        step = 2 * channels
        data = b"".join(data[i:i + 2] for i in range(0, len(data), step))
    return data, rate


def show(data: dict) -> None:
    kind = data.get("type")
    if kind == "message":
        message = data["message"]
        if message.get("type") == "recognition_result":
            mark = "final" if message.get("isFinal") else "live "
            print(f"  [{mark}] {message['punctuated']['transcript']}")
        elif "data" in message and "conversationId" in message["data"]:
            print(f"{message['type']}: conversationId {message['data']['conversationId']}")
        else:
            print(message.get("type"))
    elif kind == "message_response":
        for message in data["messages"]:
            print(f"Transcript: {message['payload']['content']}")
    elif kind == "insight_response":
        for insight in data["insights"]:
            print(f"Insight ({insight['type']}): {insight.get('text')}")
    elif kind == "topic_response":
        print("Topics:", ", ".join(topic["phrases"] for topic in data["topics"]))
    elif kind == "error":
        print(f"Error: {data.get('message')} ({data.get('details')})")


async def main(host: str, path: str, app_id: str, app_secret: str, name: str) -> None:
    audio, rate = read_wav(path)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{host}/oauth2/token:generate", json={
                "type": "application", "appId": app_id, "appSecret": app_secret}) as response:
            response.raise_for_status()
            token = (await response.json())["accessToken"]
        url = f"{host.replace('http', 'ws', 1)}/v1/streaming/{uuid.uuid4()}?access_token={token}"
        async with http.ws_connect(url) as ws:
            await ws.send_str(json.dumps({
                "type": "start_request",
                "insightTypes": ["question", "action_item", "follow_up"],
                "config": {
                    "confidenceThreshold": 0.5,
                    "languageCode": "en-US",
                    "meetingTitle": path,
                    "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": rate},
                },
                "speaker": {"userId": f"{name.lower()}@example.com", "name": name},
            }))

            async def send() -> None:
                for i in range(0, len(audio), FRAME_BYTES):
                    frame = audio[i:i + FRAME_BYTES]
                    await ws.send_bytes(frame)
                    await asyncio.sleep(len(frame) / 2 / rate)  # real time, like a microphone
                await ws.send_str(json.dumps({"type": "stop_request"}))

            sender = asyncio.create_task(send())
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    show(json.loads(message.data))
            if not sender.done():  # the gateway closed first (an error said why)
                sender.cancel()
            print(f"closed ({ws.close_code})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wav")
    parser.add_argument("--host", default="http://localhost:8080")
    parser.add_argument("--app-id", default="my-app-id")
    parser.add_argument("--app-secret", default="my-app-secret")
    parser.add_argument("--name", default="Jane")
    args = parser.parse_args()
    asyncio.run(main(args.host.rstrip("/"), args.wav, args.app_id, args.app_secret, args.name))
