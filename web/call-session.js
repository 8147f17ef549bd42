/* The page's session with the gateway: signaling (call-signal.js), the peer connection that
 * carries the microphone to it, the "insights" data channel, redirects and resume.
 *
 * start() connects (WebSocket, or HTTP where the WebSocket is blocked), offers, and follows
 * the gateway's `redirect` (another node serves the call: close, connect to its url, offer
 * again with a fresh peer connection; at most 3 hops). It asks for `resume`: if signaling
 * drops later (Wi-Fi switch, laptop lid, a proxy's idle timeout), the session reconnects by
 * itself, with backoff and jitter, within the grace period the answer gave, and continues
 * the same session; if the media connection broke too (or breaks alone), the resume brings
 * a new peer connection, and the gateway replays the results after the last `seq` the page
 * has. Results are deduplicated by `seq`, so none is shown twice.
 *
 * A node that drains before shutting down sends `reconnect` (a session lives on one node, so
 * a resume cannot take it elsewhere): the call goes on while the page looks, every few
 * seconds, for a node that takes calls at the gateway's own address (in a cluster the load
 * balancer sends it to a ready node; a draining node refuses with `shutting_down`). When one
 * answers, the page says bye here (the last results arrive) and starts a new session in the
 * same conversation there. On a single node nothing else answers: the call goes on until the
 * node goes away, then the page joins the same conversation again as soon as it is back
 * (within the grace period, at least REJOIN_MIN_S).
 */
"use strict";

