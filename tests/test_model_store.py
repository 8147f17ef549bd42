"""The model fetcher against a real loopback HTTP server serving zips built here.

The official source is unreachable from CI, and a mock of urllib would not exercise the
parts that go wrong in practice (Content-Length handling, a connection closed early, a
404 page), so each test serves real bytes over a real socket.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.model import (
    DEFAULT_MODEL,
    ModelSpec,
    ModelUnavailableError,
    default_cache_dir,
    resolve_model,
)

# A tiny stand-in for a Vosk model: the landmark files plus a nested one.
FAKE_FILES: dict[str, bytes] = {
    "README": b"fake model for tests\n",
    "am/final.mdl": os.urandom(4096),
    "conf/model.conf": b"--min-active=200\n",
    "graph/HCLr.fst": os.urandom(2048),
    "graph/phones/word_boundary.int": b"1 nonword\n",
}


def sums_of(files: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}


def build_zip(files: dict[str, bytes], prefix: str = "fake-model/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if prefix:
            zf.writestr(prefix, b"")  # explicit directory entry, as `zip -r` writes
        for rel, data in files.items():
            zf.writestr(prefix + rel, data)
    return buf.getvalue()


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    truncate_at: int | None = None  # advertise len(body), send only this many bytes
    path: Path | None = None  # serve a (large) file from disk instead of ``body``


@dataclass
class LoopbackServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    state = LoopbackServer(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None or route.status != 200:
                self.send_error(404 if route is None else route.status)
                return
            size = route.path.stat().st_size if route.path else len(route.body)
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if route.path is not None:
                with route.path.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        self.wfile.write(block)
                return
            body = route.body if route.truncate_at is None else route.body[: route.truncate_at]
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def fake_spec(server: LoopbackServer, path: str = "/fake.zip") -> ModelSpec:
    return ModelSpec(name="fake-model", url=server.url(path), sha256=sums_of(FAKE_FILES))


def cache_leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# --------------------------------------------------------------------------- happy path


def test_fetches_verifies_and_caches(server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/fake.zip"] = Route(build_zip(FAKE_FILES))
    spec = fake_spec(server)
    seen: list[tuple[int, int | None]] = []

    path = resolve_model(
        None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: seen.append((d, t))
    )

    assert path == tmp_path / "fake-model"
    for rel, data in FAKE_FILES.items():
        assert (path / rel).read_bytes() == data
    assert server.requests == ["/fake.zip"]
    size = len(server.routes["/fake.zip"].body)
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    # Only the model is left: no temporaries.
    assert cache_leftovers(tmp_path) == ["fake-model"]

    # Second call: served from the cache, no request.
    assert resolve_model(None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: None) == path
    assert server.requests == ["/fake.zip"]


def test_zip_without_top_level_directory(server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/flat.zip"] = Route(build_zip(FAKE_FILES, prefix=""))
    path = resolve_model(
        None, spec=fake_spec(server, "/flat.zip"), cache_dir=tmp_path, progress=lambda d, t: None
    )
    assert (path / "am" / "final.mdl").read_bytes() == FAKE_FILES["am/final.mdl"]


def test_changed_cached_file_is_noticed_and_refetched(
    server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/fake.zip"] = Route(build_zip(FAKE_FILES))
    spec = fake_spec(server)
    path = resolve_model(None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: None)

    (path / "conf" / "model.conf").write_bytes(b"tampered\n")
    assert resolve_model(None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: None) == path
    assert len(server.requests) == 2
    assert (path / "conf" / "model.conf").read_bytes() == FAKE_FILES["conf/model.conf"]

    (path / "graph" / "HCLr.fst").unlink()
    resolve_model(None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: None)
    assert len(server.requests) == 3
    assert (path / "graph" / "HCLr.fst").is_file()
    assert cache_leftovers(tmp_path) == ["fake-model"]


def test_concurrent_fetches_do_not_corrupt_each_other(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """Several processes starting at once each download; one copy wins, all use it."""
    server.routes["/fake.zip"] = Route(build_zip(FAKE_FILES))
    spec = fake_spec(server)
    start = threading.Barrier(4)
    results: list[Path | BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(
                resolve_model(None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: None)
            )
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [tmp_path / "fake-model"] * 4
    assert cache_leftovers(tmp_path) == ["fake-model"]
    for rel, data in FAKE_FILES.items():
        assert (tmp_path / "fake-model" / rel).read_bytes() == data


def test_stale_temporaries_of_a_killed_fetch_are_removed(
    server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/fake.zip"] = Route(build_zip(FAKE_FILES))
    old_part = tmp_path / ".fake-model.abc123.zip.part"
    old_part.write_bytes(b"half a download")
    old_dir = tmp_path / ".fake-model.def456.tmp"
    (old_dir / "am").mkdir(parents=True)
    fresh_part = tmp_path / ".fake-model.fresh.zip.part"  # maybe another process's, live
    fresh_part.write_bytes(b"in progress")
    two_days_ago = time.time() - 2 * 86400
    for p in (old_part, old_dir):
        os.utime(p, (two_days_ago, two_days_ago))

    resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path, progress=lambda d, t: None)
    assert cache_leftovers(tmp_path) == [fresh_part.name, "fake-model"]


def test_default_progress_draws_a_bar_on_stderr(
    server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.routes["/fake.zip"] = Route(build_zip(FAKE_FILES))
    resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert "Downloading fake-model" in err and "100%" in err and err.endswith("\n")


# --------------------------------------------------------------------------- failures


def test_corrupted_download_names_the_file_and_keeps_nothing(
    server: LoopbackServer, tmp_path: Path
) -> None:
    bad = dict(FAKE_FILES)
    data = bytearray(bad["am/final.mdl"])
    data[100] ^= 0x01  # one wrong bit
    bad["am/final.mdl"] = bytes(data)
    server.routes["/fake.zip"] = Route(build_zip(bad))

    with pytest.raises(ModelUnavailableError) as info:
        resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path, progress=lambda d, t: None)
    msg = str(info.value)
    assert "am/final.mdl" in msg and "sha256 mismatch" in msg
    assert "conf/model.conf" not in msg  # only the bad file is blamed
    assert "--model" in msg and "VOSK_MODEL" in msg
    assert cache_leftovers(tmp_path) == []


def test_zip_missing_expected_file(server: LoopbackServer, tmp_path: Path) -> None:
    partial = {k: v for k, v in FAKE_FILES.items() if k != "graph/HCLr.fst"}
    server.routes["/fake.zip"] = Route(build_zip(partial))
    with pytest.raises(ModelUnavailableError, match=r"missing.*graph/HCLr\.fst"):
        resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path, progress=lambda d, t: None)
    assert cache_leftovers(tmp_path) == []


def test_truncated_download(server: LoopbackServer, tmp_path: Path) -> None:
    body = build_zip(FAKE_FILES)
    server.routes["/fake.zip"] = Route(body, truncate_at=len(body) // 2)
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path, progress=lambda d, t: None)
    msg = str(info.value)
    assert server.url("/fake.zip") in msg and "truncated" in msg
    assert cache_leftovers(tmp_path) == []


def test_http_404(server: LoopbackServer, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model(
            None,
            spec=fake_spec(server, "/nope.zip"),
            cache_dir=tmp_path,
            progress=lambda d, t: None,
        )
    msg = str(info.value)
    assert server.url("/nope.zip") in msg and "HTTP 404" in msg and "VOSK_MODEL" in msg
    assert cache_leftovers(tmp_path) == []


def test_unreachable_host(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.zip"
    spec = ModelSpec(name="fake-model", url=url, sha256=sums_of(FAKE_FILES))
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model(None, spec=spec, cache_dir=tmp_path, progress=lambda d, t: None, timeout=5)
    msg = str(info.value)
    assert url in msg and "refused" in msg.lower()
    assert cache_leftovers(tmp_path) == []


def test_not_a_zip(server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/fake.zip"] = Route(b"<html>captive portal</html>")
    with pytest.raises(ModelUnavailableError, match="not a valid zip"):
        resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path, progress=lambda d, t: None)
    assert cache_leftovers(tmp_path) == []


@pytest.mark.parametrize("evil", ["fake-model/../../evil.txt", "../evil.txt", "/tmp/evil.txt"])
def test_path_traversal_is_rejected(server: LoopbackServer, tmp_path: Path, evil: str) -> None:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        for rel, data in FAKE_FILES.items():
            zf.writestr("fake-model/" + rel, data)
        zf.writestr(zipfile.ZipInfo(evil), b"gotcha")
    server.routes["/fake.zip"] = Route(body.getvalue())
    cache = tmp_path / "cache" / "deep"

    with pytest.raises(ModelUnavailableError, match="unsafe path"):
        resolve_model(None, spec=fake_spec(server), cache_dir=cache, progress=lambda d, t: None)
    assert cache_leftovers(cache) == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_member_is_rejected(server: LoopbackServer, tmp_path: Path) -> None:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        for rel, data in FAKE_FILES.items():
            zf.writestr("fake-model/" + rel, data)
        link = zipfile.ZipInfo("fake-model/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    server.routes["/fake.zip"] = Route(body.getvalue())
    with pytest.raises(ModelUnavailableError, match="symbolic link"):
        resolve_model(None, spec=fake_spec(server), cache_dir=tmp_path, progress=lambda d, t: None)
    assert cache_leftovers(tmp_path) == []


# --------------------------------------------------------------------------- explicit path


def test_explicit_path_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist") as info:
        resolve_model(str(tmp_path / "nowhere"))
    assert "--model" in str(info.value) and "VOSK_MODEL" in str(info.value)


def test_explicit_path_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "am").mkdir()
    with pytest.raises(ModelUnavailableError, match=r"does not look like a Vosk model") as info:
        resolve_model(str(tmp_path))
    assert "am/final.mdl" in str(info.value) and "conf/model.conf" in str(info.value)


def test_explicit_path_is_a_zip_file(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    archive.write_bytes(build_zip(FAKE_FILES))
    with pytest.raises(ModelUnavailableError, match="Unzip it first"):
        resolve_model(str(archive))


def test_explicit_path_parent_of_model_gets_a_hint(tmp_path: Path) -> None:
    model = tmp_path / "fake-model"
    for rel, data in FAKE_FILES.items():
        (model / rel).parent.mkdir(parents=True, exist_ok=True)
        (model / rel).write_bytes(data)
    with pytest.raises(ModelUnavailableError, match="Did you mean .*fake-model"):
        resolve_model(str(tmp_path))
    # The model itself is accepted without sums, and nothing is downloaded.
    assert resolve_model(str(model)) == model.resolve()


# --------------------------------------------------------------------------- cache location


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GATEWAY_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "conversation-gateway"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "conversation-gateway"


# --------------------------------------------------------------------------- the real model


def test_embedded_sums_match_the_real_model(server: LoopbackServer, tmp_path: Path) -> None:
    """Zip the real model the way the official archive is laid out and fetch it.

    Proves the sums embedded in DEFAULT_MODEL are right (a typo there would make every
    first start fail) and that a 40+ MB download goes through the same path.
    """
    source = os.environ.get("VOSK_MODEL")
    if not source:
        pytest.skip("VOSK_MODEL is not set")
    model = Path(source)
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for file in sorted(model.rglob("*")):
            if file.is_file():
                zf.write(file, f"{DEFAULT_MODEL.name}/{file.relative_to(model).as_posix()}")
    server.routes["/official.zip"] = Route(path=archive)
    spec = dataclasses.replace(DEFAULT_MODEL, url=server.url("/official.zip"))
    cache = tmp_path / "cache"

    path = resolve_model(None, spec=spec, cache_dir=cache, progress=lambda d, t: None)

    assert path == cache / DEFAULT_MODEL.name
    assert set(DEFAULT_MODEL.sha256) == {
        f.relative_to(model).as_posix() for f in model.rglob("*") if f.is_file()
    }
    assert DEFAULT_MODEL.url.startswith("https://alphacephei.com/vosk/models/")
