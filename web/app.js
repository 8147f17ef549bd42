/* The call page: join by invite link, talk, read one live transcript.
 *
 * Two kinds of connection per person:
 *  - to the gateway: microphone audio (WebRTC) for recognition, results back on the
 *    "insights" data channel; signaling is JSON on the /ws WebSocket, or over HTTP where a
 *    proxy blocks WebSockets (call-signal.js, docs/protocol.md). call-session.js keeps that
 *    session alive: it follows redirects to another node, and after a network blip it
 *    reconnects and resumes the same session ("Reconnecting…", "Reconnected.");
 *  - to each other person: direct audio (call-peers.js), negotiated through the same /ws
 *    ("peer" messages), with presence ("participants", "participant_joined/left/state").
 * The gateway never carries the call's audio between people; it only listens.
 *
 * Every piece of server-provided text is put into the page with textContent, never as
 * HTML. window.gateway mirrors the page state for tests and debugging.
 */
"use strict";

(function () {
  const CONNECT_TIMEOUT_MS = 35000; // the server gives up after 30 s and says so
  const BYE_TIMEOUT_MS = 15000; // server: flush up to 10 s + data channel drain 2 s
  const POLL_MS = 250; // levels and link facts
  const SPEAKING_LEVEL = 0.02;
  const LOCAL_LEVEL_HISTORY = 1200;

  const params = new URLSearchParams(window.location.search);
  const $ = (id) => document.getElementById(id);
  const accessToken = takeAccessToken();

  // A gateway with access control needs a caller token (docs/access-control.md, "The call
  // page"): the app that sends people here mints one for their call and puts it in the
  // link, preferably in the fragment (#access_token=...), which browsers never send to any
  // server or put in a Referer. It is taken out of the address bar at once (so it is not
  // bookmarked, shared or shown) and kept for this tab only, so a reload still works.
  function takeAccessToken() {
    const hash = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const given = hash.get("access_token") || params.get("access_token");
    const KEY = "gateway.accessToken";
    try {
      if (given) {
        window.sessionStorage.setItem(KEY, given);
        const url = new URL(window.location.href);
        url.searchParams.delete("access_token");
        hash.delete("access_token");
        url.hash = hash.toString();
        window.history.replaceState(null, "", url.toString());
        return given;
      }
      return window.sessionStorage.getItem(KEY) || "";
    } catch (e) {
      return given || "";
    }
  }

  // ---------------------------------------------------------------- test/debug hook
  const gateway = {
    state: "idle", // idle | starting | connecting | connected | stopping | ended | error
    signaling: "closed", ice: "new", peer: "new", channel: "closed",
    sessionId: null, conversationId: null, relay: false, iceTransportPolicy: "all",
    features: [], maxParticipants: null,
    muted: false, mic: "off", // off | on | ended | error
    deviceId: "", devices: [],
    people: [], // the others present: {id, name, userId, muted, audio, level}
    departed: [], // {id, name, reason}
    peers: {}, // id -> {state, polite, levels, facts, connectedAfterMs}
    localLevels: [], // [epoch ms, level] of one's own microphone (muted or not)
    finals: [], partial: "", partialCount: 0, insights: [], topics: [], trackers: [],
    analytics: null, events: [],
    errors: [], // {code, message}
    timings: {}, // ms since the join click
    link: null, // how signaling travels: "websocket" or "http" (a proxy blocked WebSockets)
    linkMode: null, // "websocket", or over HTTP "events" (server-sent) or "poll" (long polls)
    reconnecting: false, reconnects: [], // resumes: {ms, attempts, media, link, replayed, missed}
    draining: false, moves: [], // the node is shutting down; new sessions after it: {ms, attempts, sessionId}
    redirects: [], // {url, reason, nodeId} followed to reach the node serving the call
    lastSeq: 0, duplicates: 0, // data-channel results: highest seq, and repeats dropped
  };
  window.gateway = gateway;
  // For tests and debugging: renegotiate a link now (both sides at once makes glare).
  Object.defineProperty(gateway, "debug", { enumerable: false, value: {
    restartIce(id) {
      const link = call && call.links.get(id);
      if (!link) return false;
      link.pc.restartIce();
      return true;
    },
    iceUfrags(id) { // [ours, theirs] of the link's current descriptions
      const link = call && call.links.get(id);
      const ufrag = (d) => (d && /a=ice-ufrag:(\S+)/.exec(d.sdp) || [])[1] || null;
      return link ? [ufrag(link.pc.localDescription), ufrag(link.pc.remoteDescription)] : null;
    },
    streams() { // for latency measurements: {local: MediaStream, remote: {id: MediaStream}}
      const remote = {};
      if (call) for (const [id, link] of call.links) remote[id] = link.audio.srcObject;
      return { local: call ? call.stream : null, remote };
    },
    unplug() { // what the browser does when the microphone is pulled out
      if (call && call.track) call.track.dispatchEvent(new Event("ended"));
    },
    breakMedia() { // the media connection to the gateway dies (the page renegotiates it)
      if (call && call.gw && call.gw.pc) call.gw.pc.close();
      if (call && call.gw) call.gw.mediaState({ connectionState: "failed" });
    },
    session() { return call ? call.gw : null; },
  } });

  // ---------------------------------------------------------------- words for people
  const ERROR_TEXT = {
    mic_denied: ["Your microphone is blocked for this page.",
      "Allow the microphone for this site (the icon at the left of the address bar), then press Join again."],
    no_mic: ["No microphone was found.", "Plug one in, then press Join again."],
    mic_busy: ["Your microphone is being used by another app.",
      "Close the other app (or choose another microphone), then try again."],
    mic_gone: ["That microphone is no longer available.", "Choose another microphone and try again."],
    mic_unplugged: ["Your microphone was disconnected.",
      "Plug it back in or choose another microphone: the others cannot hear you until then."],
    mic_unsupported: ["This page cannot use a microphone here.",
      "Open it over HTTPS (or on localhost) in a current browser."],
    unreachable: ["Cannot reach the call server.",
      "It may be down, or a proxy may block the connection. Try again in a moment."],
    signaling_timeout: ["The call server did not answer in time.", "Try again in a moment."],
    signaling_closed: ["The call server closed the connection.", "The call has ended for you."],
    reconnect_failed: ["Could not reconnect: the call server could not be reached.",
      "The connection was lost for too long, so the call ended for you. Press Join again to rejoin."],
    resume_failed: ["Could not reconnect: the call server no longer had your place in the call.",
      "Press Join again to rejoin the call."],
    too_many_redirects: ["Could not connect: the call servers kept sending the page elsewhere.",
      "Try again in a moment."],
    server_busy: ["The call server is busy.", "It is at its limit of calls; try again later."],
    shutting_down: ["The call server is restarting.", "Try again in a moment."],
    ice_failed: ["Your audio could not reach the call server.",
      "A firewall may block it; the server may need a relay (TURN) server."],
    connect_timeout: ["Your audio could not reach the call server in time.",
      "A firewall may block it; the server may need a relay (TURN) server."],
    peer_closed: ["The connection to the call server closed.", "The call has ended for you."],
    no_relay: ["Relay-only mode needs a relay (TURN) server.",
      "The call server offered none, so no relayed connection is possible."],
    invalid_config: ["The call server refused the call settings.",
      "Check the phrases to track under Call settings (one group per line, Name: phrase, phrase)."],
    unsupported_language: ["The call server does not serve this language.", ""],
    conversation_full: ["This call is full.",
      "It already has everyone it can take. Ask the others, or leave the call code empty to start a new call."],
    conversation_full_2: ["This call is full.",
      "It is a call for two people, and both are already in it. Ask them, or leave the call code empty to start a new call."],
    internal: ["Something went wrong in this page.", "Reload it and try again."],
    // Access control: the gateway checks the token the link carried (or its absence).
    missing_token: ["This call needs an invitation.",
      "Open the link the app gave you for this call: it carries your access to it."],
    token_refused: ["Your access to this call was not accepted.",
      "The link may be incomplete or altered. Open the link the app gave you again, or ask for a new one."],
    token_expired: ["Your access to this call has expired.",
      "Ask the app for a new link to this call."],
    app_revoked: ["Access to this call has been withdrawn.", "Ask whoever invited you."],
    conversation_not_in_scope: ["Your link is for another call.",
      "Open the link the app gave you for this call, or ask for one."],
    conversation_of_other_tenant: ["Your link does not give access to this call.",
      "Ask whoever invited you for a link to it."],
    too_many_sessions: ["This link is already in use in other windows.",
      "Close the call in your other tabs or devices, then try again."],
    rate_limited: ["Too many attempts in a short time.", "Wait a minute, then try again."],
    store_unavailable: ["The call server cannot check your access right now.",
      "Try again in a moment."],
  };
  // Refusals of a token whose wording is the same for the person at the page.
  for (const code of ["malformed_token", "invalid_signature", "unsupported_algorithm",
    "wrong_token_type", "invalid_claims", "token_not_yet_valid", "conflicting_tokens"]) {
    ERROR_TEXT[code] = ERROR_TEXT.token_refused;
  }

  function describeError(code) {
    return ERROR_TEXT[code] || ["The call server reported a problem.", "The call has ended for you."];
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setPill(id, value) {
    const node = $(id);
    node.textContent = value;
    node.dataset.state = value;
  }

  function showAlert(title, text, detail) {
    $("alert-title").textContent = title;
    $("alert-text").textContent = text ? " " + text : "";
    $("alert-detail").textContent = detail || "";
    $("alert-detail").hidden = !detail;
    $("alert").hidden = false;
  }

  function clearAlert() {
    $("alert").hidden = true;
    for (const id of ["alert-title", "alert-text", "alert-detail"]) $(id).textContent = "";
  }

  function reportError(code, serverMessage, facts) {
    gateway.errors.push({ code, message: serverMessage || "" });
    let wording = code;
    if (code === "conversation_full" && facts && facts.maxParticipants === 2) wording = "conversation_full_2";
    const [title, text] = describeError(wording);
    // The server's own words (for whoever runs it) go in a small line below.
    showAlert(title, text, serverMessage ? `Details: ${serverMessage} (${code})` : "");
  }

  // ---------------------------------------------------------------- state
  let call = null; // the current call, or null
  let generation = 0;
  let audioContext = null;

  const transcript = window.CallTranscript.create(gateway, {
    selfId: () => gateway.sessionId,
    selfUserId: () => userId(),
    startMs: () => (call ? call.startedAtEpoch : Date.now()),
    mark,
  });

  function active() {
    return ["starting", "connecting", "connected"].includes(gateway.state);
  }

  function setCallState(state) {
    gateway.state = state;
    setPill("state-call", state);
    document.body.dataset.call = state;
    const busy = active() || state === "stopping";
    $("call-button").disabled = busy;
    $("call-label").textContent = state === "ended" || state === "error" ? "Join again" : "Join call";
    for (const id of ["speaker-name", "conversation-id", "mic-select"]) $(id).disabled = busy;
    $("call-form").hidden = busy;
    $("in-call").hidden = !(state === "connecting" || state === "connected" || state === "stopping");
    $("leave-button").disabled = state === "stopping";
    render();
  }

  function setSignaling(value) { gateway.signaling = value; setPill("state-signaling", value); }
  function setPeer(value) { gateway.peer = value; setPill("state-peer", value); }
  function setChannel(value) { gateway.channel = value; setPill("state-channel", value); }

  function mark(name) {
    if (call && gateway.timings[name] === undefined) {
      gateway.timings[name] = Math.round(performance.now() - call.clickedAt);
    }
  }

  // ---------------------------------------------------------------- rendering the call
  function displayName(p) {
    return (p && (p.name || p.userId)) || "Someone";
  }

  function names(list) {
    const n = list.map(displayName);
    return n.length <= 1 ? n.join("") : `${n.slice(0, -1).join(", ")} and ${n[n.length - 1]}`;
  }

  function statusText() {
    const others = gateway.people;
    switch (gateway.state) {
      case "idle":
        return params.get("conversation") ? "You're invited to a call. Enter your name and join."
          : "Enter your name and start a call.";
      case "starting": return "Starting your microphone…";
      case "connecting": return "Connecting to the call…";
      case "stopping": return "Leaving the call…";
      case "ended": return "You left the call.";
      case "error": return "You are not in the call.";
      default: break;
    }
    const parts = [];
    if (gateway.draining) parts.push(RESTARTING);
    else if (gateway.reconnecting) parts.push("Reconnecting…");
    if (!others.length) {
      const last = gateway.departed[gateway.departed.length - 1];
      if (last) parts.push(last.reason === "dropped" ? `${last.name}'s connection dropped.` : `${last.name} left the call.`);
      parts.push("Waiting for someone to join: share the invite link.");
    } else {
      parts.push(`In call with ${names(others)}.`);
      const away = others.filter((p) => p.reconnecting);
      if (away.length) parts.push(`${names(away)}'s connection dropped: reconnecting…`);
      const trouble = others.filter((p) => !p.reconnecting && (p.audio === "reconnecting" || p.audio === "failed"));
      if (trouble.length) parts.push(`Reconnecting to ${names(trouble)}…`);
      const muted = others.filter((p) => p.muted);
      if (muted.length) parts.push(`${names(muted)} ${muted.length === 1 ? "is" : "are"} muted.`);
    }
    if (gateway.muted) parts.push("You're muted.");
    if (gateway.mic === "ended") parts.push("Your microphone is disconnected.");
    return parts.join(" ");
  }

  const AUDIO_WORDS = {
    connecting: "Connecting audio…", reconnecting: "Connection lost, reconnecting…",
    failed: "Can't reach their audio, retrying…", connected: "",
    none: "Transcript only: their app can't share audio",
  };

  function personTile(p, self) {
    const li = el("li", "person");
    li.dataset.id = p.id || "";
    li.dataset.self = self ? "true" : "false";
    li.dataset.muted = p.muted ? "true" : "false";
    li.dataset.reconnecting = (self ? gateway.reconnecting : p.reconnecting) ? "true" : "false";
    const speaking = !p.muted && p.level > SPEAKING_LEVEL;
    li.dataset.speaking = speaking ? "true" : "false";
    const name = displayName(p);
    li.append(el("span", "avatar", name.trim().charAt(0).toUpperCase() || "?"));
    const text = el("span", "person-text");
    text.append(el("span", "person-name", self ? `${name} (you)` : name));
    let state = "";
    if (self && gateway.mic === "ended") state = "Microphone disconnected";
    else if (!self && p.reconnecting) state = "Reconnecting…";
    else if (self && gateway.reconnecting) state = "Reconnecting…";
    else if (p.muted) state = self && p.level > SPEAKING_LEVEL ? "Muted: you are talking but nobody hears you" : "Muted";
    else if (!self && p.audio && AUDIO_WORDS[p.audio]) state = AUDIO_WORDS[p.audio];
    else if (speaking) state = "Speaking";
    text.append(el("span", "person-state", state));
    li.append(text);
    const meter = el("span", "meter");
    meter.setAttribute("aria-hidden", "true");
    const fill = el("span", "meter-fill");
    fill.style.width = `${Math.min(100, Math.round((p.muted ? 0 : p.level) * 400))}%`;
    meter.append(fill);
    li.append(meter);
    return li;
  }

  function render() {
    $("status").textContent = statusText();
    const people = $("people");
    const tiles = [];
    if (call && gateway.sessionId) {
      tiles.push(personTile({ id: gateway.sessionId, name: myName(), muted: gateway.muted,
        level: call.meter ? call.localLevel : 0 }, true));
    }
    for (const p of gateway.people) tiles.push(personTile(p, false));
    if (gateway.state === "connected" && !gateway.people.length) {
      const waiting = el("li", "person placeholder");
      waiting.append(el("span", "avatar", "…"), el("span", "person-text", "Waiting for someone to join"));
      tiles.push(waiting);
    }
    people.replaceChildren(...tiles);
    const mute = $("mute-button");
    mute.setAttribute("aria-pressed", gateway.muted ? "true" : "false");
    mute.dataset.muted = gateway.muted ? "true" : "false";
    $("mute-label").textContent = gateway.muted ? "Unmute" : "Mute";
    $("invite").hidden = !(gateway.conversationId && gateway.state === "connected" &&
      (!gateway.maxParticipants || gateway.people.length + 1 < gateway.maxParticipants));
    renderDetails();
  }

  function renderDetails() {
    if (!$("details").open) return;
    const rows = [["Session", gateway.sessionId || "—"], ["Call code", gateway.conversationId || "—"],
      ["Relay only", gateway.relay ? "yes" : "no"]];
    for (const [id, peer] of Object.entries(gateway.peers)) {
      const f = peer.facts || {};
      rows.push([`Peer ${id.slice(0, 8)}`, [peer.state, peer.polite ? "polite" : "impolite",
        f.local ? `ICE ${f.local}→${f.remote}` : "", f.rttMs !== undefined ? `RTT ${f.rttMs} ms` : "",
        f.jitterBufferMs !== undefined ? `jitter buffer ${f.jitterBufferMs} ms` : "",
        f.packetsLost ? `${f.packetsLost} lost` : "", f.lastProblem || ""].filter(Boolean).join(", ")]);
    }
    const dl = $("details-list");
    dl.replaceChildren();
    for (const [k, v] of rows) {
      const row = el("div", "row");
      row.append(el("dt", null, k), el("dd", null, v));
      dl.append(row);
    }
  }

  // ---------------------------------------------------------------- people and links
  function person(id) {
    return gateway.people.find((p) => p.id === id);
  }

  function addPerson(info, initiator) {
    if (!call || !info || !info.id || info.id === gateway.sessionId) return;
    let p = person(info.id);
    const direct = info.acceptsPeer !== false; // false: in the call for the transcript only
    if (!p) {
      p = { id: info.id, name: info.name || null, userId: info.userId || null, muted: Boolean(info.muted),
        reconnecting: Boolean(info.reconnecting), audio: direct ? "connecting" : "none", level: 0 };
      gateway.people.push(p);
      gateway.departed = gateway.departed.filter((d) => d.id !== info.id);
    } else {
      Object.assign(p, { name: info.name || p.name, userId: info.userId || p.userId, muted: Boolean(info.muted),
        reconnecting: Boolean(info.reconnecting) });
    }
    if (direct) linkFor(info, initiator);
    render();
  }

  function linkFor(info, initiator) {
    const current = call;
    let link = current.links.get(info.id);
    if (link) return link;
    link = new window.CallPeers.PeerLink({
      selfId: gateway.sessionId, remote: info, iceServers: current.iceServers, relay: gateway.relay,
      initiator, audioParent: $("remote-audio"),
      send: (data) => send(current, { type: "peer", to: info.id, data }),
      onBlocked: () => {
        // The join click normally lets audio play; a stricter browser wants another gesture.
        showAlert("Your browser is holding back the call audio.", "Click anywhere on the page to hear the others.");
        document.addEventListener("click", () => {
          clearAlert();
          for (const l of current.links.values()) l.play();
        }, { once: true });
      },
      onChange: (changed) => {
        const p = person(changed.id);
        if (p) p.audio = changed.state;
        const hook = gateway.peers[changed.id];
        if (hook) {
          hook.state = changed.state;
          if (changed.connectedAt !== null && hook.connectedAfterMs === null) {
            hook.connectedAfterMs = Math.round(changed.connectedAt - changed.createdAt);
            mark("peerConnected");
          }
        }
        render();
      },
    });
    current.links.set(info.id, link);
    gateway.peers[info.id] = { state: link.state, polite: link.polite, levels: link.levels,
      facts: link.facts, connectedAfterMs: null };
    if (current.track) link.setTrack(current.track, current.stream);
    return link;
  }

  function removePerson(info, reason) {
    if (!call || !info) return;
    const p = person(info.id);
    gateway.people = gateway.people.filter((x) => x.id !== info.id);
    const link = call.links.get(info.id);
    if (link) link.close();
    call.links.delete(info.id);
    if (gateway.peers[info.id]) gateway.peers[info.id].state = "closed";
    gateway.departed.push({ id: info.id, name: displayName(p || info), reason: reason || "left" });
    if (gateway.departed.length > 20) gateway.departed.shift();
    render();
  }

  function onPresence(current, message) {
    if (message.type === "participants") {
      gateway.maxParticipants = Number(message.maxParticipants) || null;
      const listed = Array.isArray(message.participants) ? message.participants : [];
      // After a resume it is a fresh roster: whoever is not in it left meanwhile.
      for (const p of gateway.people.slice()) {
        if (!listed.some((l) => l && l.id === p.id)) removePerson(p, "left");
      }
      // We arrived after them: we offer to each (the newcomer starts the negotiation).
      for (const p of listed) addPerson(p, true);
    } else if (message.type === "participant_joined") {
      addPerson(message.participant, false);
    } else if (message.type === "participant_left") {
      removePerson(message.participant, message.reason);
    } else if (message.type === "participant_state") {
      const info = message.participant || {};
      if (info.id === gateway.sessionId) return; // the acknowledgement of our own mute
      const p = person(info.id);
      if (p) {
        p.muted = Boolean(info.muted);
        p.reconnecting = Boolean(info.reconnecting);
      }
      render();
    } else if (message.type === "peer") {
      const from = typeof message.from === "string" ? message.from : null;
      if (!from || from === gateway.sessionId) return;
      const p = person(from);
      const link = current.links.get(from) || linkFor(p || { id: from }, false);
      if (!p) addPerson({ id: from }, false);
      link.receive(message.data);
    }
  }

  async function poll(current) {
    if (call !== current || current.ended) return;
    if (current.meter) {
      current.localLevel = current.meter.level();
      gateway.localLevels.push([Date.now(), current.localLevel]);
      if (gateway.localLevels.length > LOCAL_LEVEL_HISTORY) gateway.localLevels.splice(0, 200);
    }
    await Promise.all(Array.from(current.links.values(), (link) => link.poll()));
    for (const p of gateway.people) {
      const link = current.links.get(p.id);
      p.level = link ? link.level : 0;
    }
    render();
  }

  // ---------------------------------------------------------------- microphone
  async function refreshDevices(selected) {
    gateway.devices = await window.CallMic.listInputs();
    for (const id of ["mic-select", "mic-switch"]) {
      window.CallMic.fillSelect($(id), gateway.devices, selected || gateway.deviceId);
    }
  }

  function useTrack(current, stream) {
    const track = stream.getAudioTracks()[0];
    const old = current.track;
    current.stream = stream;
    current.track = track;
    track.enabled = !gateway.muted;
    gateway.deviceId = (track.getSettings && track.getSettings().deviceId) || "";
    gateway.mic = "on";
    track.addEventListener("ended", () => {
      if (call === current && current.track === track && !current.ended) {
        gateway.mic = "ended";
        reportError("mic_unplugged");
        refreshDevices();
        render();
      }
    });
    if (current.meter) current.meter.stop();
    current.meter = audioContext ? new window.CallMic.LevelMeter(audioContext, track) : null;
    if (current.gw && current.gw.sender) current.gw.sender.replaceTrack(track).catch(() => {});
    for (const link of current.links.values()) link.setTrack(track, stream);
    if (old && old !== track) old.stop();
  }

  async function switchMicrophone(deviceId) {
    const current = call;
    if (!current || current.ended || !deviceId || deviceId === gateway.deviceId && gateway.mic === "on") return;
    try {
      const stream = await window.CallMic.open(deviceId, audioOptions());
      if (call !== current || current.ended) {
        for (const t of stream.getTracks()) t.stop();
        return;
      }
      useTrack(current, stream);
      clearAlert();
      await refreshDevices(gateway.deviceId);
    } catch (err) {
      reportError(err.code || "mic_busy", err.message);
      $("mic-switch").value = gateway.deviceId;
    }
    render();
  }

  function audioOptions() {
    return { echo: $("echo-cancellation").checked, processing: $("audio-processing").checked };
  }

  function setMuted(muted) {
    const current = call;
    if (!current || current.ended) return;
    gateway.muted = muted;
    if (current.track) current.track.enabled = !muted; // nobody hears a muted person
    if (muted) transcript.setPartial("");
    send(current, { type: "mute", muted }); // and the gateway stops transcribing them
    render();
  }

  // ---------------------------------------------------------------- the call
  function parseTrackers(text) {
    const trackers = [];
    for (const line of text.split("\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim();
      const vocabulary = line.slice(colon + 1).split(",").map((s) => s.trim()).filter(Boolean);
      if (name && vocabulary.length) trackers.push({ name: name.slice(0, 64), vocabulary });
    }
    return trackers.slice(0, 50);
  }

  function userId() {
    try {
      let id = window.sessionStorage.getItem("gateway.userId");
      if (!id) {
        id = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
          : `user-${Math.random().toString(36).slice(2)}`;
        window.sessionStorage.setItem("gateway.userId", id);
      }
      return id;
    } catch (e) {
      return "browser-user";
    }
  }

  function myName() {
    return $("speaker-name").value.trim().slice(0, 64) || "Guest";
  }

  function startConfig() {
    const config = {
      speaker: { userId: userId(), name: myName() },
      languageCode: "en-US",
      meetingTitle: "Call",
      insightTypes: ["question", "action_item", "follow_up"],
      config: { confidenceThreshold: 0.5, timezoneOffset: new Date().getTimezoneOffset() },
      trackers: parseTrackers($("trackers").value),
    };
    const conversation = $("conversation-id").value.trim();
    if (conversation) config.conversationId = conversation;
    return config;
  }

  function showInvite(conversationId) {
    gateway.conversationId = conversationId || null;
    if (!conversationId) return;
    const url = new URL(window.location.href);
    url.search = "";
    url.searchParams.set("conversation", conversationId);
    if (gateway.relay) url.searchParams.set("relay", "1");
    const link = $("invite-link");
    link.href = url.toString();
    link.textContent = url.toString();
    render();
  }

  async function fetchIcePolicy() {
    try {
      const headers = accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
      const res = await fetch("/api/ice-servers", { cache: "no-store", headers });
      return res.ok ? await res.json() : null;
    } catch (e) {
      return null;
    }
  }

  function wsUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const query = accessToken ? `?access_token=${encodeURIComponent(accessToken)}` : "";
    return `${scheme}//${window.location.host}/ws${query}`;
  }

  class CallError extends Error {
    constructor(code, message, facts) {
      super(message || code);
      this.code = code;
      this.serverMessage = message || "";
      this.facts = facts || null;
    }
  }

  async function startCall() {
    const myGeneration = ++generation;
    clearAlert();
    transcript.reset();
    Object.assign(gateway, { errors: [], timings: {}, people: [], departed: [], peers: {},
      localLevels: [], muted: false, sessionId: null, conversationId: null, link: null,
      reconnecting: false, reconnects: [], redirects: [], duplicates: 0, lastSeq: 0,
      draining: false, moves: [] });
    call = {
      clickedAt: performance.now(), startedAtEpoch: Date.now(), gw: null,
      stream: null, track: null, meter: null, localLevel: 0, links: new Map(),
      iceServers: [], early: [], answered: false, ended: false,
    };
    const current = call;
    const alive = () => generation === myGeneration && !current.ended;
    setCallState("starting");
    if (typeof RTCPeerConnection === "undefined") {
      fail(current, "mic_unsupported");
      return;
    }
    // Created in the click: the user gesture that lets the page meter and play audio.
    try {
      audioContext = audioContext || new AudioContext();
      audioContext.resume().catch(() => {});
    } catch (e) {
      audioContext = null;
    }
    const policyPromise = fetchIcePolicy();
    let stream;
    try {
      stream = await window.CallMic.open($("mic-select").value, audioOptions());
    } catch (err) {
      if (alive()) {
        gateway.mic = "error";
        fail(current, err.code || "mic_busy", err.message);
      }
      return;
    }
    if (!alive()) { for (const t of stream.getTracks()) t.stop(); return; }
    useTrack(current, stream);
    refreshDevices(gateway.deviceId); // labels are readable now that the mic is allowed
    mark("mic");

    try {
      setCallState("connecting");
      const gw = new window.CallSession.GatewaySession({
        wsUrl: wsUrl(), config: startConfig,
        track: () => current.track, stream: () => current.stream,
        onHello: (hello) => onHello(current, hello, policyPromise),
        onSignal: (message) => { if (call === current) onSignal(current, message); },
        onResult: (data) => {
          if (call !== current) return;
          gateway.lastSeq = gw.lastSeq;
          transcript.onMessage(data);
        },
        onChange: (what, value) => { if (call === current) onSessionChange(current, what, value); },
        onFail: (code, message, facts) => { if (call === current && !current.ended) fail(current, code, message, facts); },
      });
      current.gw = gw;
      const answer = await gw.start();
      if (!alive() || !answer) return;
      mark("answer");
      gateway.redirects = gw.redirects.slice();
      showInvite(answer.conversationId);
      current.answered = true;
      for (const message of current.early.splice(0)) onPresence(current, message);
      current.pollTimer = setInterval(() => poll(current), POLL_MS);
      current.connectTimer = setTimeout(() => {
        if (alive() && gw.pc && gw.pc.connectionState !== "connected" && !gw.reconnecting) {
          fail(current, "connect_timeout");
        }
      }, CONNECT_TIMEOUT_MS);
    } catch (err) {
      if (!alive()) return;
      if (err instanceof CallError || (err && err.code)) fail(current, err.code, err.serverMessage, err.facts);
      else fail(current, "internal", err && err.message ? err.message : String(err));
    }
  }

  /** The gateway greeted us: our id, its features, and the ICE servers for our connections. */
  async function onHello(current, hello, policyPromise) {
    if (!gateway.sessionId || !current.answered) gateway.sessionId = hello.sessionId || null;
    mark("hello");
    gateway.features = Array.isArray(hello.features) ? hello.features : [];
    const policy = await policyPromise;
    const relay = params.get("relay") === "1" || Boolean(policy && policy.iceTransportPolicy === "relay");
    let iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
    if (!iceServers.length && policy && Array.isArray(policy.iceServers)) iceServers = policy.iceServers;
    current.iceServers = iceServers;
    gateway.relay = relay;
    gateway.iceTransportPolicy = relay ? "relay" : "all";
    const note = $("relay-note");
    note.hidden = !relay;
    note.textContent = relay ? "Relay-only: all audio goes through the relay (TURN) server." : "";
    if (relay && !iceServers.some((s) => [].concat(s.urls || s.url || [])
      .some((u) => /^turns?:/i.test(String(u))))) {
      throw new CallError("no_relay");
    }
    return { iceServers, relay };
  }

  /** What the gateway session reports: connection states, the carrier, reconnecting. */
  function onSessionChange(current, what, value) {
    if (what === "signaling") setSignaling(value);
    else if (what === "channel") {
      setChannel(value);
      if (value === "open") mark("channel");
    } else if (what === "link") {
      gateway.link = value;
    } else if (what === "linkMode") {
      gateway.linkMode = value; // "websocket", "events" (server-sent) or "poll"
    } else if (what === "peer") {
      setPeer(value);
      if (value === "connected") {
        mark("connected");
        clearTimeout(current.connectTimer); // later connections have the session's own timers
        if (gateway.state === "connecting") setCallState("connected");
      }
    } else if (what === "reconnect") {
      onReconnect(current, value);
    }
  }

  const RESTARTING = "The server is restarting; reconnecting…";

  function onReconnect(current, value) {
    const gw = current.gw;
    if (value === "draining" || value === "rejoining" || (value === "retrying" && gateway.draining)) {
      // The node asked us to move: the call goes on here until another node takes it, or
      // until this one goes away and comes back.
      gateway.draining = true;
      gateway.reconnecting = value !== "draining";
      if (gateway.reconnecting) setSignaling("reconnecting");
      showNote(RESTARTING, value === "draining" ? "Your call goes on meanwhile."
        : "The call goes on as soon as the server is back.");
    } else if (value === "moved") {
      gateway.draining = false;
      gateway.reconnecting = false;
      gateway.sessionId = gw.sessionId;
      gateway.moves = gw.moves.slice();
      gateway.redirects = gw.redirects.slice();
      gateway.lastSeq = gw.lastSeq;
      if (gateway.muted) gw.send({ type: "mute", muted: true }); // a new session starts unmuted
      showNote("Reconnected.", "", 4000);
    } else if (value === "reconnecting" || value === "retrying") {
      if (!gateway.reconnecting) gateway.reconnectStartedAt = Date.now();
      gateway.reconnecting = true;
      setSignaling("reconnecting");
      showNote("Reconnecting…", value === "retrying" ? "The call goes on as soon as the connection is back." : "");
    } else if (value === "reconnected") {
      gateway.reconnecting = false;
      gateway.reconnects = gw.resumes.slice();
      gateway.redirects = gw.redirects.slice();
      if (gateway.muted) gw.send({ type: "mute", muted: true }); // in case it was lost meanwhile
      showNote("Reconnected.", "", 4000);
    } else if (value === "redirected") {
      gateway.redirects = gw.redirects.slice();
    }
    render();
  }

  /** A short line under the call controls: what the connection is doing, in words. */
  function showNote(title, text, clearAfterMs) {
    const note = $("connection-note");
    clearTimeout(showNote.timer);
    note.textContent = text ? `${title} ${text}` : title;
    note.hidden = false;
    note.dataset.state = title.startsWith("Reconnected") ? "ok" : "busy";
    if (clearAfterMs) showNote.timer = setTimeout(() => { note.hidden = true; }, clearAfterMs);
  }

  const PRESENCE = new Set(["participants", "participant_joined", "participant_left", "participant_state", "peer"]);
  // Errors about a single message that leave the call running.
  const NON_FATAL = new Set(["invalid_candidate", "too_many_candidates", "unknown_type", "bad_json",
    "bad_message", "invalid_field", "missing_field", "message_too_large", "turn_unavailable",
    "unknown_participant", "rate_limited", "peer_data_too_large", "no_session"]);

  function onSignal(current, message) {
    if (PRESENCE.has(message.type)) {
      // The server sends these after the answer; the page applies its answer first.
      if (current.answered) onPresence(current, message);
      else current.early.push(message);
    } else if (message.type === "error") {
      const code = String(message.code || "error");
      const text = typeof message.message === "string" ? message.message : "";
      if (NON_FATAL.has(code) && current.gw && current.gw.offerSent) {
        gateway.errors.push({ code, message: text });
        return;
      }
      if (!current.ended && gateway.state !== "stopping") fail(current, code, text, message);
      else gateway.errors.push({ code, message: text });
    }
  }

  function send(current, message) {
    if (current.gw) current.gw.send(message);
  }

  function teardown(current) {
    current.ended = true;
    clearTimeout(current.connectTimer);
    clearInterval(current.pollTimer);
    for (const link of current.links.values()) link.close();
    for (const id of Object.keys(gateway.peers)) gateway.peers[id].state = "closed";
    gateway.people = [];
    gateway.reconnecting = false;
    gateway.draining = false;
    $("connection-note").hidden = true;
    if (current.meter) current.meter.stop();
    current.meter = null;
    if (current.stream) for (const track of current.stream.getTracks()) track.stop();
    const hadPeer = Boolean(current.gw && current.gw.pc);
    if (current.gw) {
      gateway.duplicates = current.gw.duplicates;
      current.gw.close();
    }
    gateway.mic = gateway.mic === "error" ? "error" : "off";
    setPeer(hadPeer ? "closed" : gateway.peer);
    setChannel("closed");
    setSignaling("closed");
    transcript.setPartial("");
  }

  function fail(current, code, serverMessage, facts) {
    if (current.ended) return;
    reportError(code, serverMessage, facts);
    teardown(current);
    setCallState("error");
  }

  async function stopCall() {
    const current = call;
    if (!current || current.ended) return;
    setCallState("stopping");
    for (const link of current.links.values()) link.close(); // the others stop hearing us now
    if (current.stream) for (const track of current.stream.getTracks()) track.stop();
    if (current.gw) {
      // The server flushes the last results onto the data channel, then says bye.
      await current.gw.bye(BYE_TIMEOUT_MS);
      await new Promise((resolve) => setTimeout(resolve, 150)); // let the last results land
    }
    if (call !== current) return;
    teardown(current);
    setCallState("ended");
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    const nameField = $("speaker-name");
    try {
      nameField.value = params.get("name") || window.localStorage.getItem("gateway.name") || "";
    } catch (e) {
      nameField.value = params.get("name") || "";
    }
    nameField.addEventListener("change", () => {
      try { window.localStorage.setItem("gateway.name", nameField.value.trim()); } catch (e) { /* private mode */ }
    });
    const conversation = params.get("conversation");
    if (conversation) {
      $("conversation-id").value = conversation.slice(0, 128);
      $("invited").hidden = false;
    }
    if (params.get("relay") === "1") {
      const note = $("relay-note");
      note.hidden = false;
      note.textContent = "Relay-only: all audio goes through the relay (TURN) server.";
    }
    $("call-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!active() && gateway.state !== "stopping") startCall();
    });
    $("leave-button").addEventListener("click", () => stopCall());
    $("mute-button").addEventListener("click", () => setMuted(!gateway.muted));
    $("mic-switch").addEventListener("change", (event) => switchMicrophone(event.target.value));
    $("details").addEventListener("toggle", renderDetails);
    $("copy-invite").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("invite-link").href);
        $("copy-invite").textContent = "Copied";
      } catch (e) {
        $("copy-invite").textContent = "Select the link to copy it";
      }
    });
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", () => refreshDevices());
    }
    window.addEventListener("pagehide", () => {
      if (call && !call.ended) {
        if (call.gw) call.gw.stopping = true; // no reconnecting from a page that is going
        send(call, { type: "bye" }); // the others see "left", not "dropped"
        teardown(call);
      }
    });
    refreshDevices();
    setCallState("idle");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
