/* Signaling for the call page: the same JSON messages over a WebSocket (/ws) or, where a
 * proxy refuses WebSocket upgrades, over plain HTTP (/signal: POSTs out, server-sent events
 * in, read with fetch so the connection's secret travels in headers, never in a URL).
 *
 * CallSignal.open(wsUrl, {resume, http}) resolves with {conn, hello}: the connection and the
 * server's first message. It tries the WebSocket first; if that cannot open (or opens and
 * says nothing), it falls back to HTTP by itself; and if the event stream says nothing
 * either (a proxy that buffers streamed responses), to long polling. A refusal the server sends (server_busy)
 * rejects with that error's code. conn.onmessage(message) gets every later message;
 * conn.onclose({code, reason}) once, however the connection ends (a dead connection is
 * noticed: a WebSocket with no answer to pings for 30 s, an event stream silent for 40 s).
 */
"use strict";

(function () {
  const HELLO_TIMEOUT_MS = 10000;
  const PING_MS = 10000;
  const WS_SILENT_MS = 30000; // the server answers every ping: silence means a dead socket
  const HTTP_SILENT_MS = 40000; // the server sends a keep-alive comment every 15 s
  const MAX_BATCH = 32;
  const STREAM_SILENT_MS = 4000; // no first event on the stream: a buffering proxy, so poll
  const POLL_WAIT_S = 25;

  function failure(code, message, extra) {
    return Object.assign(new Error(message || code), { code, serverMessage: message || "" }, extra || {});
  }

  function withQuery(url, key, value) {
    const u = new URL(url);
    u.searchParams.set(key, value);
    return u.toString();
  }

  /** The /signal endpoints that go with a /ws URL (same host, path prefix and query). */
  function httpBase(wsUrl) {
    const u = new URL(wsUrl);
    u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    u.pathname = u.pathname.replace(/\/ws$/, "");
    return u;
  }

  class Connection {
    constructor(kind) {
      this.kind = kind;
      this.closed = false;
      this.onmessage = null;
      this.onclose = null;
      this.lastHeard = Date.now();
      this.timer = null;
    }

    emit(message) {
      this.lastHeard = Date.now();
      if (!this.closed && this.onmessage) this.onmessage(message);
    }

    ended(code, reason) {
      if (this.closed) return;
      this.closed = true;
      clearInterval(this.timer);
      this.shut();
      if (this.onclose) this.onclose({ code, reason: reason || "" });
    }

    close() { this.ended(1000, "closed by the page"); }
  }

  class WsConnection extends Connection {
    constructor(url) {
      super("websocket");
      this.url = url;
      this.ws = null;
    }

    start() {
      return new Promise((resolve, reject) => {
        let ws;
        try {
          ws = new WebSocket(this.url);
        } catch (e) {
          reject(failure("unreachable", e.message, { fallback: true }));
          return;
        }
        this.ws = ws;
        let opened = false;
        let greeted = false;
        const timer = setTimeout(() => {
          if (greeted) return;
          reject(failure("unreachable", "the WebSocket said nothing", { fallback: true }));
          this.closed = true;
          try { ws.close(); } catch (e) { /* closing anyway */ }
        }, HELLO_TIMEOUT_MS);
        ws.onopen = () => { opened = true; };
        ws.onerror = () => { /* onclose follows with the details */ };
        ws.onmessage = (event) => {
          let message;
          try { message = JSON.parse(event.data); } catch (e) { return; }
          if (!message || typeof message !== "object") return;
          if (!greeted) {
            greeted = true;
            clearTimeout(timer);
            if (message.type === "hello") {
              this.timer = setInterval(() => this.keepAlive(), PING_MS);
              resolve(message);
            } else {
              reject(failure(String(message.code || "unreachable"), message.message, { facts: message }));
            }
            return;
          }
          this.emit(message);
        };
        ws.onclose = (event) => {
          clearTimeout(timer);
          if (!greeted) {
            greeted = true;
            this.closed = true;
            reject(opened ? failure("unreachable", `WebSocket closed with code ${event.code}`)
              : failure("unreachable", "the WebSocket could not open", { fallback: true }));
            return;
          }
          this.ended(event.code, event.reason);
        };
      });
    }

    keepAlive() {
      if (Date.now() - this.lastHeard > WS_SILENT_MS) {
        this.ended(4000, "no answer from the call server");
        return;
      }
      this.send({ type: "ping" });
    }

    send(message) {
      if (!this.closed && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
    }

    shut() {
      const ws = this.ws;
      if (!ws) return;
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) {
        try { ws.close(1000, "done"); } catch (e) { /* already closed */ }
      }
    }
  }

  class HttpConnection extends Connection {
    constructor(wsUrl) {
      super("http");
      this.base = httpBase(wsUrl);
      this.headers = null;
      this.outgoing = [];
      this.flushing = false;
      this.abort = new AbortController();
      this.streamAbort = new AbortController();
      this.mode = "events"; // "events" (server-sent events) or "poll" (long polling)
      this.lastId = 0;
    }

    url(path, params) {
      const u = new URL(this.base.toString());
      u.pathname = `${u.pathname.replace(/\/$/, "")}${path}`;
      for (const [key, value] of Object.entries(params || {})) u.searchParams.set(key, String(value));
      return u.toString();
    }

    async start(resume) {
      let res;
      try {
        res = await fetch(this.url("/signal/open", resume ? { resume } : null),
          { method: "POST", cache: "no-store" });
      } catch (e) {
        throw failure("unreachable", e.message);
      }
      if (res.status !== 201) throw failure("unreachable", `HTTP signaling answered ${res.status}`);
      const body = await res.json();
      this.headers = { "X-Signal-Connection": body.connectionId, "X-Signal-Secret": body.secret };
      return new Promise((resolve, reject) => {
        let greeted = false;
        const timer = setTimeout(() => {
          if (!greeted) { greeted = true; reject(failure("signaling_timeout")); this.ended(1006, "no hello"); }
        }, HELLO_TIMEOUT_MS);
        this.onfirst = (message) => {
          greeted = true;
          clearTimeout(timer);
          if (message.type === "hello") {
            this.timer = setInterval(() => {
              if (Date.now() - this.lastHeard > HTTP_SILENT_MS) this.ended(4000, "the event stream went silent");
            }, PING_MS);
            resolve(message);
          } else {
            reject(failure(String(message.code || "unreachable"), message.message, { facts: message }));
          }
        };
        this.onearlyclose = (reason) => {
          if (!greeted) { greeted = true; clearTimeout(timer); reject(failure("unreachable", reason)); }
        };
        this.read();
        setTimeout(() => {
          if (!greeted && !this.closed) { // the stream is held back somewhere: poll instead
            this.mode = "poll";
            this.streamAbort.abort();
            this.poll();
          }
        }, STREAM_SILENT_MS);
      });
    }

    async poll() {
      while (!this.closed) {
        let body;
        try {
          const res = await fetch(this.url("/signal/poll", { after: this.lastId, wait: POLL_WAIT_S }), {
            headers: this.headers, cache: "no-store", signal: this.abort.signal });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          body = await res.json();
        } catch (e) {
          this.lost(`polling: ${e.message}`);
          return;
        }
        this.lastHeard = Date.now();
        for (const event of Array.isArray(body.events) ? body.events : []) {
          this.lastId = Math.max(this.lastId, Number(event.id) || 0);
          this.deliver(event.message);
          if (this.closed) return;
        }
        if (body.closed) {
          if (this.onearlyclose) this.onearlyclose(body.closed.reason || "closed");
          this.ended(Number(body.closed.code) || 1000, body.closed.reason);
          return;
        }
      }
    }

    async read() {
      let res;
      try {
        const both = new AbortController();
        for (const s of [this.abort.signal, this.streamAbort.signal]) {
          s.addEventListener("abort", () => both.abort(), { once: true });
        }
        res = await fetch(this.url("/signal/events"), {
          headers: this.headers, cache: "no-store", signal: both.signal });
      } catch (e) {
        if (this.mode === "events") this.lost(`event stream: ${e.message}`);
        return;
      }
      if (!res.ok || !res.body) {
        this.lost(`event stream: HTTP ${res.status}`);
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.lastHeard = Date.now();
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            this.onBlock(block);
            if (this.closed) return;
          }
        }
      } catch (e) {
        if (this.mode === "events") this.lost(`event stream: ${e.message}`);
        return;
      }
      if (this.mode === "events") this.lost("the event stream ended");
    }

    onBlock(block) {
      let event = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
        else if (field === "id") id = Number(value);
      }
      if (this.mode !== "events") return;
      if (id) this.lastId = Math.max(this.lastId, id);
      if (!data.length) return;
      let message;
      try { message = JSON.parse(data.join("\n")); } catch (e) { return; }
      if (event === "close") {
        if (this.onearlyclose) this.onearlyclose(message.reason || "closed");
        this.ended(Number(message.code) || 1000, message.reason);
      } else {
        this.deliver(message);
      }
    }

    deliver(message) {
      if (this.onfirst) {
        const first = this.onfirst;
        this.onfirst = null;
        this.lastHeard = Date.now();
        first(message);
      } else {
        this.emit(message);
      }
    }

    lost(reason) {
      if (this.onearlyclose) this.onearlyclose(reason);
      this.ended(1006, reason);
    }

    send(message) {
      if (this.closed) return;
      if (message && message.type === "bye") this.byeSent = true; // the server closes then
      this.outgoing.push(message);
      if (!this.flushing) this.flush();
    }

    async flush() {
      this.flushing = true;
      // One request at a time, so the server handles messages in the order they were sent;
      // what queues meanwhile goes in the next request, as a batch.
      while (this.outgoing.length && !this.closed) {
        const batch = this.outgoing.splice(0, MAX_BATCH);
        try {
          const res = await fetch(this.url("/signal"), {
            method: "POST", cache: "no-store", keepalive: true,
            headers: { ...this.headers, "Content-Type": "application/json" },
            body: JSON.stringify(batch.length === 1 ? batch[0] : batch),
          });
          if (res.status === 404 || res.status === 410) this.ended(1006, "the signaling connection is gone");
        } catch (e) {
          this.ended(1006, `sending failed: ${e.message}`);
        }
      }
      this.flushing = false;
    }

    shut() {
      this.abort.abort();
      // After a bye the server ends the connection itself; a DELETE racing the bye's POST
      // could reach it first and make the hang-up look like a lost connection.
      if (this.headers && !this.byeSent) {
        fetch(this.url("/signal"), { method: "DELETE", headers: this.headers, keepalive: true })
          .catch(() => { /* the server forgets it after a while anyway */ });
      }
    }
  }

  /**
   * Open a signaling connection to wsUrl (a /ws URL, e.g. a redirect's), over HTTP if
   * `http` or if the WebSocket cannot open. `resume`: the session id it comes to resume.
   */
  async function open(wsUrl, options) {
    const o = options || {};
    if (!o.http) {
      const ws = new WsConnection(o.resume ? withQuery(wsUrl, "resume", o.resume) : wsUrl);
      try {
        const hello = await ws.start();
        return { conn: ws, hello };
      } catch (err) {
        if (!err.fallback) throw err;
      }
    }
    const conn = new HttpConnection(wsUrl);
    const hello = await conn.start(o.resume);
    return { conn, hello };
  }

  window.CallSignal = { open, httpBase };
})();
