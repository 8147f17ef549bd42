"""``python -m gateway`` as a user runs it: startup line, SIGTERM flushes and exits cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.rtc_client import GatewayClient, WavTrack, read_wav_48k
from tests.support.speech import espeak_wav, require_espeak

pytestmark = pytest.mark.slow


async def start_cli(
    *args: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.search(r"listening on (http://\S+?)/?$", line.strip())
    assert match, f"unexpected first line: {line!r}"
    return proc, match.group(1)


async def test_sigterm_flushes_final_results_and_exits_zero(tmp_path: Path,
                                                            model_path: Path) -> None:
    require_espeak()
    wav = espeak_wav("we should write down the action items and share them with everyone",
                     tmp_path / "s.wav")
    # No drain: SIGTERM goes straight to the flushing shutdown (the drain has its own tests
    # in tests/ops/test_cli_drain.py).
    proc, url = await start_cli("--model", str(model_path), "--drain-timeout", "0")
    client = GatewayClient(url)
    try:
        await client.connect()
        track = WavTrack(read_wav_48k(wav), tail_silence=0.0)
        client.peer(track)
        await client.offer({"speaker": {"name": "Ann"}})
        # Shut down mid-phrase: no final result has been produced yet.
        partial = await client.wait_result(
            lambda m: m.get("message", {}).get("type") == "recognition_result"
            and len(m["message"]["punctuated"]["transcript"].split()) >= 3)
        assert not client.of_type("message_response")
        proc.send_signal(signal.SIGTERM)
        stopped = await client.wait_result(
            lambda m: m.get("message", {}).get("type") == "recognition_stopped", timeout=20)
        assert stopped
        assert client.of_type("message_response"), "the phrase in progress was flushed"
        spoken = partial["message"]["payload"]["raw"]["alternatives"][0]["transcript"].split()
        assert len(client.final_text().split()) >= len(spoken) - 1
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        await client.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_unusable_model_path_is_a_clear_error(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--port", "0", "--model", str(tmp_path / "nope"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"nope" in err and b"error" in err.lower()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--turn-url", "turn:127.0.0.1:3478"], b"--turn-secret"),
        (["--ice-transport-policy", "relay"], b"relay"),
        (["--stun-url", "turn:127.0.0.1:3478"], b"--turn-url"),
    ],
)
async def test_bad_ice_flags_are_clear_errors(args: list[str], needle: bytes) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.startswith(b"error: ") and needle in err


async def test_port_in_use_is_a_clear_error(model_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "--port", str(port), "--model", str(model_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert f"error: cannot listen on 127.0.0.1:{port}".encode() in err
    assert b"Traceback" not in err


@pytest.fixture(scope="module")
def model_zip(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Path:
    """The default model zipped as its official source ships it (one top-level folder)."""
    import zipfile

    out = tmp_path_factory.mktemp("mirror") / "vosk-model-small-en-us-0.15.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for file in sorted(model_path.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                zf.write(file, f"vosk-model-small-en-us-0.15/{file.relative_to(model_path)}")
    return out


async def test_first_run_fetches_verifies_and_serves(model_zip: Path, tmp_path: Path) -> None:
    """What a new user's first `python -m gateway` does, with a loopback mirror."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(model_zip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{model_zip.name}"
    env = {k: v for k, v in os.environ.items() if k != "VOSK_MODEL"}
    env |= {"GATEWAY_MODEL_URL": url, "GATEWAY_CACHE_DIR": str(tmp_path / "cache")}
    try:
        for attempt in ("download", "cached"):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "--port", "0",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            )
            assert proc.stdout is not None and proc.stderr is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
            assert "gateway listening on http://127.0.0.1:" in line, line
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0
            if attempt == "download":
                assert b"100%" in err, "progress is shown while downloading"
            else:
                assert b"100%" not in err, "the verified cache is reused"
    finally:
        server.shutdown()
    assert (tmp_path / "cache" / "vosk-model-small-en-us-0.15" / "am" / "final.mdl").is_file()
