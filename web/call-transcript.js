/* What the call page shows of the results on the "insights" data channel (Symbl's shapes):
 * the transcript, questions, action items, follow-ups, topics, tracked phrases, talk time.
 *
 * Lines are labelled with who spoke ("You" for one's own) and kept in the order they were
 * spoken (duration.startTime), not the order they arrived: the other person's line can be
 * finalised after one's own although it started earlier. Sentiment is a word ("Positive",
 * "Negative"), not a symbol. Every server-provided text goes in with textContent. The DOM
 * and the hook stay bounded however long the call lasts.
 */
"use strict";

(function () {
  const MAX_LINES = 500; // oldest lines leave the page beyond this
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function mmss(ms) {
    const total = Math.max(0, Math.round(ms / 1000));
    return `${String(Math.floor(total / 60)).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
  }

  function toneOf(message) {
    const s = message.sentiment;
    if (!s || typeof s !== "object") return null;
    const score = s.polarity && typeof s.polarity.score === "number" ? s.polarity.score : null;
    let tone = typeof s.suggested === "string" ? s.suggested.toLowerCase() : null;
    if (!tone && score !== null) tone = score > 0.3 ? "positive" : score < -0.3 ? "negative" : "neutral";
    return tone ? { tone, score } : null;
  }

  const TONE_WORD = { positive: "Positive", negative: "Negative", neutral: "Neutral" };

  function personName(who) {
    if (!who) return "";
    if (typeof who === "string") return who;
    return who.name || who.userId || "";
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

  /**
   * @param {object} hook window.gateway (finals, partial, insights… mirror the page)
   * @param {object} who {selfId(), selfUserId(), startMs(), mark(name)}
   */
  function create(hook, who) {
    const insightsById = new Map();
    const trackerMatches = new Map(); // name -> value -> Set of message ids

    function reset() {
      Object.assign(hook, {
        finals: [], partial: "", partialCount: 0, insights: [], topics: [], trackers: [],
        analytics: null, events: [],
      });
      insightsById.clear();
      trackerMatches.clear();
      $("finals").replaceChildren();
      $("finals-empty").hidden = false;
      setPartial("");
      for (const id of ["questions", "actions", "followups", "topics", "tracker-list"]) $(id).replaceChildren();
      $("analytics").replaceChildren();
      updateCounts();
    }

    function setPartial(text) {
      hook.partial = text;
      const node = $("partial");
      node.replaceChildren();
      if (text) node.append(el("strong", "who", "You"), document.createTextNode(` ${text}`));
      node.dataset.empty = text ? "false" : "true";
      $("finals-empty").hidden = Boolean(text) || hook.finals.length > 0;
    }

    function speakerOf(message) {
      const from = message.from || {};
      const own = Boolean(from.id && from.id === who.selfId());
      return { id: from.id || null, own, label: own ? "You" : (from.name || from.userId || "Someone") };
    }

    function addLine(message) {
      const text = (message.payload && message.payload.content) ||
        (message.metadata && message.metadata.originalContent) || "";
      if (!text.trim()) return;
      const startTime = (message.duration && message.duration.startTime) || null;
      const parsed = Date.parse(startTime);
      const startMs = Number.isNaN(parsed) ? Date.now() : parsed;
      const speaker = speakerOf(message);
      const tone = toneOf(message);
      const entry = {
        id: message.id || null, text, startTime, startMs,
        elapsed: mmss(startMs - who.startMs()),
        speaker: speaker.label, speakerId: speaker.id, own: speaker.own,
        name: (message.from && message.from.name) || null,
        sentiment: tone,
      };
      who.mark("firstFinal");

      const li = el("li", "line");
      li.dataset.own = speaker.own ? "true" : "false";
      if (entry.id) li.dataset.id = entry.id;
      if (speaker.id) li.dataset.speaker = speaker.id;
      li.dataset.tone = tone ? tone.tone : "none";
      const head = el("div", "line-head");
      head.append(el("strong", "who", speaker.label));
      const time = el("time", "time", entry.elapsed);
      if (startTime) time.dateTime = startTime;
      head.append(time);
      if (tone && tone.tone !== "neutral") {
        const chip = el("span", "tone", TONE_WORD[tone.tone] || tone.tone);
        chip.dataset.tone = tone.tone;
        chip.title = `The tone of this line sounds ${tone.tone}`;
        head.append(chip);
      }
      li.append(head, el("p", "text", text));

      // Insert by when it was spoken; equal times keep arrival order.
      let index = hook.finals.length;
      while (index > 0 && hook.finals[index - 1].startMs > startMs) index -= 1;
      const list = $("finals");
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      hook.finals.splice(index, 0, entry);
      list.insertBefore(li, list.children[index] || null);
      while (hook.finals.length > MAX_LINES) {
        hook.finals.shift();
        list.firstElementChild.remove();
      }
      $("finals-empty").hidden = true;
      if (atBottom) list.scrollTop = list.scrollHeight;
    }

    function onRecognitionResult(message) {
      const alt = message.payload && message.payload.raw && message.payload.raw.alternatives &&
        message.payload.raw.alternatives[0];
      const text = (message.punctuated && message.punctuated.transcript) || (alt && alt.transcript) || "";
      if (message.isFinal) {
        setPartial(""); // the line itself arrives as message_response
        return;
      }
      if (text) {
        hook.partialCount += 1;
        who.mark("firstPartial");
      }
      setPartial(text);
    }

    const INSIGHT_LISTS = { question: "questions", action_item: "actions", follow_up: "followups" };

    function renderInsight(insight) {
      const li = el("li", "item");
      if (insight.id) li.dataset.id = insight.id;
      li.append(el("span", "content", (insight.payload && insight.payload.content) || insight.text || ""));
      const meta = el("span", "meta");
      const from = personName(insight.from);
      const assignee = personName(insight.assignee);
      const isMe = (p) => p && typeof p === "object" && p.userId && p.userId === who.selfUserId();
      if (from) meta.append(el("span", "from", `From: ${from}${isMe(insight.from) ? " (you)" : ""}`));
      if (assignee) meta.append(el("span", "assignee", `Assignee: ${assignee}${isMe(insight.assignee) ? " (you)" : ""}`));
      const due = formatDue(insight.dueBy);
      if (due) meta.append(el("span", "due", `Due: ${due}`));
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
      hook.insights = Array.from(insightsById.values(), (v) => v.insight);
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
      hook.topics = topics;
      const list = $("topics");
      list.replaceChildren();
      const sorted = topics.slice().sort((a, b) => (Number(b.score) || 0) - (Number(a.score) || 0));
      for (const topic of sorted) {
        const phrase = Array.isArray(topic.phrases) ? topic.phrases.join(", ") : topic.phrases;
        if (!phrase) continue;
        const li = el("li", "chip", phrase);
        const refs = Array.isArray(topic.messageReferences) ? topic.messageReferences.length : 0;
        if (refs) li.title = `mentioned in ${refs} line${refs === 1 ? "" : "s"}`;
        list.append(li);
      }
    }

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
      hook.trackers = [];
      const out = $("tracker-list");
      out.replaceChildren();
      for (const [name, values] of trackerMatches) {
        const matches = Array.from(values, ([value, refs]) => ({ value, count: refs.size }));
        hook.trackers.push({ name, matches });
        const li = el("li", "item");
        li.append(el("span", "content tracker-name", name));
        const meta = el("span", "meta");
        for (const m of matches) meta.append(el("span", "match", `“${m.value}” ×${m.count}`));
        li.append(meta);
        out.append(li);
      }
    }

    function seconds(value) {
      const n = Number(value);
      if (!Number.isFinite(n)) return "";
      return n >= 60 ? mmss(n * 1000) : `${Math.round(n)}\u00a0s`;
    }

    function onAnalytics(message) {
      hook.analytics = message;
      const rows = [];
      const members = Array.isArray(message.members) ? message.members : [];
      for (const m of members) {
        if (!m || typeof m !== "object") continue;
        const own = m.id && m.id === who.selfId();
        const name = own ? "You" : (m.name || m.userId || "Someone");
        const talk = m.talkTime || {};
        const parts = [];
        if (talk.seconds !== undefined) parts.push(seconds(talk.seconds));
        if (talk.percentage !== undefined) parts.push(`${Math.round(Number(talk.percentage))}%`);
        if (m.pace && Number(m.pace.wpm) > 0) parts.push(`${Math.round(m.pace.wpm)} words/min`);
        rows.push([name, parts.join(" · ") || "—"]);
      }
      for (const metric of Array.isArray(message.metrics) ? message.metrics : []) {
        if (metric && metric.type === "total_silence") rows.push(["Silence", seconds(metric.seconds)]);
        if (metric && metric.type === "total_overlap" && Number(metric.seconds) > 0) {
          rows.push(["Talking over each other", seconds(metric.seconds)]);
        }
      }
      const dl = $("analytics");
      dl.replaceChildren();
      for (const [key, value] of rows) {
        const row = el("div", "row");
        row.append(el("dt", null, key), el("dd", null, value));
        dl.append(row);
      }
    }

    /** One data-channel result: its JSON text, or the object already parsed. */
    function onMessage(text) {
      let data = text;
      if (typeof text === "string") {
        try {
          data = JSON.parse(text);
        } catch (e) {
          return;
        }
      }
      if (!data || typeof data !== "object") return;
      if (hook.events.length > 2000) hook.events.splice(0, 1000); // bounded for long calls
      if (data.type === "message" && data.message && typeof data.message === "object") {
        const inner = data.message;
        hook.events.push(inner.type);
        if (inner.type === "recognition_result") onRecognitionResult(inner);
        else if (inner.type === "recognition_started") who.mark("recognitionStarted");
        else if (inner.type === "recognition_stopped") setPartial("");
        return;
      }
      hook.events.push(data.type);
      switch (data.type) {
        case "message_response":
          for (const m of Array.isArray(data.messages) ? data.messages : []) {
            if (m && typeof m === "object") addLine(m);
          }
          break;
        case "insight_response": onInsights(data.insights); break;
        case "topic_response": onTopics(data.topics); break;
        case "tracker_response": onTrackers(data.trackers); break;
        case "analytics_response": onAnalytics(data); break;
        default: break;
      }
    }

    return { reset, onMessage, setPartial };
  }

  window.CallTranscript = { create };
})();
