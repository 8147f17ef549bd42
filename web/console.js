// Agent console: lists live and recent conversations and watches any of them live.
//
// Data: GET /api/conversations (first paint, and polling if the feed is unavailable),
// the /api/console/feed WebSocket (list changes, at most one batch a second), and one
// /subscribe/{id}?presence=1&snapshot=1 WebSocket per watched conversation.
//
// Flood protection: messages only update small models; the DOM is written at most once per
// animation frame per pane (a timer stands in when frames stop, e.g. in a background tab),
// partials are coalesced to the latest per speaker, and every list (lines, insights,
// trackers, pending work) has a hard cap, so an hour-long or runaway call keeps the page's
// memory and DOM flat.
(function () {
  "use strict";

  const LIMITS = window.ConsolePane.LIMITS;
  const { el, cut, clock, personName } = window.ConsolePane.util;
  const TOKEN_KEY = "agentConsole.token";
  const FRAME_FALLBACK_MS = 250;
  const POLL_MS = 5000;
  const MOOD = { positive: "Positive", neutral: "Neutral", negative: "Negative" };
  const TREND = { improving: "getting better", worsening: "getting worse", steady: "steady" };

  const $ = (id) => document.getElementById(id);
  const state = {
    token: takeToken(),
    access: "unknown",
    live: new Map(), // conversationId -> summary
    recent: [], // summaries, newest first
    listsDirty: false,
    feed: null,
    feedFailures: 0,
    feedTimer: null,
    pollTimer: null,
    panes: new Map(), // key -> Pane
    active: null,
    stopped: false,
  };
  // For people debugging the page, and for the browser tests.
  window.agentConsole = { state, LIMITS };

  // An agent's app may open the console with a token in the fragment (#access_token=...,
  // never sent to servers): it is kept for this tab and removed from the address bar.
  function takeToken() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    const given = hash.get("access_token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      hash.delete("access_token");
      history.replaceState(null, "", location.pathname + location.search +
        (hash.toString() ? "#" + hash.toString() : ""));
      return given;
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  // What a refusal's stable code (docs/access-control.md) means for the agent.
  const REFUSED = {
    missing_token: "",
    token_expired: "That token has expired. Get a new one and paste it here.",
    app_revoked: "The app that token belongs to was revoked.",
    conversation_of_other_tenant: "That token does not give access to these conversations.",
    rate_limited: "Too many requests with that token; wait a minute and try again.",
    too_many_sessions: "That token is open in too many windows; close some and try again.",
  };

  function refusal(code) {
    if (code in REFUSED) return REFUSED[code];
    return "That token was not accepted. Check it and try again.";
  }

  // -- small helpers ----------------------------------------------------------------------

  function ago(iso) {
    const ms = Date.now() - Date.parse(iso);
    if (!(ms >= 0)) return "";
    const min = Math.round(ms / 60000);
    if (min < 1) return "just now";
    if (min < 60) return `${min} min ago`;
    const h = Math.round(min / 60);
    return h < 24 ? `${h} h ago` : new Date(iso).toLocaleDateString();
  }

  function titleOf(summary, id) {
    return cut((summary && summary.meetingTitle) || id, 80);
  }

  function withToken(path) {
    if (!state.token) return path;
    return path + (path.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(state.token);
  }

  function wsUrl(path) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${withToken(path)}`;
  }

  // One timer per page for "since" clocks and "ago" labels.
  function tickClocks() {
    const now = Date.now();
    for (const node of document.querySelectorAll("[data-since]")) {
      node.textContent = clock(now - Number(node.dataset.since));
    }
  }

  // -- access ---------------------------------------------------------------------------

  async function api(path) {
    const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
    const res = await fetch(path, { headers, cache: "no-store" });
    const body = (res.headers.get("Content-Type") || "").includes("json") ? await res.json() : null;
    return { status: res.status, body };
  }

  function fetchList(which) {
    return api(`/api/conversations?state=${which}`);
  }

  function isRefusal(status) {
    return status === 401 || status === 403;
  }

  function setFeedState(kind, text) {
    const node = $("feed-state");
    node.dataset.state = kind;
    node.textContent = text;
  }

  function askForToken(message) {
    stopFeed();
    $("main").hidden = true;
    $("open-note").hidden = true;
    $("forget-token").hidden = true;
    $("token-form").hidden = false;
    const error = $("token-error");
    error.hidden = !message;
    error.textContent = message || "";
    setFeedState("locked", "Locked");
    $("token-input").focus();
  }

  function showAccess(access) {
    state.access = access;
    $("token-form").hidden = true;
    $("main").hidden = false;
    $("open-note").hidden = access !== "open";
    $("forget-token").hidden = access !== "token";
  }

  async function start() {
    let live, recent;
    try {
      [live, recent] = await Promise.all([fetchList("live"), fetchList("recent")]);
    } catch (err) {
      setFeedState("down", "Gateway unreachable, retrying…");
      state.feedTimer = setTimeout(start, POLL_MS);
      return;
    }
    if (isRefusal(live.status)) {
      askForToken(state.token ? refusal(live.body && live.body.code) : "");
      return;
    }
    if (live.status !== 200 || !live.body) {
      setFeedState("down", `The gateway answered ${live.status}; retrying…`);
      state.feedTimer = setTimeout(start, POLL_MS);
      return;
    }
    showAccess(live.body.access);
    replaceLists(live.body.conversations, recent.body ? recent.body.conversations : []);
    openFeed();
  }

  // -- the conversation lists ------------------------------------------------------------

  function replaceLists(live, recent) {
    state.live = new Map(live.map((s) => [s.conversationId, s]));
    state.recent = recent.slice(0, LIMITS.recent);
    scheduleLists();
  }

  function upsertLive(summary) {
    state.live.set(summary.conversationId, summary);
    scheduleLists();
  }

  function moveToRecent(summary) {
    const current = state.live.get(summary.conversationId);
    if (current && current.startTime === summary.startTime) state.live.delete(summary.conversationId);
    state.recent = [summary, ...state.recent.filter((r) => !(r.conversationId === summary.conversationId
      && r.startTime === summary.startTime))].slice(0, LIMITS.recent);
    scheduleLists();
  }

  function scheduleLists() {
    if (state.listsDirty) return;
    state.listsDirty = true;
    requestAnimationFrame(renderLists);
    setTimeout(renderLists, FRAME_FALLBACK_MS);
  }

  function renderLists() {
    if (!state.listsDirty) return;
    state.listsDirty = false;
    const live = [...state.live.values()].sort((a, b) => (a.startTime < b.startTime ? 1 : -1));
    // Cards are rebuilt; keep the keyboard focus on the card it was on.
    const focused = document.activeElement && document.activeElement.closest(".card");
    const refocus = focused && `${focused.parentElement.id}|${focused.dataset.id}`;
    fillCards($("live"), live, false);
    fillCards($("recent"), state.recent, true);
    if (refocus) {
      const [list, id] = refocus.split("|");
      const again = [...$(list).children].find((c) => c.dataset.id === id);
      if (again) again.querySelector(".open").focus();
    }
    $("live-count").textContent = live.length;
    $("recent-count").textContent = state.recent.length;
    $("live-empty").hidden = live.length > 0;
    $("recent-empty").hidden = state.recent.length > 0;
    for (const pane of state.panes.values()) pane.summaryChanged(state.live.get(pane.id));
  }

  // Cards are rebuilt from whole summaries (at most a few dozen, once per feed batch).
  function fillCards(list, summaries, ended) {
    const cards = summaries.map((s) => card(s, ended));
    list.replaceChildren(...cards);
  }

  function card(summary, ended) {
    const node = $("card-template").content.firstElementChild.cloneNode(true);
    const id = summary.conversationId;
    node.dataset.id = id;
    node.dataset.state = summary.state;
    node.querySelector(".title").textContent = titleOf(summary, id);
    const since = node.querySelector(".since");
    if (ended) {
      const lasted = Date.parse(summary.endTime) - Date.parse(summary.startTime);
      since.textContent = `ended ${ago(summary.endTime)} · ${clock(lasted)}`;
    } else {
      since.dataset.since = String(Date.parse(summary.startTime));
      since.textContent = clock(Date.now() - Date.parse(summary.startTime));
      since.title = "Time since the call started";
    }
    const people = node.querySelector(".people");
    for (const p of (summary.participants || []).slice(0, LIMITS.people)) {
      const who = el("span", "person", personName(p));
      who.dataset.present = String(Boolean(p.present));
      if (!p.present) who.title = p.leftReason === "dropped" ? "Connection lost" : "Left the call";
      if (p.state && p.state.muted) who.dataset.muted = "true";
      people.append(who);
    }
    if (!people.children.length) people.append(el("span", "person none", "Nobody yet"));
    const line = summary.latestLine;
    node.querySelector(".line").hidden = !line;
    if (line) {
      node.querySelector(".who").textContent = personName(line.from) + ":";
      node.querySelector(".text").textContent = cut(line.text, 160);
    }
    drawMood(node, summary.sentiment);
    const tallies = [];
    if (summary.questions && summary.questions.count) tallies.push(plural(summary.questions.count, "question"));
    if (summary.actionItems && summary.actionItems.count) tallies.push(plural(summary.actionItems.count, "action item"));
    if (summary.followUps && summary.followUps.count) tallies.push(plural(summary.followUps.count, "follow-up"));
    node.querySelector(".tallies").textContent = tallies.join(" · ");
    const latest = node.querySelector(".latest");
    const last = lastInsight(summary);
    latest.hidden = !last;
    if (last) latest.textContent = `${last.label}: ${cut(last.text, 140)}`;
    const open = node.querySelector(".open");
    open.dataset.open = String(state.panes.has(id));
    open.addEventListener("click", () => openPane(id, summary, ended));
    return node;
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function lastInsight(summary) {
    const action = summary.actionItems && summary.actionItems.latest.slice(-1)[0];
    const question = summary.questions && summary.questions.latest.slice(-1)[0];
    if (action) return { label: "Action item", text: action.text };
    if (question) return { label: "Question", text: question.text };
    return null;
  }

  function drawMood(node, sentiment) {
    const text = node.querySelector(".mood-text");
    const trace = node.querySelector(".trace");
    if (!sentiment || !sentiment.current) {
      text.textContent = "Mood: not enough said yet";
      node.querySelector(".spark").hidden = true;
      return;
    }
    const points = sentiment.recent || [];
    const step = points.length > 1 ? 60 / (points.length - 1) : 60;
    trace.setAttribute("points", points.map((s, i) => `${(i * step).toFixed(1)},${(8 - s * 7).toFixed(1)}`).join(" "));
    node.querySelector(".mood").dataset.mood = sentiment.current;
    text.textContent = `${MOOD[sentiment.current] || sentiment.current}, ${TREND[sentiment.trend] || sentiment.trend}`;
  }

  // -- the feed -------------------------------------------------------------------------

  function openFeed() {
    if (state.feed || state.stopped) return;
    const ws = new WebSocket(wsUrl("/api/console/feed"));
    state.feed = ws;
    let refused = false;
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      switch (message.type) {
        case "snapshot":
          state.feedFailures = 0;
          stopPolling();
          showAccess(message.access);
          replaceLists(message.live, message.recent);
          setFeedState("live", "Live updates on");
          break;
        case "update": upsertLive(message.conversation); break;
        case "ended": moveToRecent(message.conversation); break;
        case "error":
          // Every refusal of the token ends the feed; only a full gateway is retried.
          refused = message.code !== "too_many_watchers" && message.code !== "store_unavailable";
          if (refused) askForToken(refusal(message.code));
          break;
        default: break;
      }
    };
    ws.onclose = () => {
      if (state.feed === ws) state.feed = null;
      if (refused || state.stopped) return;
      state.feedFailures += 1;
      // Keep the lists fresh by polling while the feed is away, and keep trying it.
      setFeedState("polling", "Reconnecting; refreshing every 5 s");
      startPolling();
      const delay = Math.min(30000, 1000 * 2 ** Math.min(state.feedFailures, 5));
      clearTimeout(state.feedTimer);
      state.feedTimer = setTimeout(openFeed, delay);
    };
  }

  function stopFeed() {
    clearTimeout(state.feedTimer);
    stopPolling();
    if (state.feed) {
      const ws = state.feed;
      state.feed = null;
      ws.onclose = null;
      ws.close();
    }
  }

  function startPolling() {
    if (state.pollTimer) return;
    state.pollTimer = setInterval(async () => {
      try {
        const [live, recent] = await Promise.all([fetchList("live"), fetchList("recent")]);
        if (isRefusal(live.status)) { askForToken(refusal(live.body && live.body.code)); return; }
        if (live.body && recent.body) replaceLists(live.body.conversations, recent.body.conversations);
      } catch (err) { /* still away: the next tick tries again */ }
    }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  // -- panes ----------------------------------------------------------------------------

  function openPane(id, summary, ended) {
    const existing = state.panes.get(id);
    // A pane showing an ended call gives way to a new live call under the same id.
    if (existing && !(existing.ended && !ended && existing.startTime !== Date.parse(summary.startTime))) {
      activate(existing);
      return;
    }
    if (existing) existing.close();
    if (state.panes.size >= LIMITS.panes) {
      note(`You can watch up to ${LIMITS.panes} calls at once; close one first.`);
      return;
    }
    const pane = new window.ConsolePane(id, ended ? summary : state.live.get(id) || summary,
                                        ended, paneHooks);
    state.panes.set(id, pane);
    $("tabs").append(pane.tab);
    $("panes").append(pane.node);
    activate(pane);
    scheduleLists();
  }

  function activate(pane) {
    state.active = pane;
    for (const p of state.panes.values()) p.setActive(p === pane);
    document.body.dataset.view = "watch";
    $("watch-empty").hidden = true;
    if (window.matchMedia("(max-width: 760px)").matches) window.scrollTo(0, 0);
  }

  function note(text) {
    const node = $("watch-note");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(note.timer);
    note.timer = setTimeout(() => { node.hidden = true; }, 5000);
  }

  const paneHooks = {
    activate,
    close(pane) {
      state.panes.delete(pane.id);
      pane.tab.remove();
      pane.node.remove();
      if (state.active === pane) {
        const next = [...state.panes.values()].pop() || null;
        state.active = null;
        if (next) activate(next);
      }
      if (!state.panes.size) {
        $("watch-empty").hidden = false;
        document.body.dataset.view = "lists";
      }
      scheduleLists();
    },
    wsUrl,
    api,
    refused(code) { askForToken(refusal(code)); },
  };

  // -- start ----------------------------------------------------------------------------

  function init() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.token = $("token-input").value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      $("token-input").value = "";
      start();
    });
    $("forget-token").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = "";
      for (const pane of [...state.panes.values()]) pane.close();
      askForToken("");
    });
    $("back").addEventListener("click", () => { document.body.dataset.view = "lists"; });
    setInterval(tickClocks, 1000);
    start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
