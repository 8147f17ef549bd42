// One watched conversation in the agent console: a /subscribe socket, a small model, and a
// pane that is redrawn at most once per animation frame.
//
// Every message only updates the model (and marks what changed); render() writes the DOM.
// Caps (ConsolePane.LIMITS) bound the model, the pending work and the DOM, so a flood of
// results or an hour-long call costs the page the same memory as a short one.
(function () {
  "use strict";

  const LIMITS = {
    lines: 300, // transcript lines kept per pane; older ones leave the page
    insights: 100, // insights kept per pane
    trackers: 50, // tracker names per pane
    topics: 10,
    people: 16, // participants shown per pane
    partials: 8, // live (unfinished) lines per pane, one per speaker
    text: 600, // characters of one line, partial or insight
    panes: 6, // conversations watched at once
    recent: 50, // recently ended conversations listed
  };
  const FRAME_FALLBACK_MS = 250; // frames stop in background tabs; a timer stands in
  const KIND_LABEL = { question: "Question", action_item: "Action item", follow_up: "Follow-up" };
  const MOOD = { positive: "Positive", neutral: "Neutral", negative: "Negative" };
  const COLORS = 6;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function cut(text, limit) {
    const s = String(text == null ? "" : text);
    return s.length > limit ? s.slice(0, limit - 1) + "…" : s;
  }

  function clock(ms) {
    if (!(ms >= 0)) return "";
    const total = Math.floor(ms / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function personName(who, fallback) {
    if (!who || typeof who !== "object") return fallback || "Someone";
    return cut(who.name || who.userId || fallback || "Someone", 64);
  }

  function keyOf(who) {
    if (!who || typeof who !== "object") return "?";
    return String(who.id || who.userId || who.name || "?");
  }

  function dueText(value) {
    const day = Date.parse(String(value || "").slice(0, 10));
    if (!day) return "";
    return new Date(day).toLocaleDateString(undefined, { weekday: "short", day: "numeric",
                                                         month: "short", timeZone: "UTC" });
  }

  class ConsolePane {
    constructor(id, summary, ended, hooks) {
      this.id = id;
      this.hooks = hooks;
      this.node = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
      this.tab = document.getElementById("tab-template").content.firstElementChild.cloneNode(true);
      this.q = (selector) => this.node.querySelector(selector);
      const domId = "pane-" + Math.random().toString(36).slice(2);
      this.node.id = domId;
      this.node.dataset.id = id;
      this.tab.dataset.id = id;
      const tabButton = this.tab.querySelector(".tab-open");
      tabButton.setAttribute("aria-controls", domId);
      tabButton.addEventListener("click", () => hooks.activate(this));
      this.tab.querySelector(".tab-close").setAttribute("aria-label", `Stop watching ${id}`);
      this.tab.querySelector(".tab-close").addEventListener("click", () => this.close());
      this.q(".pane-close").addEventListener("click", () => this.close());
      this.node.addEventListener("focusin", () => hooks.activate(this));
      this.stats = { messages: 0, renders: 0, droppedLines: 0 };
      this.colors = new Map();
      this.title = id;
      this.startTime = NaN;
      this.endTime = NaN;
      this.ws = null;
      this.attempts = 0;
      this.closed = false;
      this.ended = false;
      this.scheduled = false;
      this.reset();
      if (summary) this.applySummary(summary);
      if (ended) this.showEnded(summary);
      else this.connect();
      this.schedule();
    }

    // -- model ---------------------------------------------------------------------------

    reset() {
      this.lines = []; // rendered, ordered by when they were spoken
      this.byId = new Map(); // line id -> line (rendered or pending), for de-duplication
      this.pendingLines = [];
      this.trimmed = 0;
      this.partials = new Map(); // speaker key -> {who, text}
      this.insights = [];
      this.insightIds = new Set();
      this.tally = { question: 0, action_item: 0, follow_up: 0 };
      this.topics = [];
      this.trackers = new Map();
      this.analytics = null;
      this.people = new Map();
      this.dirty = { lines: true, partials: true, insights: true, topics: true, trackers: true,
                     analytics: true, people: true, head: true };
      this.q(".lines").replaceChildren();
      this.q(".insight-list").replaceChildren();
    }

    colorOf(who) {
      const key = keyOf(who);
      if (!this.colors.has(key)) {
        if (this.colors.size > 64) this.colors.clear();
        this.colors.set(key, this.colors.size % COLORS);
      }
      return String(this.colors.get(key));
    }

    applySummary(summary) {
      this.title = cut(summary.meetingTitle || this.id, 80);
      this.startTime = Date.parse(summary.startTime);
      if (summary.endTime) this.endTime = Date.parse(summary.endTime);
      for (const p of summary.participants || []) this.setPerson(p, p);
      this.dirty.head = true;
    }

    summaryChanged(summary) {
      if (summary && summary.meetingTitle && summary.meetingTitle !== this.title) {
        this.title = cut(summary.meetingTitle, 80);
        this.dirty.head = true;
        this.schedule();
      }
    }

    setPerson(who, fields) {
      const key = keyOf(who);
      const current = this.people.get(key);
      if (!current && this.people.size >= LIMITS.people) {
        const gone = [...this.people.entries()].find(([, p]) => !p.present);
        if (!gone) return;
        this.people.delete(gone[0]);
      }
      const merged = Object.assign({ who, present: true, state: {} }, current, fields);
      merged.who = Object.assign({}, current ? current.who : {}, who);
      this.people.set(key, merged);
      this.colorOf(who);
      this.dirty.people = true;
    }

    onMessage(m) {
      if (!m || typeof m !== "object") return;
      this.stats.messages += 1;
      switch (m.type) {
        case "subscribed": this.setStatus(this.people.size ? "live" : "waiting"); break;
        case "snapshot":
          this.reset();
          if (m.conversation) { this.applySummary(m.conversation); this.setStatus("live"); }
          else this.setStatus("waiting");
          for (const result of Array.isArray(m.results) ? m.results : []) this.onMessage(result);
          break;
        case "conversation_started":
          this.startTime = Date.parse(m.startTime);
          if (m.meetingTitle) this.title = cut(m.meetingTitle, 80);
          this.setStatus("live");
          break;
        case "participant_joined": this.setPerson(m.participant, { present: true, state: {} }); break;
        case "participant_left":
          this.setPerson(m.participant, { present: false, state: {},
                                          leftReason: typeof m.reason === "string" ? m.reason : null });
          if (this.partials.delete(keyOf(m.participant))) this.dirty.partials = true;
          break;
        case "participant_state": this.onState(m); break;
        case "message": this.onRecognition(m.message); break;
        case "message_response":
          for (const message of Array.isArray(m.messages) ? m.messages : []) this.addLine(message);
          break;
        case "insight_response":
          for (const insight of Array.isArray(m.insights) ? m.insights : []) this.addInsight(insight);
          break;
        case "topic_response":
          this.topics = (Array.isArray(m.topics) ? m.topics : []).slice(0, LIMITS.topics);
          this.dirty.topics = true;
          break;
        case "tracker_response": this.addTrackers(m.trackers); break;
        case "analytics_response": this.analytics = m; this.dirty.analytics = true; break;
        case "conversation_ended": this.end(Date.now()); break;
        case "error": this.note(cut(m.message || m.code, 200)); this.refused = m.code; break;
        default: break;
      }
      this.schedule();
    }

    onState(m) {
      const fields = m.state && typeof m.state === "object" ? m.state
        : typeof m.state === "string" ? { state: m.state }
        : Object.fromEntries(Object.entries(m).filter(([k]) => !["type", "conversationId", "participant", "at"].includes(k)));
      const current = this.people.get(keyOf(m.participant));
      this.setPerson(m.participant, { state: Object.assign({}, current ? current.state : {}, fields) });
    }

    onRecognition(message) {
      if (!message || message.type !== "recognition_result") return;
      const who = message.user || {};
      const key = keyOf(who);
      if (message.isFinal) {
        if (this.partials.delete(key)) this.dirty.partials = true;
        return;
      }
      const alt = (((message.payload || {}).raw || {}).alternatives || [])[0] || {};
      const text = (message.punctuated && message.punctuated.transcript) || alt.transcript;
      if (!text) {
        if (this.partials.delete(key)) this.dirty.partials = true;
        return;
      }
      if (!this.partials.has(key) && this.partials.size >= LIMITS.partials) return;
      this.partials.set(key, { who, text: cut(text, LIMITS.text) });
      this.dirty.partials = true;
    }

    addLine(message) {
      if (!message || typeof message !== "object") return;
      const id = String(message.id || "");
      if (id && this.byId.has(id)) return; // already shown (a replay after a reconnect)
      const duration = message.duration || {};
      const line = {
        id,
        who: message.from || {},
        text: cut((message.payload || {}).content, LIMITS.text),
        start: String(duration.startTime || new Date().toISOString()),
        mood: message.sentiment && message.sentiment.suggested,
        node: null,
      };
      if (id) this.byId.set(id, line);
      this.pendingLines.push(line);
      if (this.pendingLines.length > LIMITS.lines) {
        const dropped = this.pendingLines.shift();
        this.byId.delete(dropped.id);
        this.trimmed += 1;
        this.stats.droppedLines += 1;
      }
      this.dirty.lines = true;
    }

    addInsight(insight) {
      if (!insight || !KIND_LABEL[insight.type]) return;
      const id = String(insight.id || Math.random());
      if (this.insightIds.has(id)) return;
      this.tally[insight.type] += 1;
      this.insights.push({
        id,
        type: insight.type,
        text: cut(insight.text || (insight.payload || {}).content, LIMITS.text),
        who: insight.from,
        assignee: insight.assignee,
        due: insight.dueBy && insight.dueBy.value,
        node: null,
      });
      this.insightIds.add(id);
      if (this.insights.length > LIMITS.insights) {
        const old = this.insights.shift();
        this.insightIds.delete(old.id);
        if (old.node) old.node.remove();
      }
      this.dirty.insights = true;
    }

    addTrackers(trackers) {
      for (const tracker of Array.isArray(trackers) ? trackers : []) {
        if (!tracker || !tracker.name) continue;
        const name = cut(tracker.name, 64);
        let entry = this.trackers.get(name);
        if (!entry) {
          if (this.trackers.size >= LIMITS.trackers) continue;
          entry = { count: 0, values: [] };
          this.trackers.set(name, entry);
        }
        const matches = Array.isArray(tracker.matches) ? tracker.matches : [];
        entry.count += matches.length;
        for (const match of matches) {
          const value = cut(match && match.value, 40);
          if (value && !entry.values.includes(value)) entry.values = [...entry.values, value].slice(-3);
        }
      }
      this.dirty.trackers = true;
    }

    // -- the socket ------------------------------------------------------------------------

    connect() {
      if (this.closed) return;
      this.setStatus(this.attempts ? "reconnecting" : "connecting");
      const path = `/subscribe/${encodeURIComponent(this.id)}?presence=1&snapshot=1`;
      const ws = new WebSocket(this.hooks.wsUrl(path));
      this.ws = ws;
      ws.onmessage = (event) => {
        let message;
        try { message = JSON.parse(event.data); } catch (err) { return; }
        if (message.type === "snapshot") this.attempts = 0;
        this.onMessage(message);
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (this.closed || this.ended || this.refused) return;
        // Lost: try again (the snapshot re-syncs the pane), slower each time, then stop.
        this.attempts += 1;
        if (this.attempts > 6) {
          this.setStatus("lost");
          this.note("Lost the connection to this call. Close the pane and open the call again.");
          return;
        }
        this.setStatus("reconnecting");
        this.retry = setTimeout(() => this.connect(), Math.min(15000, 500 * 2 ** this.attempts));
      };
    }

    end(at) {
      this.ended = true;
      if (!(this.endTime > 0)) this.endTime = at;
      for (const p of this.people.values()) p.present = false;
      this.partials.clear();
      this.dirty.partials = this.dirty.people = true;
      this.setStatus("ended");
    }

    showEnded(summary) {
      this.end(Date.parse(summary.endTime) || Date.now());
      this.note("This call has ended. The gateway keeps a summary of ended calls; the full " +
                "transcript is in the conversation store when one is configured.");
      this.loadStored();
      if (summary.latestLine) {
        this.addLine({ id: "latest", from: summary.latestLine.from, duration: { startTime: summary.latestLine.time },
                       payload: { content: summary.latestLine.text } });
      }
      const kinds = { questions: "question", actionItems: "action_item", followUps: "follow_up" };
      for (const [key, type] of Object.entries(kinds)) {
        for (const item of (summary[key] || {}).latest || []) {
          this.addInsight({ type, text: item.text, from: item.from, assignee: item.assignee });
        }
        this.tally[type] = (summary[key] || {}).count || 0;
      }
      this.topics = (summary.topics || []).map((phrases) => ({ phrases }));
      this.addTrackers((summary.trackers || []).map((t) => ({ name: t.name, matches: new Array(t.matches).fill({}) })));
    }

    // An ended call's whole transcript and insights, from the conversation store (Symbl's
    // Conversation API shapes, mapped onto the live ones). Without a store (503) or access
    // to it, the pane keeps the summary it has.
    async loadStored() {
      const base = `/v1/conversations/${encodeURIComponent(this.id)}`;
      let messages, insights;
      try {
        [messages, insights] = await Promise.all([
          this.hooks.api(`${base}/messages?sentiment=true`), this.hooks.api(`${base}/insights`)]);
      } catch (err) {
        return;
      }
      if (this.closed || messages.status !== 200 || !messages.body ||
          !Array.isArray(messages.body.messages)) return;
      this.lines = [];
      this.byId = new Map();
      this.pendingLines = [];
      this.q(".lines").replaceChildren();
      for (const m of messages.body.messages) {
        this.addLine({ id: m.id, from: m.from, payload: { content: m.text }, sentiment: m.sentiment,
                       duration: { startTime: m.startTime, endTime: m.endTime } });
      }
      if (insights.status === 200 && insights.body && Array.isArray(insights.body.insights)) {
        this.insights = [];
        this.insightIds = new Set();
        this.tally = { question: 0, action_item: 0, follow_up: 0 };
        this.q(".insight-list").replaceChildren();
        for (const i of insights.body.insights) {
          this.addInsight({ id: i.id, type: i.type, text: i.text, from: i.from, assignee: i.assignee,
                            dueBy: i.dueBy ? { value: i.dueBy } : undefined });
        }
      }
      this.stored = true;
      this.note("This call has ended. Its whole transcript, as the conversation store kept it.");
      this.dirty.lines = this.dirty.insights = true;
      this.schedule();
    }

    close() {
      this.closed = true;
      clearTimeout(this.retry);
      if (this.ws) {
        const ws = this.ws;
        this.ws = null;
        ws.close(1000);
      }
      this.hooks.close(this);
    }

    // -- rendering -------------------------------------------------------------------------

    setStatus(status) {
      this.status = status;
      this.dirty.head = true;
      this.schedule();
    }

    setActive(on) {
      this.node.dataset.active = String(on);
      this.tab.dataset.active = String(on);
      this.tab.querySelector(".tab-open").setAttribute("aria-selected", String(on));
    }

    note(text) {
      const node = this.q(".pane-note");
      node.textContent = text;
      node.hidden = !text;
    }

    schedule() {
      if (this.scheduled) return;
      this.scheduled = true;
      requestAnimationFrame(() => this.render());
      setTimeout(() => this.render(), FRAME_FALLBACK_MS);
    }

    render() {
      if (!this.scheduled) return;
      this.scheduled = false;
      this.stats.renders += 1;
      const scroller = this.q(".scroller");
      const stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
      const d = this.dirty;
      if (d.head) this.drawHead();
      if (d.people) this.drawPeople();
      if (d.lines) this.drawLines();
      if (d.partials) this.drawPartials();
      if (d.insights) this.drawInsights();
      if (d.topics) this.drawTopics();
      if (d.trackers) this.drawTrackers();
      if (d.analytics) this.drawAnalytics();
      this.dirty = {};
      this.q(".waiting").hidden = this.lines.length > 0 || this.partials.size > 0;
      if (stick) scroller.scrollTop = scroller.scrollHeight;
    }

    drawHead() {
      this.q(".title").textContent = this.title;
      this.tab.querySelector(".tab-title").textContent = this.title;
      const labels = { connecting: "connecting", waiting: "waiting for the call", live: "live",
                       reconnecting: "reconnecting", ended: "ended", lost: "disconnected" };
      const status = this.q(".status");
      status.dataset.state = this.status;
      status.textContent = labels[this.status] || this.status;
      this.tab.dataset.state = this.status;
      const elapsed = this.q(".elapsed");
      if (this.ended && this.startTime > 0) {
        delete elapsed.dataset.since;
        elapsed.textContent = clock(this.endTime - this.startTime);
      } else if (this.startTime > 0) {
        elapsed.dataset.since = String(this.startTime);
        elapsed.textContent = clock(Date.now() - this.startTime);
      }
    }

    drawPeople() {
      const list = this.q(".people");
      const items = [];
      for (const p of this.people.values()) {
        const item = el("li", "person");
        item.dataset.speaker = this.colorOf(p.who);
        item.dataset.present = String(Boolean(p.present));
        item.append(el("span", "name", personName(p.who)));
        const state = p.state || {};
        const flags = [];
        if (!p.present) flags.push(p.leftReason === "dropped" ? "connection lost" : "left");
        else if (state.muted) flags.push("muted");
        else if (state.speaking) flags.push("speaking");
        if (p.present && typeof state.state === "string" && state.state !== "connected") flags.push(state.state);
        if (flags.length) item.append(el("span", "flag", flags.join(", ")));
        items.push(item);
      }
      list.replaceChildren(...items);
    }

    lineNode(line) {
      const item = el("li", "line");
      item.dataset.speaker = this.colorOf(line.who);
      const at = Date.parse(line.start);
      const when = this.startTime > 0 && at >= this.startTime ? clock(at - this.startTime)
        : at ? new Date(at).toLocaleTimeString() : "";
      item.append(el("span", "when", when), el("span", "who", personName(line.who)),
                  el("span", "text", line.text));
      if (line.mood && line.mood !== "neutral") {
        const mood = el("span", "mood-dot");
        mood.dataset.mood = line.mood;
        mood.title = MOOD[line.mood] || line.mood;
        mood.append(el("span", "sr-only", `${MOOD[line.mood] || line.mood} tone`));
        item.append(mood);
      }
      return item;
    }

    drawLines() {
      const list = this.q(".lines");
      for (const line of this.pendingLines) {
        let i = this.lines.length;
        while (i > 0 && this.lines[i - 1].start > line.start) i -= 1;
        line.node = this.lineNode(line);
        list.insertBefore(line.node, i < this.lines.length ? this.lines[i].node : null);
        this.lines.splice(i, 0, line);
      }
      this.pendingLines = [];
      const extra = this.lines.length - LIMITS.lines;
      if (extra > 0) {
        for (const old of this.lines.splice(0, extra)) {
          old.node.remove();
          this.byId.delete(old.id);
        }
        this.trimmed += extra;
      }
      const trimmed = this.q(".trimmed");
      trimmed.hidden = this.trimmed === 0;
      trimmed.textContent = `${this.trimmed} earlier line${this.trimmed === 1 ? " is" : "s are"} not shown here.`;
    }

    drawPartials() {
      const items = [];
      for (const { who, text } of this.partials.values()) {
        const item = el("li", "partial");
        item.dataset.speaker = this.colorOf(who);
        item.append(el("span", "who", personName(who)), el("span", "text", text));
        items.push(item);
      }
      this.q(".partials").replaceChildren(...items);
    }

    drawInsights() {
      const list = this.q(".insight-list");
      // New ones (no node yet) are at the end of the model; the newest goes on top.
      let i = this.insights.length;
      while (i > 0 && !this.insights[i - 1].node) i -= 1;
      for (const item of this.insights.slice(i)) {
        const node = el("li", "insight");
        node.dataset.kind = item.type;
        node.append(el("span", "kind", KIND_LABEL[item.type]), el("span", "text", item.text));
        const meta = [];
        if (item.who) meta.push(personName(item.who));
        if (item.assignee && keyOf(item.assignee) !== keyOf(item.who)) {
          meta.push("for " + personName(item.assignee));
        }
        if (item.due) meta.push("due " + dueText(item.due));
        if (meta.length) node.append(el("span", "meta", meta.join(" · ")));
        item.node = node;
        list.prepend(node);
      }
      const parts = [];
      for (const [kind, word] of [["question", "question"], ["action_item", "action item"],
                                  ["follow_up", "follow-up"]]) {
        const n = this.tally[kind];
        if (n) parts.push(`${n} ${word}${n === 1 ? "" : "s"}`);
      }
      this.q(".tally").textContent = parts.join(" · ");
      this.q(".insights .empty").hidden = this.insights.length > 0;
    }

    drawTopics() {
      const chips = this.topics.map((t) => el("li", "chip", cut(t && t.phrases, 60)));
      this.q(".topics").replaceChildren(...chips);
      this.q(".topics-box .empty").hidden = chips.length > 0;
    }

    drawTrackers() {
      const items = [];
      for (const [name, entry] of this.trackers) {
        const item = el("li", "tracker");
        item.append(el("span", "name", name), el("span", "count", `×${entry.count}`));
        if (entry.values.length) item.append(el("span", "meta", entry.values.join(", ")));
        items.push(item);
      }
      this.q(".trackers").replaceChildren(...items);
      this.q(".trackers-box .empty").hidden = items.length > 0;
    }

    drawAnalytics() {
      const box = this.q(".analytics");
      const a = this.analytics;
      this.q(".analytics-box .empty").hidden = Boolean(a);
      if (!a) { box.replaceChildren(); return; }
      const metrics = new Map((Array.isArray(a.metrics) ? a.metrics : []).map((m) => [m.type, m]));
      const dl = el("dl", "metrics");
      for (const [type, label] of [["total_talk_time", "Talking"], ["total_silence", "Silence"],
                                   ["total_overlap", "Overlap"]]) {
        const m = metrics.get(type);
        if (!m) continue;
        const pair = el("div", "metric");
        pair.append(el("dt", null, label), el("dd", null, `${Math.round(Number(m.percent) || 0)}%`));
        dl.append(pair);
      }
      const members = el("ul", "talk");
      for (const m of (Array.isArray(a.members) ? a.members : []).slice(0, LIMITS.people)) {
        const share = Math.max(0, Math.min(100, Number((m.talkTime || {}).percentage) || 0));
        const item = el("li", "member");
        item.dataset.speaker = this.colorOf(m);
        const bar = el("span", "bar");
        const fill = el("span", "fill");
        fill.style.width = share.toFixed(1) + "%";
        bar.append(fill);
        const wpm = (m.pace || {}).wpm;
        item.append(el("span", "who", personName(m)), bar,
                    el("span", "pct", `${Math.round(share)}%${wpm ? ` · ${wpm} wpm` : ""}`));
        members.append(item);
      }
      box.replaceChildren(dl, members);
    }
  }

  ConsolePane.LIMITS = LIMITS;
  ConsolePane.util = { el, cut, clock, personName };
  window.ConsolePane = ConsolePane;
})();
