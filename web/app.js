/* Browser client of the conversation gateway.
 *
 * Microphone -> WebRTC (audio track + "insights" data channel) -> gateway; results come
 * back on the data channel in Symbl's real-time message shapes. Signaling is JSON over
 * the /ws WebSocket (hello, offer/answer, trickle candidates, bye, error).
 *
 * Every piece of server-provided text is put into the page with textContent, never as
 * HTML. window.gateway mirrors the page state for tests and debugging.
 */
"use strict";

(function () {
  const HELLO_TIMEOUT_MS = 10000;
  const ANSWER_TIMEOUT_MS = 20000;
  const CONNECT_TIMEOUT_MS = 35000; // the server gives up after 30 s and says so
  const BYE_TIMEOUT_MS = 15000; // server: flush up to 10 s + data channel drain 2 s

  const params = new URLSearchParams(window.location.search);
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- test/debug hook
  const gateway = {
    state: "idle", // idle | starting | connecting | connected | stopping | ended | error
    signaling: "closed",
    ice: "new",
    peer: "new",
    channel: "closed",
    sessionId: null,
    conversationId: null,
    relay: false,
    iceTransportPolicy: "all",
    finals: [], // {id, text, elapsed, startTime, sentiment}
    partial: "",
    partialCount: 0,
    insights: [], // as received, latest version per id
    topics: [],
    trackers: [], // {name, matches: [{value, count}]}
    analytics: null,
    errors: [], // {code, message}
    events: [], // message types received on the data channel, in order
    timings: {}, // ms since the click: mic, hello, answer, connected, channel, firstPartial, firstFinal
  };
  window.gateway = gateway;

  // ---------------------------------------------------------------- messages for people
  const ERROR_TEXT = {
    mic_denied: ["Microphone access was denied.",
      "Allow microphone access for this site (the icon in the address bar) and press Start again."],
    no_mic: ["No microphone was found.", "Connect a microphone, then press Start again."],
    mic_busy: ["The microphone could not be opened.",
      "Another application may be using it, or the operating system blocked it."],
    mic_unsupported: ["This page cannot use the microphone.",
      "Open it over HTTPS (or on localhost) in a browser with WebRTC support."],
    unreachable: ["Cannot reach the gateway.",
      "The signaling connection failed: the server may be down or a proxy may block WebSockets."],
    signaling_timeout: ["The gateway did not answer in time.", "Try again in a moment."],
    signaling_closed: ["The gateway closed the connection.", "The call has ended."],
    server_busy: ["The gateway is busy.", "All of its sessions are in use; try again later."],
    shutting_down: ["The gateway is shutting down.", "Try again in a moment."],
    ice_failed: ["The media connection failed.",
      "ICE could not connect: a firewall may block UDP; the gateway may need a TURN server."],
    connect_timeout: ["The media connection did not come up.",
      "ICE could not connect in time: check firewalls and the STUN/TURN settings."],
    peer_closed: ["The media connection closed.", "The call has ended."],
    no_relay: ["Relay-only mode needs a TURN server.",
      "The gateway offered no TURN server, so no relayed connection is possible."],
    invalid_config: ["The gateway refused the call settings.",
      "Check the trackers under Settings (one per line, Name: phrase, phrase)."],
    unsupported_language: ["The gateway does not serve this language.", ""],
    conversation_full: ["That conversation is full.",
      "Leave the Conversation field empty to start a new one."],
    internal: ["Something went wrong in this page.", "Reload it and try again."],
  };

  // [headline, what to do]; the server's own words go into a details line.
  function describeError(code) {
    return ERROR_TEXT[code] || ["The gateway reported an error.", "The call has ended."];
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

  function reportError(code, serverMessage) {
    gateway.errors.push({ code, message: serverMessage || "" });
    const [title, text] = describeError(code);
    const detail = serverMessage ? `Details: ${serverMessage} (${code})` : `Code: ${code}`;
    showAlert(title, text, detail);
  }

  // ---------------------------------------------------------------- state
  let call = null; // the current call, or null
  let generation = 0;

  function setCallState(state) {
    gateway.state = state;
    setPill("state-call", state);
    const button = $("mic-button");
    const active = state === "starting" || state === "connecting" || state === "connected";
    button.dataset.active = active ? "true" : "false";
    button.disabled = state === "stopping";
    $("mic-label").textContent =
      state === "stopping" ? "Stopping…" : active ? "Stop microphone" : "Start microphone";
    $("speaker-name").disabled = active || state === "stopping";
    $("conversation-id").disabled = active || state === "stopping";
    document.body.dataset.call = state;
  }

  function setSignaling(value) { gateway.signaling = value; setPill("state-signaling", value); }
  function setPeer(value) { gateway.peer = value; setPill("state-peer", value); }
  function setChannel(value) { gateway.channel = value; setPill("state-channel", value); }

  function mark(name) {
    if (call && gateway.timings[name] === undefined) {
      gateway.timings[name] = Math.round(performance.now() - call.clickedAt);
    }
  }

  // ---------------------------------------------------------------- results rendering
  let streamStartMs = null; // wall-clock ms of stream time 0, from the first final

  function resetResults() {
    gateway.finals = [];
    gateway.partial = "";
    gateway.partialCount = 0;
    gateway.insights = [];
    gateway.topics = [];
    gateway.trackers = [];
    gateway.analytics = null;
    gateway.events = [];
    gateway.timings = {};
    streamStartMs = null;
    insightsById.clear();
    trackerMatches.clear();
    $("finals").replaceChildren();
    $("finals-empty").hidden = false;
    setPartial("");
    for (const id of ["questions", "actions", "followups", "topics", "tracker-list"]) {
      $(id).replaceChildren();
    }
    $("analytics").replaceChildren();
    updateCounts();
  }

  function setPartial(text) {
    gateway.partial = text;
    const node = $("partial");
    node.textContent = text;
    node.dataset.empty = text ? "false" : "true";
  }

  function mmss(ms) {
    const total = Math.max(0, Math.round(ms / 1000));
    const m = Math.floor(total / 60);
    const s = total % 60;
    return `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  }

  function elapsedFor(message) {
    const start = Date.parse(message && message.duration && message.duration.startTime);
    if (Number.isNaN(start)) {
      return call ? performance.now() - call.clickedAt : 0;
    }
    if (streamStartMs === null) {
      // Word times are seconds from the start of the audio stream: use them to find its
      // wall-clock start, so the first line shows when it was said, not 00:00.
      const words = message.metadata && message.metadata.words;
      const first = Array.isArray(words) && words.length ? Number(words[0].startTime) : NaN;
      streamStartMs = Number.isFinite(first) ? start - first * 1000 : start;
    }
    return start - streamStartMs;
  }

  function sentimentOf(message) {
    const s = message.sentiment;
    if (!s || typeof s !== "object") return null;
    const score = s.polarity && typeof s.polarity.score === "number" ? s.polarity.score : null;
    let suggested = typeof s.suggested === "string" ? s.suggested.toLowerCase() : null;
    if (!suggested && score !== null) {
      suggested = score > 0.3 ? "positive" : score < -0.3 ? "negative" : "neutral";
    }
    return suggested ? { suggested, score } : null;
  }

  const SENTIMENT_SYMBOL = { positive: "+", negative: "−", neutral: "·" };

  function addFinal(message) {
    const text = (message.payload && message.payload.content) ||
      (message.metadata && message.metadata.originalContent) || "";
    if (!text.trim()) return;
    const elapsed = elapsedFor(message);
    const sentiment = sentimentOf(message);
    const entry = {
      id: message.id || null,
      text,
      elapsed: mmss(elapsed),
      startTime: (message.duration && message.duration.startTime) || null,
      speaker: (message.from && (message.from.name || message.from.userId)) || null,
      sentiment,
    };
    gateway.finals.push(entry);
    mark("firstFinal");

    const li = el("li", "line");
    if (entry.id) li.dataset.id = entry.id;
    const time = el("time", "time", entry.elapsed);
    if (entry.startTime) time.dateTime = entry.startTime;
    li.append(time);
    const marker = el("span", "sentiment");
    const kind = sentiment ? sentiment.suggested : "none";
    marker.dataset.sentiment = kind;
    if (sentiment) {
      const score = sentiment.score !== null ? ` (${sentiment.score.toFixed(2)})` : "";
      marker.title = `Sentiment: ${kind}${score}`;
      marker.append(el("span", null, SENTIMENT_SYMBOL[kind] || "?"));
      marker.firstChild.setAttribute("aria-hidden", "true");
      marker.append(el("span", "sr-only", `${kind} sentiment`));
    }
    li.append(marker);
    const body = el("span", "text");
    // In a shared conversation, other participants' lines say who spoke.
    const from = message.from || {};
    if (from.id && gateway.sessionId && from.id !== gateway.sessionId && entry.speaker) {
      body.append(el("strong", "who", `${entry.speaker}: `));
    }
    body.append(document.createTextNode(text));
    li.append(body);
    const list = $("finals");
    // Follow the conversation unless the reader scrolled up to read earlier lines.
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(li);
    $("finals-empty").hidden = true;
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function onRecognitionResult(message) {
    const alt = message.payload && message.payload.raw && message.payload.raw.alternatives &&
      message.payload.raw.alternatives[0];
    const text = (message.punctuated && message.punctuated.transcript) ||
      (alt && alt.transcript) || "";
    if (message.isFinal) {
      setPartial(""); // the line itself arrives as message_response
      return;
    }
    if (text) {
      gateway.partialCount += 1;
      mark("firstPartial");
    }
    setPartial(text);
  }

  // -- insights
  const insightsById = new Map();
  const INSIGHT_LISTS = { question: "questions", action_item: "actions", follow_up: "followups" };

  function personName(who) {
    if (!who) return "";
    if (typeof who === "string") return who;
    return who.name || who.userId || who.id || "";
  }

  function formatDue(due) {
    if (!due) return "";
    const value = typeof due === "string" ? due : due.value || due.text || "";
    const parsed = Date.parse(value);
    if (!value) return "";
    if (Number.isNaN(parsed)) return String(value);
    const hasTime = /T\d\d:\d\d/.test(value) && !/T00:00(:00(\.0+)?)?/.test(value);
    return new Date(parsed).toLocaleString(undefined, hasTime
      ? { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" }
      : { weekday: "short", month: "short", day: "numeric", timeZone: value.length <= 10 ? "UTC" : undefined });
  }

  function renderInsight(insight) {
    const li = el("li", "item");
    if (insight.id) li.dataset.id = insight.id;
    const content = (insight.payload && insight.payload.content) || insight.text || "";
    li.append(el("span", "content", content));
    const meta = el("span", "meta");
    const assignee = personName(insight.assignee);
    if (assignee) meta.append(el("span", "assignee", `Assignee: ${assignee}`));
    const due = formatDue(insight.dueBy);
    if (due) meta.append(el("span", "due", `Due: ${due}`));
    if (typeof insight.confidence === "number") {
      meta.append(el("span", "confidence", `${Math.round(insight.confidence * 100)}%`));
    }
    if (meta.childNodes.length) li.append(meta);
    return li;
  }

  function onInsights(list) {
    if (!Array.isArray(list)) return;
    for (const insight of list) {
      if (!insight || typeof insight !== "object") continue;
      const target = INSIGHT_LISTS[insight.type];
      if (!target) continue;
      const key = insight.id || `${insight.type}:${insightsById.size}`;
      const node = renderInsight(insight);
      const previous = insightsById.get(key);
      if (previous) previous.node.replaceWith(node);
      else $(target).append(node);
      insightsById.set(key, { insight, node });
    }
    gateway.insights = Array.from(insightsById.values(), (v) => v.insight);
    updateCounts();
  }

  function updateCounts() {
    const counts = { question: 0, action_item: 0, follow_up: 0 };
    for (const { insight } of insightsById.values()) counts[insight.type] += 1;
    $("questions-count").textContent = counts.question;
    $("actions-count").textContent = counts.action_item;
    $("followups-count").textContent = counts.follow_up;
  }

  function onTopics(topics) {
    if (!Array.isArray(topics)) return;
    gateway.topics = topics;
    const list = $("topics");
    list.replaceChildren();
    const sorted = topics.slice().sort((a, b) => (Number(b.score) || 0) - (Number(a.score) || 0));
    for (const topic of sorted) {
      const phrase = Array.isArray(topic.phrases) ? topic.phrases.join(", ") : topic.phrases;
      if (!phrase) continue;
      const li = el("li", "chip", phrase);
      const refs = Array.isArray(topic.messageReferences) ? topic.messageReferences.length : 0;
      const score = typeof topic.score === "number" ? `score ${topic.score.toFixed(2)}` : "";
      li.title = [score, refs ? `${refs} mention${refs === 1 ? "" : "s"}` : ""]
        .filter(Boolean).join(", ");
      list.append(li);
    }
  }

  // tracker name -> value -> Set of message ids (or texts)
  const trackerMatches = new Map();

  function onTrackers(trackers) {
    if (!Array.isArray(trackers)) return;
    for (const tracker of trackers) {
      if (!tracker || typeof tracker.name !== "string") continue;
      const values = trackerMatches.get(tracker.name) || new Map();
      trackerMatches.set(tracker.name, values);
      for (const match of Array.isArray(tracker.matches) ? tracker.matches : []) {
        const value = String(match.value || "");
        const refs = values.get(value) || new Set();
        values.set(value, refs);
        const list = Array.isArray(match.messageRefs) ? match.messageRefs : [];
        for (const ref of list) refs.add(ref.id || ref.text || JSON.stringify(ref));
        if (!list.length) refs.add(`${refs.size}`);
      }
    }
    gateway.trackers = [];
    const out = $("tracker-list");
    out.replaceChildren();
    for (const [name, values] of trackerMatches) {
      const matches = Array.from(values, ([value, refs]) => ({ value, count: refs.size }));
      gateway.trackers.push({ name, matches });
      const li = el("li", "item");
      li.append(el("span", "content tracker-name", name));
      const meta = el("span", "meta");
      for (const m of matches) meta.append(el("span", "match", `${m.value} ×${m.count}`));
      li.append(meta);
      out.append(li);
    }
  }

  // -- analytics: a compact summary of whatever fields are present
  function seconds(value) {
    const n = Number(value);
    if (!Number.isFinite(n)) return "";
    return n >= 60 ? mmss(n * 1000) : `${Math.round(n * 10) / 10}\u00a0s`;
  }

  function percent(value) {
    const n = Number(value);
    return Number.isFinite(n) ? `${Math.round(n)}%` : "";
  }

  function humanKey(key) {
    return String(key).replace(/([a-z])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ")
      .replace(/^./, (c) => c.toUpperCase());
  }

  const METRIC_NAMES = {
    total_talk_time: "Talk time", total_silence: "Silence", total_overlap: "Overlap",
  };

  function timeAndPercent(obj) {
    if (!obj || typeof obj !== "object") return "";
    const secs = obj.seconds !== undefined ? seconds(obj.seconds) : "";
    const pctValue = obj.percentage !== undefined ? obj.percentage : obj.percent;
    const pct = pctValue !== undefined ? percent(pctValue) : "";
    return secs && pct ? `${secs} (${pct})` : secs || pct;
  }

  // Generic fallback: leaves of an unknown object as "Key · key: value" rows.
  function flatten(value, path, out, depth) {
    if (out.length >= 30 || depth > 3 || value === null || value === undefined) return;
    if (typeof value === "number") {
      out.push([path, Number.isInteger(value) ? String(value) : value.toFixed(2)]);
    } else if (typeof value === "string" || typeof value === "boolean") {
      out.push([path, String(value)]);
    } else if (Array.isArray(value)) {
      value.slice(0, 10).forEach((item, i) => flatten(item, `${path} ${i + 1}`, out, depth + 1));
    } else if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        if (k === "type" || k === "id" || k === "userId") continue;
        flatten(v, path ? `${path} · ${humanKey(k)}` : humanKey(k), out, depth + 1);
      }
    }
  }

  function analyticsRows(message) {
    const rows = [];
    for (const [key, value] of Object.entries(message)) {
      if (key === "type") continue;
      if (key === "metrics" && Array.isArray(value)) {
        for (const metric of value) {
          if (!metric || typeof metric !== "object") continue;
          const name = METRIC_NAMES[metric.type] || humanKey(metric.type || "metric");
          rows.push([name, timeAndPercent(metric)]);
        }
      } else if (key === "members" && Array.isArray(value)) {
        value.forEach((member, i) => {
          if (!member || typeof member !== "object") return;
          const who = member.name || member.userId || `Speaker ${i + 1}`;
          const parts = [];
          const talk = timeAndPercent(member.talkTime);
          if (talk) parts.push(`talks ${talk}`);
          if (member.pace && Number.isFinite(Number(member.pace.wpm))) {
            parts.push(`${Math.round(member.pace.wpm)} wpm`);
          }
          if (member.longestMonologue && member.longestMonologue.seconds !== undefined) {
            parts.push(`longest ${seconds(member.longestMonologue.seconds)}`);
          }
          if (member.overlap && Number(member.overlap.overlapDuration) > 0) {
            parts.push(`overlap ${seconds(member.overlap.overlapDuration)}`);
          }
          rows.push([who, parts.join(", ") || "—"]);
        });
      } else {
        flatten(value, humanKey(key), rows, 0);
      }
    }
    return rows.slice(0, 40);
  }

  function onAnalytics(message) {
    gateway.analytics = message;
    const dl = $("analytics");
    dl.replaceChildren();
    for (const [key, value] of analyticsRows(message)) {
      const row = el("div", "row");
      row.append(el("dt", null, key), el("dd", null, value));
      dl.append(row);
    }
  }

  function onChannelMessage(text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!data || typeof data !== "object") return;
    if (data.type === "message" && data.message && typeof data.message === "object") {
      const inner = data.message;
      gateway.events.push(inner.type);
      if (inner.type === "recognition_result") onRecognitionResult(inner);
      else if (inner.type === "recognition_started") mark("recognitionStarted");
      else if (inner.type === "recognition_stopped") setPartial("");
      return;
    }
    gateway.events.push(data.type);
    switch (data.type) {
      case "message_response":
        for (const m of Array.isArray(data.messages) ? data.messages : []) {
          if (m && typeof m === "object") addFinal(m);
        }
        break;
      case "insight_response": onInsights(data.insights); break;
      case "topic_response": onTopics(data.topics); break;
      case "tracker_response": onTrackers(data.trackers); break;
      case "analytics_response": onAnalytics(data); break;
      default: break;
    }
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
      let id = window.localStorage.getItem("gateway.userId");
      if (!id) {
        id = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
          : `user-${Math.random().toString(36).slice(2)}`;
        window.localStorage.setItem("gateway.userId", id);
      }
      return id;
    } catch (e) {
      return "browser-user";
    }
  }

  function startConfig() {
    const name = $("speaker-name").value.trim().slice(0, 64) || "Browser user";
    const config = {
      speaker: { userId: userId(), name },
      languageCode: "en-US",
      meetingTitle: document.title,
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
    const link = $("invite-link");
    link.href = url.toString();
    link.textContent = url.toString();
    $("invite").hidden = false;
  }

  function micError(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return "mic_denied";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
      return "no_mic";
    }
    return "mic_busy";
  }

  async function fetchIcePolicy() {
    try {
      const res = await fetch("/api/ice-servers", { cache: "no-store" });
      if (!res.ok) return null;
      return await res.json();
    } catch (e) {
      return null;
    }
  }

  function wsUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/ws`;
  }

  function withTimeout(promise, ms, code) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(code), { code })), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  class CallError extends Error {
    constructor(code, message) {
      super(message || code);
      this.code = code;
      this.serverMessage = message || "";
    }
  }

  async function startCall() {
    const myGeneration = ++generation;
    clearAlert();
    resetResults();
    gateway.errors = [];
    call = {
      clickedAt: performance.now(),
      ws: null,
      pc: null,
      channel: null,
      stream: null,
      waiters: [],
      pendingCandidates: [],
      offerSent: false,
      byeReceived: false,
      ended: false,
    };
    const current = call;
    const alive = () => generation === myGeneration && !current.ended;
    setCallState("starting");

    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
        typeof RTCPeerConnection === "undefined") {
      fail(current, "mic_unsupported");
      return;
    }
    const processing = $("audio-processing").checked;
    const policyPromise = fetchIcePolicy();
    try {
      current.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
        video: false,
      });
    } catch (err) {
      if (alive()) fail(current, micError(err), err && err.message);
      return;
    }
    if (!alive()) { stopTracks(current); return; }
    mark("mic");

    try {
      setCallState("connecting");
      const hello = await openSignaling(current);
      if (!alive()) return;
      mark("hello");
      gateway.sessionId = hello.sessionId || null;
      $("session-id").textContent = hello.sessionId ? `Session ${hello.sessionId}` : "";

      const policy = await policyPromise;
      const relay = params.get("relay") === "1" ||
        (policy && policy.iceTransportPolicy === "relay");
      let iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
      if (!iceServers.length && policy && Array.isArray(policy.iceServers)) {
        iceServers = policy.iceServers;
      }
      gateway.relay = relay;
      gateway.iceTransportPolicy = relay ? "relay" : "all";
      const note = $("relay-note");
      note.hidden = !relay;
      note.textContent = relay ? "Relay-only: media goes through the TURN server." : "";
      if (relay && !iceServers.some((s) => [].concat(s.urls || s.url || [])
        .some((u) => /^turns?:/i.test(String(u))))) {
        throw new CallError("no_relay");
      }

      const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relay ? "relay" : "all" });
      current.pc = pc;
      // The data channel must exist before the offer: results are delivered on it.
      const channel = pc.createDataChannel("insights", { ordered: true });
      current.channel = channel;
      setChannel(channel.readyState);
      channel.onopen = () => { if (alive() || current.byeWaiting) { setChannel("open"); mark("channel"); } };
      channel.onclose = () => { if (call === current) setChannel("closed"); };
      channel.onmessage = (event) => {
        if (call === current && typeof event.data === "string") onChannelMessage(event.data);
      };
      for (const track of current.stream.getAudioTracks()) pc.addTrack(track, current.stream);

      pc.onicecandidate = (event) => {
        if (!alive()) return;
        const c = event.candidate;
        const message = c
          ? { type: "candidate", candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
          : { type: "candidate", candidate: null, sdpMid: firstMid(pc), sdpMLineIndex: 0 };
        if (c && !c.candidate) return; // Chrome's empty end-of-generation candidate
        if (current.offerSent) send(current, message);
        else current.pendingCandidates.push(message);
      };
      pc.oniceconnectionstatechange = () => {
        if (call !== current) return;
        gateway.ice = pc.iceConnectionState;
      };
      pc.onconnectionstatechange = () => {
        if (call !== current) return;
        const state = pc.connectionState;
        setPeer(state);
        if (state === "connected") {
          mark("connected");
          if (gateway.state === "connecting") setCallState("connected");
        } else if (state === "failed" && alive() && gateway.state !== "stopping") {
          fail(current, "ice_failed");
        }
      };

      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (!alive()) return;
      send(current, { type: "offer", sdp: pc.localDescription.sdp, config: startConfig() });
      current.offerSent = true;
      for (const message of current.pendingCandidates.splice(0)) send(current, message);

      const answer = await withTimeout(
        waitFor(current, (m) => m.type === "answer"), ANSWER_TIMEOUT_MS, "signaling_timeout");
      if (!alive()) return;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      mark("answer");
      showInvite(answer.conversationId);
      current.connectTimer = setTimeout(() => {
        if (alive() && pc.connectionState !== "connected") fail(current, "connect_timeout");
      }, CONNECT_TIMEOUT_MS);
    } catch (err) {
      if (!alive()) return;
      if (err instanceof CallError || (err && err.code)) {
        fail(current, err.code, err.serverMessage);
      } else {
        fail(current, "internal", err && err.message ? err.message : String(err));
      }
    }
  }

  function firstMid(pc) {
    const t = pc.getTransceivers()[0];
    return (t && t.mid) || "0";
  }

  function openSignaling(current) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(wsUrl());
      } catch (e) {
        reject(new CallError("unreachable", e.message));
        return;
      }
      current.ws = ws;
      setSignaling("connecting");
      let greeted = false;
      const timer = setTimeout(() => {
        if (!greeted) {
          reject(new CallError("signaling_timeout"));
          try { ws.close(); } catch (e) { /* closing anyway */ }
        }
      }, HELLO_TIMEOUT_MS);
      ws.onopen = () => { if (call === current) setSignaling("open"); };
      ws.onerror = () => { /* onclose follows with the details */ };
      ws.onclose = (event) => {
        clearTimeout(timer);
        if (call === current) setSignaling("closed");
        if (!greeted) {
          // The server may have said why (server_busy) just before closing.
          const error = current.lastError;
          if (error) reject(new CallError(error.code, error.message));
          else reject(new CallError("unreachable", event.code ? `WebSocket closed with code ${event.code}` : ""));
          return;
        }
        onSignalingClosed(current);
      };
      ws.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (!message || typeof message !== "object") return;
        if (message.type === "hello" && !greeted) {
          greeted = true;
          clearTimeout(timer);
          resolve(message);
          return;
        }
        onSignal(current, message);
      };
    });
  }

  function onSignal(current, message) {
    for (const waiter of current.waiters.slice()) {
      if (waiter.match(message)) {
        current.waiters.splice(current.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
    if (message.type === "candidate" && current.pc && message.candidate) {
      current.pc.addIceCandidate({
        candidate: message.candidate, sdpMid: message.sdpMid, sdpMLineIndex: message.sdpMLineIndex,
      }).catch(() => {});
    } else if (message.type === "bye") {
      current.byeReceived = true;
    } else if (message.type === "error") {
      const code = String(message.code || "error");
      const text = typeof message.message === "string" ? message.message : "";
      current.lastError = { code, message: text };
      for (const waiter of current.waiters.splice(0)) waiter.reject(new CallError(code, text));
      if (NON_FATAL.has(code) && current.offerSent) {
        gateway.errors.push({ code, message: text });
        return;
      }
      if (!current.ended && gateway.state !== "stopping") fail(current, code, text);
      else gateway.errors.push({ code, message: text });
    }
  }

  // Errors about a single message that leave the call running.
  const NON_FATAL = new Set(["invalid_candidate", "too_many_candidates", "unknown_type", "bad_json",
    "bad_message", "invalid_field", "missing_field", "message_too_large", "turn_unavailable"]);

  function onSignalingClosed(current) {
    for (const waiter of current.waiters.splice(0)) {
      waiter.reject(new CallError(current.lastError ? current.lastError.code : "signaling_closed",
        current.lastError ? current.lastError.message : ""));
    }
    if (current.ended || current.byeWaiting || generation !== generationOf(current)) return;
    if (current.lastError) return; // already reported
    fail(current, "signaling_closed");
  }

  function generationOf(current) { return current === call ? generation : -1; }

  function waitFor(current, match) {
    return new Promise((resolve, reject) => current.waiters.push({ match, resolve, reject }));
  }

  function send(current, message) {
    const ws = current.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function stopTracks(current) {
    if (current.stream) for (const track of current.stream.getTracks()) track.stop();
  }

  function teardown(current) {
    current.ended = true;
    clearTimeout(current.connectTimer);
    stopTracks(current);
    if (current.pc) {
      try { current.pc.close(); } catch (e) { /* already closed */ }
    }
    if (current.ws && current.ws.readyState <= WebSocket.OPEN) {
      try { current.ws.close(1000, "done"); } catch (e) { /* already closed */ }
    }
    setPeer(current.pc ? "closed" : gateway.peer);
    setChannel("closed");
    setSignaling("closed");
    setPartial("");
  }

  function fail(current, code, serverMessage) {
    if (current.ended) return;
    reportError(code, serverMessage);
    teardown(current);
    setCallState("error");
  }

  async function stopCall() {
    const current = call;
    if (!current || current.ended) return;
    setCallState("stopping");
    stopTracks(current); // the microphone goes off at once
    if (current.offerSent && current.ws && current.ws.readyState === WebSocket.OPEN) {
      current.byeWaiting = true;
      const closed = new Promise((resolve) => {
        current.ws.addEventListener("close", resolve, { once: true });
      });
      send(current, { type: "bye" });
      // The server flushes the last results onto the data channel, then says bye.
      const byeOrClose = Promise.race([waitFor(current, (m) => m.type === "bye").catch(() => {}), closed]);
      try {
        await withTimeout(byeOrClose, BYE_TIMEOUT_MS, "bye_timeout");
      } catch (e) {
        gateway.errors.push({ code: "bye_timeout", message: "no bye from the server in time" });
      }
      // Let data-channel messages sent just before the bye be handled.
      await new Promise((resolve) => setTimeout(resolve, 150));
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
      // Someone sent an invite: make the field visible rather than a hidden setting.
      document.querySelector("details.settings").open = true;
    }
    if (params.get("relay") === "1") {
      const note = $("relay-note");
      note.hidden = false;
      note.textContent = "Relay-only: media goes through the TURN server.";
    }
    $("call-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const active = gateway.state === "starting" || gateway.state === "connecting" ||
        gateway.state === "connected";
      if (active) stopCall();
      else if (gateway.state !== "stopping") startCall();
    });
    window.addEventListener("pagehide", () => {
      if (call && !call.ended) {
        send(call, { type: "bye" });
        teardown(call);
      }
    });
    setCallState("idle");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
