/* The microphone of the call page: opening it, naming its failures, listing devices, and
 * metering how loud the user is speaking.
 *
 * Failures get one code each, so the page can say in plain words what happened and what
 * to do: denied (NotAllowedError), taken by another app (NotReadableError), none found,
 * unplugged during the call (the track's "ended" event, handled by the page).
 */
"use strict";

(function () {
  // getUserMedia's DOMException names -> the page's codes.
  function errorCode(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return "mic_denied";
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError") return "no_mic";
    if (name === "OverconstrainedError") return "mic_gone";
    // NotReadableError (Chrome: "Could not start audio source"), AbortError, TrackStartError:
    // the device exists but the system would not give it to us, usually another app holds it.
    return "mic_busy";
  }

  /* Echo cancellation is on unless the user wears headphones: in a call the other person's
   * voice comes out of the speakers, and without it they hear themselves and the gateway
   * transcribes their words as ours. Noise suppression and automatic gain are off by
   * default: they change the voice more, and the recogniser does better without them. */
  function constraints(deviceId, { echo, processing }) {
    const audio = {
      echoCancellation: echo, noiseSuppression: processing, autoGainControl: processing,
    };
    if (deviceId) audio.deviceId = { exact: deviceId };
    return { audio, video: false };
  }

  /** Open the microphone; resolves to a MediaStream or rejects with {code, message}.
   * ``options``: {echo: echo cancellation, processing: noise suppression and gain}. */
  async function open(deviceId, options) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw { code: "mic_unsupported", message: "navigator.mediaDevices is not available" };
    }
    try {
      return await navigator.mediaDevices.getUserMedia(constraints(deviceId, options));
    } catch (err) {
      throw { code: errorCode(err), message: `${(err && err.name) || "Error"}: ${(err && err.message) || ""}` };
    }
  }

  /** Audio inputs as [{deviceId, label}]; labels are empty until the user allowed the mic. */
  async function listInputs() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return [];
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      let n = 0;
      return devices.filter((d) => d.kind === "audioinput").map((d) => {
        n += 1;
        return { deviceId: d.deviceId, label: d.label || `Microphone ${n}` };
      });
    } catch (e) {
      return [];
    }
  }

  /** Fill a <select> with the inputs, keeping ``selected`` chosen when it is still there. */
  function fillSelect(select, inputs, selected) {
    const keep = selected || select.value;
    select.replaceChildren();
    if (!inputs.length) {
      select.append(new Option("Default microphone", ""));
      return;
    }
    for (const input of inputs) {
      if (input.deviceId === "default" || input.deviceId === "communications") continue;
      select.append(new Option(input.label, input.deviceId));
    }
    const ids = Array.from(select.options, (o) => o.value);
    if (ids.includes(keep)) select.value = keep;
  }

  /** RMS level (0..1) of a track, from an AnalyserNode on a clone of it: a clone keeps
   * sounding while the call's track is disabled, so a muted speaker can be told they are
   * talking into a muted microphone. */
  class LevelMeter {
    constructor(audioContext, track) {
      this.context = audioContext;
      this.track = track.clone();
      this.source = audioContext.createMediaStreamSource(new MediaStream([this.track]));
      this.analyser = audioContext.createAnalyser();
      this.analyser.fftSize = 1024;
      this.buffer = new Float32Array(this.analyser.fftSize);
      this.source.connect(this.analyser);
    }

    level() {
      this.analyser.getFloatTimeDomainData(this.buffer);
      let sum = 0;
      for (let i = 0; i < this.buffer.length; i += 1) sum += this.buffer[i] * this.buffer[i];
      return Math.sqrt(sum / this.buffer.length);
    }

    stop() {
      try { this.source.disconnect(); } catch (e) { /* already disconnected */ }
      this.track.stop();
    }
  }

  window.CallMic = { open, listInputs, fillSelect, errorCode, LevelMeter };
})();
