"""The JSON file app registry (``--apps-file``).

JSON because the standard library reads and writes it (TOML would need a writer package
for the CLI), and because nobody writes these records by hand: hashes come from the CLI.
The file is ``{"version": 1, "apps": [ {appId, secretHash, role, tenant, ...}, ... ]}``.

Several processes touch it: the gateway reads it (and re-reads it when it changes, so a
revocation by ``gateway apps revoke`` takes effect within seconds), the CLI rewrites it.
Writers take an exclusive ``flock`` on a sidecar ``.lock`` file, re-read under the lock,
and replace the file atomically (write a temporary file, fsync, rename), so a reader
never sees half a file and two CLI runs never lose each other's change. The file is
created 0600: hashes are not secrets, but nobody else needs to read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .apps import App, AppExists, AppNotFound

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
Signature = tuple[int, int, int]  # inode, mtime_ns, size


def read_apps(path: Path) -> dict[str, App]:
    """Parse the file; ValueError (naming the file) when it is not a valid apps file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not an apps file (expected \"version\": {FORMAT_VERSION})")
    records = data.get("apps")
    if not isinstance(records, list):
        raise ValueError(f"{path}: \"apps\" must be a list")
    apps: dict[str, App] = {}
    for record in records:
        try:
            app = App.from_json(record)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if app.app_id in apps:
            raise ValueError(f"{path}: app {app.app_id} appears twice")
        apps[app.app_id] = app
    return apps


def _write_apps(path: Path, apps: dict[str, App]) -> None:
    text = json.dumps({"version": FORMAT_VERSION,
                       "apps": [a.to_json() for a in apps.values()]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _update(path: Path, change: Callable[[dict[str, App]], App]) -> tuple[App, dict[str, App]]:
    """Read, change and rewrite the file under the lock; returns the changed app."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        apps = read_apps(path) if path.exists() else {}
        app = change(apps)
        _write_apps(path, apps)
        return app, apps


class FileAppRegistry:
    """:class:`~gateway.auth.apps.AppRegistry` over one JSON file, cached in memory."""

    def __init__(self, path: Path, apps: dict[str, App], signature: Signature | None) -> None:
        self.path = path
        self._apps = apps
        self._signature = signature

    @classmethod
    def load(cls, path: Path, *, must_exist: bool = True) -> FileAppRegistry:
        """Read ``path`` now (at startup, before the loop serves anything).

        ``must_exist``: the gateway refuses a missing file (a typo must not start a gateway
        nobody can use); the CLI's ``create`` makes it.
        """
        path = path.expanduser().resolve()
        if not path.exists():
            if must_exist:
                raise ValueError(f"{path}: no such apps file; create an app with "
                                 f"'gateway apps create --apps-file {path} ...'")
            return cls(path, {}, None)
        signature = _signature(path)
        return cls(path, read_apps(path), signature)

    @property
    def source(self) -> str:
        return str(self.path)

    async def get(self, app_id: str) -> App | None:
        return self._apps.get(app_id)

    async def list(self) -> list[App]:
        return list(self._apps.values())

    async def add(self, app: App) -> None:
        def change(apps: dict[str, App]) -> App:
            if app.app_id in apps:
                raise AppExists(app.app_id)
            apps[app.app_id] = app
            return app

        _, self._apps = await asyncio.to_thread(_update, self.path, change)
        self._signature = await asyncio.to_thread(_signature, self.path)

    async def revoke(self, app_id: str) -> App:
        def change(apps: dict[str, App]) -> App:
            app = apps.get(app_id)
            if app is None:
                raise AppNotFound(app_id)
            if app.active:
                app = apps[app_id] = app.revoke()
            return app

        app, self._apps = await asyncio.to_thread(_update, self.path, change)
        self._signature = await asyncio.to_thread(_signature, self.path)
        return app

    async def refresh(self) -> bool:
        """Re-read the file if it changed. A broken file keeps the last good apps."""
        signature = await asyncio.to_thread(_signature, self.path)
        if signature == self._signature:
            return False
        try:
            apps = await asyncio.to_thread(read_apps, self.path) if signature else {}
        except (OSError, ValueError) as exc:
            log.error("apps file changed but cannot be used, keeping the previous apps: %s",
                      exc)
            self._signature = signature  # do not log the same error every poll
            return False
        self._apps, self._signature = apps, signature
        log.info("apps file %s reloaded: %d active apps", self.path,
                 sum(a.active for a in apps.values()))
        return True

    def describe(self) -> str:
        active = sum(a.active for a in self._apps.values())
        return f"{active} active apps in {self.path}"