(function () {
  const ANSWER_TIMEOUT_MS = 20000;
  const MAX_HOPS = 3;
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 4000;
  const MEDIA_DISCONNECTED_MS = 8000; // "disconnected" this long: the media path is broken
  const PROBE_MS = 3000; // while draining: how often to look for a node that takes the call
  const REJOIN_MIN_S = 30; // the drained node went away: how long to keep trying to rejoin
  const LEAVE_MS = 5000; // bye to the drained node: its last results, at most this long
  const FEATURES = ["presence", "peer", "mute", "resume"]; // a call, and surviving blips
  // Errors about a single message, or warnings: the call goes on.
  const NON_FATAL = new Set(["invalid_candidate", "too_many_candidates", "unknown_type", "bad_json",
    "bad_message", "invalid_field", "missing_field", "message_too_large", "turn_unavailable",
    "unknown_participant", "rate_limited", "peer_data_too_large", "no_session"]);

  function failure(code, message, facts) {
    return Object.assign(new Error(message || code), { code, serverMessage: message || "", facts: facts || null });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Wait `ms`, or less if the browser says the network is back. */
  function backoff(ms) {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); window.removeEventListener("online", done); resolve(); };
      const timer = setTimeout(done, ms);
      window.addEventListener("online", done);
    });
  }

  class GatewaySession {
    /**
     * @param {object} o
     * @param {string} o.wsUrl the gateway's /ws
     * @param {() => object} o.config the offer's config
     * @param {MediaStreamTrack} o.track the microphone, and o.stream its stream
     * @param {(hello) => Promise<{iceServers, relay}>} o.onHello ICE settings for a peer connection
     * @param {(message) => void} o.onSignal presence, peer and error messages for the page
     * @param {(result) => void} o.onResult a data-channel result (parsed, each once)
     * @param {(what, value) => void} o.onChange "signaling", "peer", "channel", "link", "reconnect"
     * @param {(code, message, facts) => void} o.onFail the session is over for this page
     */
    constructor(o) {
      this.o = o;
      this.url = o.wsUrl; // the node serving this session (after redirects)
      this.http = false; // the WebSocket failed once: HTTP from then on
      this.conn = null;
      this.pc = null;
      this.channel = null;
      this.sender = null;
      this.ice = { iceServers: [], relay: false };
      this.waiters = [];
      this.closedWaiters = [];
      this.pendingCandidates = [];
      this.offerSent = false;
      this.sessionId = null;
      this.token = null;
      this.grace = 0;
      this.conversationId = null;
      this.answered = false;
      this.ended = false;
      this.stopping = false;
      this.reconnecting = null;
      this.mediaBroken = false;
      this.disconnectedTimer = null;
      this.lastSeq = 0;
      this.duplicates = 0;
      this.redirects = [];
      this.resumes = [];
      this.drain = null; // {reason, within, since}: the node asked us to move
      this.leaving = false; // bye sent to the drained node; its close is expected
      this.moves = []; // {ms, attempts, sessionId}: new sessions after a drain
    }

    get link() { return this.conn ? this.conn.kind : null; }

    // ------------------------------------------------------------ start
    async start() {
      for (let hop = 0; ; hop++) {
        const hello = await this.connect(null);
        if (this.ended) return null;
        this.sessionId = hello.sessionId || null;
        this.ice = await this.o.onHello(hello);
        const config = this.conversationId ? { ...this.o.config(), conversationId: this.conversationId }
          : this.o.config(); // a move keeps the conversation
        await this.offer({ type: "offer", config, features: FEATURES });
        const reply = await this.waitFor((m) => m.type === "answer" || m.type === "redirect" ||
          (m.type === "error" && !NON_FATAL.has(m.code)), ANSWER_TIMEOUT_MS, "signaling_timeout");
        if (this.ended) return null;
        if (reply.type === "error") throw failure(reply.code, reply.message, reply);
        if (reply.type === "redirect") {
          this.follow(reply, hop);
          continue;
        }
        await this.pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
        this.token = reply.resumeToken || null;
        this.grace = Number(reply.resumeGrace) || 0;
        this.conversationId = reply.conversationId || null;
        this.answered = true;
        return reply;
      }
    }

    follow(redirect, hop) {
      if (hop + 1 > MAX_HOPS) throw failure("too_many_redirects", `more than ${MAX_HOPS} redirects`);
      this.redirects.push({ url: redirect.url, reason: redirect.reason, nodeId: redirect.nodeId });
      this.url = redirect.url;
      this.dropConnection();
      this.o.onChange("reconnect", "redirected");
    }

    /** A new peer connection, its offer sent as `message` (offer or resume) with `sdp`. */
    async offer(message) {
      const pc = this.newPeer();
      await pc.setLocalDescription(await pc.createOffer());
      if (this.ended || this.pc !== pc) throw failure("signaling_closed");
      this.send({ ...message, sdp: pc.localDescription.sdp });
      this.offerSent = true;
      for (const candidate of this.pendingCandidates.splice(0)) this.send(candidate);
    }

    // ------------------------------------------------------------ connection
    async connect(resume) {
      this.o.onChange("signaling", "connecting");
      const { conn, hello } = await window.CallSignal.open(this.url, { resume, http: this.http });
      if (this.ended) { conn.close(); return hello; }
      if (conn.kind === "http") this.http = true;
      this.conn = conn;
      conn.onmessage = (message) => { if (this.conn === conn) this.dispatch(message); };
      conn.onclose = (event) => { if (this.conn === conn) this.connectionLost(event); };
      this.o.onChange("link", conn.kind);
      this.o.onChange("linkMode", conn.mode || conn.kind);
      this.o.onChange("signaling", "open");
      return hello;
    }

    dropConnection() {
      const conn = this.conn;
      this.conn = null;
      if (conn) conn.close();
      this.rejectWaiters("signaling_closed");
    }

    send(message) {
      if (this.conn) this.conn.send(message);
    }

    dispatch(message) {
      for (const waiter of this.waiters.slice()) {
        if (waiter.match(message)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
      if (message.type === "error" && this.consumed(message)) return;
      if (message.type === "reconnect") {
        this.draining(message);
        return;
      }
      if (["hello", "answer", "resumed", "redirect", "pong"].includes(message.type)) return;
      if (message.type === "candidate" && this.pc && message.candidate) {
        this.pc.addIceCandidate({ candidate: message.candidate, sdpMid: message.sdpMid,
          sdpMLineIndex: message.sdpMLineIndex }).catch(() => {});
        return;
      }
      this.o.onSignal(message);
    }

    /** Errors the session handles itself: a broken media path it can renegotiate. */
    consumed(message) {
      if (message.resumable && this.token && (message.code === "ice_failed" || message.code === "peer_closed")) {
        this.reconnect(true);
        return true;
      }
      return message.code === "redirected" || message.code === "sdp_required" || message.code === "resume_failed";
    }

    connectionLost(event) {
      this.o.onChange("signaling", "closed");
      this.conn = null;
      this.rejectWaiters("signaling_closed", event);
      for (const resolve of this.closedWaiters.splice(0)) resolve();
      if (this.ended || this.stopping || this.leaving || this.reconnecting || !this.answered) return;
      if (!this.token) {
        this.o.onFail("signaling_closed", event.reason || "");
        return;
      }
      this.reconnect(false);
    }

    waitFor(match, ms, code) {
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve, reject };
        const timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(failure(code));
        }, ms);
        waiter.resolve = (m) => { clearTimeout(timer); resolve(m); };
        waiter.reject = (e) => { clearTimeout(timer); reject(e); };
        this.waiters.push(waiter);
      });
    }

    rejectWaiters(code, event) {
      for (const waiter of this.waiters.splice(0)) waiter.reject(failure(code, event && event.reason));
    }

    // ------------------------------------------------------------ media
    newPeer() {
      this.closePeer();
      const pc = new RTCPeerConnection({ iceServers: this.ice.iceServers,
        iceTransportPolicy: this.ice.relay ? "relay" : "all" });
      // The data channel must exist before the offer: results are delivered on it.
      const channel = pc.createDataChannel("insights", { ordered: true });
      this.pc = pc;
      this.channel = channel;
      this.offerSent = false;
      this.pendingCandidates = [];
      this.o.onChange("channel", channel.readyState);
      channel.onopen = () => { if (this.channel === channel) this.o.onChange("channel", "open"); };
      channel.onclose = () => { if (this.channel === channel) this.o.onChange("channel", "closed"); };
      channel.onmessage = (event) => { if (this.channel === channel) this.result(event.data); };
      this.sender = pc.addTrack(this.o.track(), this.o.stream());
      pc.onicecandidate = (event) => {
        if (this.pc !== pc) return;
        const c = event.candidate;
        if (c && !c.candidate) return; // Chrome's empty end-of-generation candidate
        const t = pc.getTransceivers()[0];
        const message = c
          ? { type: "candidate", candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
          : { type: "candidate", candidate: null, sdpMid: (t && t.mid) || "0", sdpMLineIndex: 0 };
        if (this.offerSent) this.send(message);
        else this.pendingCandidates.push(message);
      };
      pc.onconnectionstatechange = () => { if (this.pc === pc) this.mediaState(pc); };
      return pc;
    }

    mediaState(pc) {
      const state = pc.connectionState;
      this.o.onChange("peer", state);
      clearTimeout(this.disconnectedTimer);
      if (state === "disconnected" && this.token) {
        this.disconnectedTimer = setTimeout(() => {
          if (this.pc === pc && pc.connectionState !== "connected") this.reconnect(true);
        }, MEDIA_DISCONNECTED_MS);
      } else if ((state === "failed" || state === "closed") && !this.ended && !this.stopping) {
        if (this.token && this.answered) this.reconnect(true);
        else this.o.onFail("ice_failed");
      }
    }

    mediaLost() {
      const pc = this.pc;
      return !pc || ["failed", "closed"].includes(pc.connectionState) ||
        (this.channel !== null && this.channel.readyState === "closed");
    }

    result(text) {
      let data;
      try { data = JSON.parse(text); } catch (e) { return; }
      if (!data || typeof data !== "object") return;
      if (typeof data.seq === "number") {
        if (data.seq <= this.lastSeq) { // sent again after a resume: already shown
          this.duplicates += 1;
          return;
        }
        this.lastSeq = data.seq;
      }
      this.o.onResult(data);
    }

    closePeer() {
      const pc = this.pc;
      this.pc = null;
      this.channel = null;
      this.sender = null;
      clearTimeout(this.disconnectedTimer);
      if (pc) {
        try { pc.close(); } catch (e) { /* already closed */ }
      }
    }

    // ------------------------------------------------------------ resume
    /** Get back to the session: one reconnection at a time; `media` adds a new peer connection. */
    reconnect(media) {
      if (media) this.mediaBroken = true;
      if (this.reconnecting || this.ended || this.stopping || this.leaving || !this.token) return this.reconnecting;
      // After a drain the session is gone with its node: join the conversation anew.
      this.reconnecting = (this.drain ? this.rejoin() : this.resume())
        .finally(() => { this.reconnecting = null; });
      return this.reconnecting;
    }

    async resume() {
      const started = performance.now();
      const deadline = Date.now() + this.grace * 1000;
      this.o.onChange("reconnect", "reconnecting");
      this.dropConnection();
      let delay = BACKOFF_FIRST_MS;
      let hops = 0;
      for (let attempt = 1; !this.ended && !this.stopping; attempt++) {
        try {
          await this.connect(this.sessionId);
          const media = this.mediaBroken || this.mediaLost();
          const message = { type: "resume", sessionId: this.sessionId, resumeToken: this.token };
          if (media) {
            // aiortc has no ICE restart: a new peer connection continues the same session.
            await this.offer({ ...message, lastSeq: this.lastSeq });
          } else {
            this.send({ ...message, lastSeq: this.lastSeq });
          }
          const reply = await this.waitFor((m) => m.type === "resumed" || m.type === "redirect" ||
            (m.type === "error" && !NON_FATAL.has(m.code)), ANSWER_TIMEOUT_MS, "signaling_timeout");
          if (reply.type === "redirect") {
            if (++hops > MAX_HOPS) throw failure("too_many_redirects");
            this.url = reply.url;
            this.redirects.push({ url: reply.url, reason: reply.reason, nodeId: reply.nodeId });
            this.dropConnection();
            continue;
          }
          if (reply.type === "error") {
            if (reply.code === "sdp_required") {
              this.mediaBroken = true;
              this.dropConnection();
              continue;
            }
            if (reply.code === "resume_failed" || reply.code === "redirected") {
              this.o.onFail("resume_failed", reply.message, reply);
              return;
            }
            throw failure(reply.code, reply.message, reply);
          }
          if (reply.sdp) await this.pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
          this.mediaBroken = false;
          this.resumes.push({ ms: Math.round(performance.now() - started), attempts: attempt,
            media, link: this.link, replayed: reply.replayed, missed: reply.missed });
          this.o.onChange("reconnect", "reconnected");
          return;
        } catch (err) {
          if (this.ended || this.stopping) return;
          if (err.code === "too_many_redirects") {
            this.o.onFail("resume_failed", err.message);
            return;
          }
          this.dropConnection();
          if (Date.now() + delay > deadline) {
            this.o.onFail("reconnect_failed", `no connection to the call server for ${Math.round(this.grace)} s`);
            return;
          }
          this.o.onChange("reconnect", "retrying");
          await backoff(delay * (0.5 + Math.random())); // jitter: clients of one outage spread out
          delay = Math.min(BACKOFF_MAX_MS, delay * 2);
        }
      }
    }

    // ------------------------------------------------------------ moving (the node drains)
    /** `reconnect`: the node ends this session within `within` s. Keep the call; move. */
    draining(message) {
      if (this.ended || this.stopping || this.drain || !this.token) return;
      this.drain = { reason: String(message.reason || ""), within: Number(message.within) || 0,
        since: performance.now() };
      this.o.onChange("reconnect", "draining");
      this.lookForNode();
    }

    /** Until a node that takes calls answers at the gateway's address, or this one goes. */
    async lookForNode() {
      while (this.drain && this.conn && !this.ended && !this.stopping && !this.reconnecting) {
        let probe = null;
        try {
          probe = await window.CallSignal.open(this.o.wsUrl, { http: this.http });
        } catch (err) {
          probe = null; // shutting_down (this very node), or nothing there yet
        }
        if (probe) {
          probe.conn.close(); // a greeting is all it was for: its slot is freed at once
          if (!this.drain || this.ended || this.stopping || this.reconnecting) return;
          await this.leave(LEAVE_MS);
          this.leaving = false;
          this.reconnect(true);
          return;
        }
        await backoff(PROBE_MS * (0.5 + Math.random()));
      }
    }

    /** Bye to the drained node (it sends its last results) without ending the call here. */
    async leave(ms) {
      const conn = this.conn;
      if (!conn) return;
      this.leaving = true;
      const closed = new Promise((resolve) => this.closedWaiters.push(resolve));
      const byeReply = this.waitFor((m) => m.type === "bye", ms, "bye_timeout").catch(() => {});
      this.send({ type: "bye" });
      await Promise.race([byeReply, closed, sleep(ms)]);
      await sleep(150); // let the last results land on the data channel
    }

    /** A new session in the same conversation, at the gateway's address, with backoff. */
    async rejoin() {
      const started = performance.now();
      const deadline = Date.now() + Math.max(this.grace, REJOIN_MIN_S) * 1000;
      this.o.onChange("reconnect", "rejoining");
      let delay = BACKOFF_FIRST_MS;
      for (let attempt = 1; !this.ended && !this.stopping; attempt++) {
        this.dropConnection();
        Object.assign(this, { url: this.o.wsUrl, sessionId: null, token: null, answered: false,
          lastSeq: 0, mediaBroken: false }); // the new session numbers its results afresh
        try {
          const answer = await this.start();
          if (!answer) return;
          this.drain = null;
          this.moves.push({ ms: Math.round(performance.now() - started), attempts: attempt,
            sessionId: this.sessionId });
          this.o.onChange("reconnect", "moved");
          return;
        } catch (err) {
          if (this.ended || this.stopping) return;
          if (Date.now() + delay > deadline) {
            this.o.onFail("reconnect_failed", "the call server did not come back after its restart");
            return;
          }
          this.o.onChange("reconnect", "retrying");
          await backoff(delay * (0.5 + Math.random()));
          delay = Math.min(BACKOFF_MAX_MS, delay * 2);
        }
      }
    }

    // ------------------------------------------------------------ end
    /** Hang up: bye, and wait (bounded) for the server's bye or the close. */
    async bye(ms) {
      this.stopping = true;
      const conn = this.conn;
      if (!conn || !this.offerSent) return;
      const closed = new Promise((resolve) => this.closedWaiters.push(resolve));
      const byeReply = this.waitFor((m) => m.type === "bye", ms, "bye_timeout").catch(() => {});
      this.send({ type: "bye" });
      await Promise.race([byeReply, closed, sleep(ms)]);
    }

    close() {
      this.ended = true;
      this.dropConnection();
      this.closePeer();
    }
  }

  window.CallSession = { GatewaySession, FEATURES };
})();
