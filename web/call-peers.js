/* Direct browser-to-browser audio with the other people in the call.
 *
 * One RTCPeerConnection per other participant ("link"), negotiated through the gateway's
 * /ws signaling: {type:"peer", to, data} out, {type:"peer", from, data} in, where data is
 * {description} or {candidate}. Perfect negotiation (w3c webrtc-pc, "perfect negotiation
 * example"): the participant with the greater id is polite (it rolls back its own offer when
 * offers cross), the other is impolite (it ignores a crossing offer), so glare can never
 * wedge the call. The newcomer offers first; the one already there answers with its
 * microphone on the offered transceiver, so the usual join needs one round trip.
 *
 * Remote audio plays through an <audio> element per link (the join click was the user
 * gesture that lets it play). getStats() gives the received level for the "speaking"
 * indicator and for tests.
 */
"use strict";

(function () {
  const SELF_OFFER_AFTER_MS = 3000; // the newcomer did not offer: offer ourselves
  const LEVEL_HISTORY = 1200; // samples kept per link (~5 min at 4 per second)

  class PeerLink {
    /**
     * @param {object} o
     * @param {string} o.selfId our participant id
     * @param {{id:string,name?:string,userId?:string,muted?:boolean}} o.remote
     * @param {RTCIceServer[]} o.iceServers
     * @param {boolean} o.relay relay-only (TURN) candidates
     * @param {(data:object) => void} o.send sends {description} / {candidate} to the remote
     * @param {(link:PeerLink) => void} o.onChange state changed (for the UI)
     * @param {HTMLElement} o.audioParent where the <audio> element goes
     * @param {boolean} o.initiator we joined after them: we offer first
     */
    constructor(o) {
      this.remote = o.remote;
      this.id = o.remote.id;
      this.polite = o.selfId > o.remote.id;
      this.send = o.send;
      this.onChange = o.onChange;
      this.onBlocked = o.onBlocked || (() => {});
      this.state = "connecting"; // connecting | connected | reconnecting | failed | closed
      this.connectedAt = null;
      this.createdAt = performance.now();
      this.makingOffer = false;
      this.ignoreOffer = false;
      this.sender = null;
      this.track = null;
      this.stream = null;
      this.levels = []; // [epoch ms, audioLevel, totalAudioEnergy, totalSamplesDuration]
      this.level = 0;
      this.facts = {}; // details for developers: candidate types, RTT, jitter buffer
      this.queue = Promise.resolve();
      this.pc = new RTCPeerConnection({
        iceServers: o.iceServers, iceTransportPolicy: o.relay ? "relay" : "all",
      });
      this.audio = document.createElement("audio");
      this.audio.autoplay = true;
      this.audio.dataset.participant = this.id;
      o.audioParent.append(this.audio);
      this.initiator = o.initiator;
      this.wire();
    }

    wire() {
      const pc = this.pc;
      pc.onnegotiationneeded = async () => {
        try {
          this.makingOffer = true;
          await pc.setLocalDescription();
          this.send({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
        } catch (err) {
          this.note("offer failed", err);
        } finally {
          this.makingOffer = false;
        }
      };
      pc.onicecandidate = ({ candidate }) => {
        // null: gathering complete (the remote may call addIceCandidate() with it)
        this.send({ candidate: candidate ? candidate.toJSON() : null });
      };
      pc.ontrack = (event) => {
        this.audio.srcObject = event.streams[0] || new MediaStream([event.track]);
        this.play();
      };
      pc.onconnectionstatechange = () => {
        const s = pc.connectionState;
        if (s === "connected") {
          if (this.connectedAt === null) this.connectedAt = performance.now();
          this.setState("connected");
        } else if (s === "disconnected") {
          this.setState("reconnecting");
        } else if (s === "failed") {
          this.setState("failed");
          // One side restarts ICE; the other answers (perfect negotiation settles a tie).
          if (!this.polite) pc.restartIce();
        }
      };
    }

    /** Play their audio; a browser that refuses without a user gesture is reported. */
    play() {
      const playing = this.audio.play();
      if (playing) {
        playing.catch((err) => {
          this.note("audio playback blocked", err);
          if (err && err.name === "NotAllowedError") this.onBlocked(this);
        });
      }
    }

    setState(state) {
      if (this.state === "closed" || this.state === state) return;
      this.state = state;
      this.onChange(this);
    }

    note(what, err) {
      this.facts.lastProblem = `${what}: ${(err && (err.name || err.message)) || err}`;
    }

    /** Our microphone goes to this person (again): at creation, or after a device switch. */
    setTrack(track, stream) {
      this.track = track;
      this.stream = stream;
      if (this.sender) {
        this.sender.replaceTrack(track).catch((err) => this.note("replaceTrack failed", err));
      } else if (this.initiator || this.pc.remoteDescription) {
        // negotiationneeded: we offer (addTrack reuses a transceiver their offer made)
        this.sender = this.pc.addTrack(track, stream);
      } else {
        // Wait for their offer and answer on its transceiver; offer ourselves if none comes.
        this.selfOfferTimer = setTimeout(() => {
          if (!this.sender && this.state !== "closed") this.sender = this.pc.addTrack(track, stream);
        }, SELF_OFFER_AFTER_MS);
      }
    }

    /** A {description} or {candidate} from the remote, handled in arrival order. */
    receive(data) {
      this.queue = this.queue.then(() => this.handle(data)).catch((err) => this.note("negotiation", err));
      return this.queue;
    }

    async handle(data) {
      if (this.state === "closed" || !data || typeof data !== "object") return;
      const pc = this.pc;
      if (data.description) {
        const description = data.description;
        const offerCollision = description.type === "offer" &&
          (this.makingOffer || pc.signalingState !== "stable");
        this.ignoreOffer = !this.polite && offerCollision;
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription(description); // rolls our offer back if polite
        if (description.type === "offer") {
          this.answerWithTrack();
          await pc.setLocalDescription();
          this.send({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
        }
      } else if ("candidate" in data) {
        try {
          await pc.addIceCandidate(data.candidate || undefined);
        } catch (err) {
          if (!this.ignoreOffer) this.note("candidate refused", err);
        }
      }
    }

    /** Put our microphone on the transceiver their offer created (no second negotiation). */
    answerWithTrack() {
      if (this.sender || !this.track) return;
      const transceiver = this.pc.getTransceivers().find(
        (t) => t.receiver.track && t.receiver.track.kind === "audio" && !t.sender.track);
      if (!transceiver) return;
      clearTimeout(this.selfOfferTimer);
      transceiver.direction = "sendrecv";
      transceiver.sender.replaceTrack(this.track);
      this.sender = transceiver.sender;
    }

    /** Received level and connection facts, from getStats(). */
    async poll() {
      if (this.state === "closed") return;
      let stats;
      try {
        stats = await this.pc.getStats();
      } catch (e) {
        return;
      }
      let inbound = null;
      let pairId = null;
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") inbound = s;
        if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      if (inbound) {
        this.level = typeof inbound.audioLevel === "number" ? inbound.audioLevel : 0;
        this.levels.push([Date.now(), this.level, inbound.totalAudioEnergy || 0,
          inbound.totalSamplesDuration || 0]);
        if (this.levels.length > LEVEL_HISTORY) this.levels.splice(0, this.levels.length - LEVEL_HISTORY);
        this.facts.packetsReceived = inbound.packetsReceived;
        this.facts.packetsLost = inbound.packetsLost;
        if (inbound.jitterBufferEmittedCount) {
          this.facts.jitterBufferMs = Math.round(
            1000 * inbound.jitterBufferDelay / inbound.jitterBufferEmittedCount);
        }
      }
      const pair = pairId ? stats.get(pairId) : null;
      if (pair) {
        const local = stats.get(pair.localCandidateId);
        const remote = stats.get(pair.remoteCandidateId);
        this.facts.local = local ? local.candidateType : null;
        this.facts.remote = remote ? remote.candidateType : null;
        if (typeof pair.currentRoundTripTime === "number") {
          this.facts.rttMs = Math.round(pair.currentRoundTripTime * 1000);
        }
      }
    }

    close() {
      if (this.state === "closed") return;
      this.state = "closed";
      clearTimeout(this.selfOfferTimer);
      try { this.pc.close(); } catch (e) { /* already closed */ }
      this.audio.srcObject = null;
      this.audio.remove();
    }
  }

  window.CallPeers = { PeerLink };
})();
