"""Revoking an app ends what its tokens hold open, at once, on every entrance; other apps'
sessions go on untouched. A real closed gateway (apps file reloaded every 0.2 s), a real
aiortc call, a raw Symbl stream and a console socket on loopback (scripted recogniser)."""

from __future__ import annotations

import asyncio

import aiohttp

from gateway.auth import ACCESS_KEY, Role
from gateway.auth.app_file import FileAppRegistry
from gateway.http.keys import SYMBL_KEY, WEBRTC_KEY
from tests.access.calls import Calls
from tests.access.conftest import StartGateway
from tests.access.support import ALICE, Apps, symbl_stream, token, ws_url
from tests.support.symbl_client import finals, kind_of, silence, start_request
from tests.symbl.conftest import eventually


async def test_revoking_an_app_ends_its_calls_streams_and_consoles(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    doomed = await apps.add(Role.AGENT, tenant="x")
    kept = await apps.add(Role.AGENT, tenant="x")
    gw = await gateways()
    doomed_token, kept_token = await token(http, gw.url, doomed), await token(http, gw.url, kept)
    calls = Calls()
    try:
        call = await calls.join(gw.url, doomed_token, "Greta", "room-1", 60)
        stream = await symbl_stream(gw.url, "conn-doomed", doomed_token)
        await stream.send(start_request(speaker=ALICE))
        await stream.notice("conversation_created")
        other = await symbl_stream(gw.url, "conn-kept", kept_token)
        await other.send(start_request(speaker=ALICE))
        kept_cid = await other.conversation_id()
        # The doomed app's agent watches the *kept* app's conversation (same tenant): its
        # sockets can only end because of the revocation, not because the call ended.
        console = await http.ws_connect(ws_url(gw.url, f"/subscribe/{kept_cid}", doomed_token))
        assert (await console.receive_json(timeout=5))["type"] == "subscribed"
        listener = await http.ws_connect(ws_url(gw.url, "/v1/subscribe/conn-kept",
                                                doomed_token))
        assert (await listener.receive_json(timeout=5))["type"] == "subscribed"

        await FileAppRegistry.load(apps.path).revoke(doomed.app_id)  # gateway apps revoke

        # The Symbl stream: an app_revoked error in Symbl's shape, then a policy close.
        await stream.until(lambda m: kind_of(m) == "error")
        error = [m for m in stream.received if kind_of(m) == "error"][-1]
        assert error["code"] == "app_revoked" and "revoked" in error["message"], error
        await stream.rest()
        assert stream.close_code == 1008
        # The call: told why on its signaling connection, and gone from the gateway.
        told = await call.client.error(timeout=10)
        assert told["code"] == "app_revoked", told
        await eventually(lambda: not gw.app[WEBRTC_KEY].sessions, timeout=10)
        # The console and the Symbl subscriber: their sockets end (the call they watch goes on).
        for socket in (console, listener):
            while (await socket.receive(timeout=10)).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING):
                pass
        assert "conn-doomed" not in gw.app[SYMBL_KEY].sessions

        # The other app's stream is untouched: it still recognises speech.
        for frame in silence(1.6):
            await other.send(frame)
        await other.until(lambda m: kind_of(m) == "recognition_result"
                          and m["message"]["isFinal"])
        assert finals(other.received) == ["hello thanks for calling support"]
        await other.close()
        # And the revoked token opens nothing new.
        refused = await symbl_stream(gw.url, "conn-again", doomed_token)
        codes = [m.get("code") for m in await refused.rest() if isinstance(m, dict)]
        assert codes == ["app_revoked"], codes
        await refused.close()
        await console.close()
        await listener.close()
    finally:
        await calls.close()
        await asyncio.sleep(0)


async def test_an_emptied_apps_file_refuses_new_sessions_but_cuts_no_call(
        gateways: StartGateway, apps: Apps, http: aiohttp.ClientSession) -> None:
    agent = await apps.add(Role.AGENT, tenant="x")
    gw = await gateways()
    agent_token = await token(http, gw.url, agent)
    stream = await symbl_stream(gw.url, "conn-stays", agent_token)
    try:
        await stream.send(start_request(speaker=ALICE))
        await stream.notice("conversation_created")
        apps.path.write_text('{"version": 1, "apps": []}\n')  # a deploy mistake
        registry = gw.app[ACCESS_KEY].registry
        assert registry is not None
        for _ in range(50):  # the reload comes within 0.2 s
            if not await registry.list():
                break
            await asyncio.sleep(0.1)
        again = await symbl_stream(gw.url, "conn-new", agent_token)
        refused = [m.get("code") for m in await again.rest() if isinstance(m, dict)]
        await again.close()
        assert refused == ["app_revoked"]
        for frame in silence(1.6):  # the live stream goes on
            await stream.send(frame)
        await stream.until(lambda m: kind_of(m) == "recognition_result"
                           and m["message"]["isFinal"])
        assert "conn-stays" in gw.app[SYMBL_KEY].sessions
    finally:
        await stream.close()
