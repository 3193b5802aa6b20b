/**
 * One decomposition job over a websocket: hello, the crop up, progress, the result down.
 *
 * Works with any WebSocket of the standard shape (UXP's global `WebSocket` in Photoshop, the `ws`
 * package in the Node tests): event handlers only, so Photoshop's UI never waits on the network.
 * Every failure rejects with a messages.UserError; nothing here touches the document.
 */
"use strict";

const P = require("./protocol.js");
const M = require("./messages.js");

const CLIENT_NAME = "layerdecomp-photoshop/0.1";
// How long to wait for the server's "cancelled" before hanging up anyway (so the next job finds it idle).
const CANCEL_GRACE_MS = 2000;
const WELCOME_TIMEOUT_MS = 30000;
// A server flooded by sockets that never authenticate may evict a handshake under way (busy, or the
// socket dropped): try again this many times in all, waiting a little longer each time.
const HANDSHAKE_TRIES = 4;
const HANDSHAKE_RETRY_MS = 50;

/** A flag the panel's Cancel sets; jobs listen for it. */
class CancelToken {
  constructor() {
    this.cancelled = false;
    /** @type {Array<() => void>} */
    this.listeners = [];
  }

  cancel() {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const listener of this.listeners.splice(0)) listener();
  }

  /** @param {() => void} listener */
  onCancel(listener) {
    if (this.cancelled) listener();
    else this.listeners.push(listener);
  }
}

let nextJobId = 1;

/**
 * @typedef {{width: number, height: number, image: Uint8Array, mask: Uint8Array, margin: number, grow: number}} JobRequest
 *   the crop: `image` RGBA8 and `mask` A8, rows top to bottom
 * @typedef {{box: number[], foreground: Uint8Array, visibility: Uint8Array}} ObjectPart
 *   one object of a split selection: `box` [x, y, w, h] inside the crop; its RGBA8 pixels and A8 visibility over it
 * @typedef {{box: number[], foreground?: Uint8Array, background: Uint8Array, visibility?: Uint8Array, objects: ObjectPart[],
 *   metadata: object}} JobResult
 *   `box` [x, y, w, h] inside the crop; background RGBA8 over it. One object: `objects` is empty and
 *   foreground (RGBA8) and visibility (A8) cover `box`. Several (a selection of separate parts, split):
 *   `objects`, bottom to top, each over its own box, and no whole-result foreground or visibility.
 * @typedef {(kind: "status" | "progress", payload: any) => void} Report
 * @typedef {{url: string, token: string, backend?: string | null, options?: Record<string, any>, parts?: boolean}} ServerSettings
 *   `parts`: one object layer per separate part of the selection, when the server can (default true)
 */

/**
 * What one connection saw, for the panel's Diagnostics: where it went, how far the handshake got, how
 * the connection ended, and what the server said about itself.
 * @typedef {{url: string, stage: string, opened: boolean, closeCode: number | null, closeReason: string,
 *   server: string | null, backend: string | null, device: string | null, protocol: number | null,
 *   tries: number, welcome?: Record<string, any>}} Trace  `welcome`: the server's whole welcome (its methods and
 *   option schema); `url`: the address dialled (`localhost` as 127.0.0.1); `tries`: handshakes tried (busy, dropped)
 */

/** A fresh trace for `url`. @param {string} url @returns {Trace} */
function newTrace(url) {
  return { url, stage: "connecting", opened: false, closeCode: null, closeReason: "", server: null, backend: null,
    device: null, protocol: null, tries: 1 };
}

/**
 * The address to dial: the settings' URL with `localhost` turned into 127.0.0.1. The panel connects to
 * the literal address the server listens on (`localhost` may reach another program on ::1), and both
 * proofs cover that address (protocol.endpointOf).
 * @param {string} url
 */
function literalUrl(url) {
  return url.trim().replace(/^(wss?:\/\/)localhost(?=[:/]|$)/i, "$1127.0.0.1");
}

/**
 * One conversation with the server, as named steps: connect, say hello, answer the challenge, accept
 * the welcome, then either upload a job and follow it to its end, or (a probe) stop at the welcome.
 * The wire format is protocol.js's alone (ClientHandshake, Channel, ClientJob); this class only sequences
 * it. Protocol 3: once the server proved itself, every message either way carries the session's tag
 * (the channel seals what goes out, and nothing that comes in is read before the channel opened it).
 * A busy server or a dropped socket during the handshake rejects with an error marked
 * `duringHandshake` (converse() tries again).
 */
class Conversation {
  /**
   * @param {ServerSettings} settings @param {JobRequest | null} request null: a probe that ends at the welcome
   * @param {CancelToken} cancel @param {Report} report @param {any} WebSocketClass @param {Trace} trace
   * @param {(error: Error | null, value?: any) => void} settle called once
   */
  constructor(settings, request, cancel, report, WebSocketClass, trace, settle) {
    this.settings = settings;
    this.url = literalUrl(settings.url);
    this.request = request;
    this.cancel = cancel;
    this.report = report;
    this.WebSocketClass = WebSocketClass;
    this.trace = trace;
    this.settle = settle;
    this.state = "connecting"; // connecting, challenge, welcome, working, done
    /** @type {P.ClientHandshake | null} */
    this.handshake = null;
    /** @type {P.ClientJob | null} */
    this.job = null;
    /** the server's address as both proofs name it (protocol.endpointOf), once connect() read it */
    this.endpoint = "";
    /** @type {P.Channel | null} the session's tags, from the challenge's answer on */
    this.channel = null;
    /** @type {any} */
    this.ws = null;
    /** @type {any} */
    this.welcomeTimer = null;
  }

  /** Step 1: open the socket; every later step is driven by its events. */
  connect() {
    if (this.cancel.cancelled) { this.settle(M.cancelled()); return; }
    this.trace.url = this.url;
    this.report("status", "Connecting to the server…");
    try {
      // Both proofs and the session key cover the server's address: an IP literal (throws for a name).
      this.endpoint = P.endpointOf(this.url);
      this.ws = new this.WebSocketClass(this.url);
    } catch (err) {
      this.settle(M.badAddress(this.url, String(/** @type {Error} */ (err).message || err)));
      return;
    }
    this.ws.binaryType = "arraybuffer";
    this.cancel.onCancel(() => this.finish(M.cancelled()));
    this.ws.onopen = () => this.sayHello();
    this.ws.onerror = () => { /* onclose follows and says what happened */ };
    this.ws.onclose = (/** @type {any} */ event) => this.closed(event || {});
    this.ws.onmessage = (/** @type {any} */ event) => this.receive(event.data);
  }

  /** Step 2: the socket is open; the hello (nothing in it depends on the token). */
  sayHello() {
    if (this.state !== "connecting") return;
    this.trace.opened = true;
    try {
      this.handshake = new P.ClientHandshake(this.settings.token, CLIENT_NAME, undefined, this.endpoint);
    } catch (err) {
      this.finish(M.serverConfused(String(/** @type {Error} */ (err).message)));
      return;
    }
    this.enter("challenge");
    this.ws.send(P.encode(this.handshake.hello));
    this.welcomeTimer = setTimeout(() => this.finish(M.serverConfused("no answer to hello")), WELCOME_TIMEOUT_MS);
  }

  /** Any message or frame: size-checked, decoded, handed to the step the conversation is at. @param {any} data */
  receive(data) {
    if (this.state === "done") return;
    const size = typeof data === "string" ? data.length : data.byteLength;
    // Read no more than the protocol allows: little before the server proved itself, then a text
    // message or one result frame.
    const limit = this.state !== "working" ? P.CLIENT_PRE_AUTH_MAX_BYTES
      : typeof data === "string" ? P.MAX_TEXT_BYTES : /** @type {P.ClientJob} */ (this.job).resultMaxBytes;
    try {
      if (size > limit) throw new P.ProtocolError(P.ErrorCode.BAD_MESSAGE, `a ${size}-byte message, over the ${limit} bytes allowed here`);
      if (typeof data !== "string") {
        if (this.state !== "working") throw new P.ProtocolError(P.ErrorCode.BAD_FRAME, "pixels before the welcome");
        this.follow(P.unpackFrame(this.openBinary(data)));
      } else if (this.state === "challenge") {
        this.answerChallenge(P.decode(data));
      } else if (this.state === "welcome") {
        this.acceptWelcome(P.decode(this.openText(data)));
      } else {
        this.follow(P.decode(this.openText(data)));
      }
    } catch (err) {
      this.finish(asUserError(err));
    }
  }

  /**
   * Step 3: the server proved it knows the token (or the handshake throws); our proof goes back, the
   * last message without a tag: from here on the session's channel seals and opens every one.
   * @param {Record<string, any>} m
   */
  answerChallenge(m) {
    const shake = /** @type {P.ClientHandshake} */ (this.handshake);
    const answer = shake.answer(m);
    this.trace.protocol = typeof m.protocol === "number" ? m.protocol : null;
    this.ws.send(P.encode(answer));
    this.channel = shake.channel;
    this.enter("welcome");
  }

  /** Step 4: the welcome; a probe ends here, a job checks its size against the limits and uploads. @param {Record<string, any>} m */
  acceptWelcome(m) {
    const welcome = /** @type {P.ClientHandshake} */ (this.handshake).welcome(m);
    clearTimeout(this.welcomeTimer);
    Object.assign(this.trace, { server: welcome.server, backend: welcome.backend, device: welcome.device,
      protocol: welcome.protocol, welcome });
    if (!this.request) {
      this.finish(null, welcome);
      return;
    }
    P.checkSize(welcome.limits, this.request.width, this.request.height);
    this.upload(welcome);
  }

  /** Step 5: the job's request and its two frames (the crop and the selection). @param {Record<string, any>} welcome */
  upload(welcome) {
    const request = /** @type {JobRequest} */ (this.request);
    /** @type {Record<string, any>} */
    const options = {};
    for (const [key, value] of Object.entries(this.settings.options || {})) {
      if (welcome.options.includes(key)) options[key] = value;
    }
    // Only a server that announces "parts" is asked for them: an older one refuses the field.
    const parts = this.settings.parts !== false && (welcome.features || []).includes("parts");
    const job = new P.ClientJob({
      type: "decompose", job: nextJobId++, width: request.width, height: request.height, format: "RGBA8",
      backend: (this.settings.backend || "").trim() || null, margin: request.margin, grow: request.grow, options, parts,
    });
    this.job = job;
    this.report("status", "Sending the picture…");
    this.sendText(P.encode(job.request));
    const [imageHeader, maskHeader] = job.uploadHeaders;
    const channel = /** @type {P.Channel} */ (this.channel);
    this.ws.send(channel.sealBinary(P.packFrame(imageHeader, request.image)).buffer);
    this.ws.send(channel.sealBinary(P.packFrame(maskHeader, request.mask)).buffer);
    this.enter("working");
    this.report("status", "Working…");
  }

  /** Step 6: progress, then the result, an error or the cancel's answer. @param {any} item a message or a frame */
  follow(item) {
    const job = /** @type {P.ClientJob} */ (this.job);
    const progress = job.receive(item);
    if (progress) this.report("progress", { stage: progress.stage, fraction: progress.fraction });
    if (job.outcome === "result") {
      const result = /** @type {Record<string, any>} */ (job.result);
      const wanted = { foreground: "RGBA8", background: "RGBA8", visibility: "A8" };
      if (JSON.stringify(result.formats) !== JSON.stringify(wanted)) {
        throw new P.ProtocolError(P.ErrorCode.BAD_MESSAGE, `result formats ${JSON.stringify(result.formats)}`);
      }
      this.finish(null, jobResult(result, job.received));
    } else if (job.outcome === "error") {
      const error = /** @type {Record<string, any>} */ (job.error);
      this.finish(M.forServerError(error.code, error.message));
    } else if (job.outcome === "cancelled") {
      this.finish(M.cancelled());
    }
  }

  /**
   * The socket closed. Before it opened: nothing listens there. Open, but closed before the server
   * proved itself, with a reason: the server refused this client (its Origin, say) and says why.
   * Later: the server went away mid-conversation.
   * @param {{code?: number, reason?: string}} event
   */
  closed(event) {
    if (this.state === "done") return; // our own hang-up
    this.trace.closeCode = typeof event.code === "number" ? event.code : null;
    this.trace.closeReason = event.reason ? String(event.reason) : "";
    if (this.state === "connecting") this.finish(M.unreachable(this.url));
    else if (this.state === "challenge" && this.trace.closeReason) this.finish(M.refused(this.url, this.trace.closeReason));
    else this.finish(M.serverLost());
  }

  /** A text message out: sealed once the session has its channel. @param {string} text */
  sendText(text) {
    this.ws.send(this.channel ? this.channel.sealText(text) : text);
  }

  /** A text message in, its tag checked and taken off (after the handshake nothing is read unless it checks out). @param {string} data */
  openText(data) {
    return this.channel ? this.channel.openText(data) : data;
  }

  /** A frame in, its tag checked and taken off. @param {ArrayBuffer} data */
  openBinary(data) {
    return this.channel ? this.channel.openBinary(data) : new Uint8Array(data);
  }

  /** @param {string} state */
  enter(state) {
    this.state = state;
    this.trace.stage = state;
  }

  /**
   * The end, once: settle, then hang up — after telling the server to stop a job it still runs, and
   * giving it a moment to say so, so the next job finds it idle.
   * @param {Error | null} error @param {any} [value]
   */
  finish(error, value) {
    if (this.state === "done") return;
    if (error && (this.state === "challenge" || this.state === "welcome")) {
      // Refused as busy, or dropped, before the welcome: worth another try (a flood may have evicted us).
      const code = /** @type {any} */ (error).code;
      if (code === "busy" || code === "server_lost") /** @type {any} */ (error).duringHandshake = true;
    }
    this.state = "done";
    clearTimeout(this.welcomeTimer);
    this.settle(error, value);
    const stop = this.job && !this.job.done ? this.job.cancel() : null;
    if (!stop) {
      this.hangUp();
      return;
    }
    try { this.sendText(P.encode(stop)); } catch (_) { this.hangUp(); return; }
    const timer = setTimeout(() => this.hangUp(), CANCEL_GRACE_MS);
    const ending = /** @type {P.ClientJob} */ (this.job);
    this.ws.onmessage = (/** @type {any} */ event) => {
      try {
        ending.receive(typeof event.data === "string" ? P.decode(this.openText(event.data))
          : P.unpackFrame(this.openBinary(event.data)));
      } catch (_) {
        ending.outcome = "error";
      }
      if (ending.done) { clearTimeout(timer); this.hangUp(); }
    };
  }

  hangUp() {
    try { this.ws.close(); } catch (_) { /* already closed */ }
  }
}

/**
 * One conversation to its end, tried again (up to HANDSHAKE_TRIES in all, waiting longer each time)
 * while the server refuses the handshake as busy or drops it. `trace` says what the last try saw.
 * @param {ServerSettings} settings @param {JobRequest | null} request @param {CancelToken} cancel
 * @param {Report} report @param {any} WebSocketClass @param {Trace} trace
 * @returns {Promise<any>}
 */
async function converse(settings, request, cancel, report, WebSocketClass, trace) {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) Object.assign(trace, newTrace(trace.url), { tries: attempt });
    try {
      return await new Promise((resolve, reject) => {
        new Conversation(settings, request, cancel, report, WebSocketClass, trace,
          (error, value) => (error ? reject(error) : resolve(value))).connect();
      });
    } catch (err) {
      if (!(/** @type {any} */ (err)).duringHandshake || attempt >= HANDSHAKE_TRIES || cancel.cancelled) throw err;
      await new Promise((resume) => setTimeout(resume, HANDSHAKE_RETRY_MS * 2 ** (attempt - 1)));
    }
  }
}

/**
 * Decompose `request` on the server. Resolves with the result; rejects with a UserError on any failure,
 * with `cancelled` as soon as `cancel` is set (the server is told, and given a moment to stop).
 * @param {ServerSettings} settings @param {JobRequest} request @param {CancelToken} cancel @param {Report} report
 * @param {any} WebSocketClass the WebSocket constructor @param {Trace} [trace] filled in as the conversation goes
 * @returns {Promise<JobResult>}
 */
function runJob(settings, request, cancel, report, WebSocketClass, trace = newTrace(settings.url)) {
  return converse(settings, request, cancel, report, WebSocketClass, trace);
}

/**
 * Connect and authenticate, then hang up: the panel's Diagnostics. Resolves with the welcome (opened
 * with the session's tag, as a job's); rejects with the UserError a job would have met.
 * @param {ServerSettings} settings @param {any} WebSocketClass @param {Trace} [trace]
 * @returns {Promise<Record<string, any>>}
 */
function probe(settings, WebSocketClass, trace = newTrace(settings.url)) {
  return converse(settings, null, new CancelToken(), () => {}, WebSocketClass, trace);
}

/**
 * A complete result as the host writes it, from the result message and its frames in arrival order
 * (protocol.resultFrames: the collector has checked each header, so the order is known).
 * @param {Record<string, any>} result @param {Array<[any, Uint8Array]>} frames @returns {JobResult}
 */
function jobResult(result, frames) {
  const pixels = frames.map(([, data]) => data);
  if (!result.objects.length) {
    const [foreground, background, visibility] = pixels;
    return { box: result.box, foreground, background, visibility, objects: [], metadata: result.metadata };
  }
  const objects = result.objects.map((/** @type {any} */ o, /** @type {number} */ i) =>
    ({ box: o.box, foreground: pixels[2 * i], visibility: pixels[2 * i + 1] }));
  return { box: result.box, background: pixels[pixels.length - 1], objects, metadata: result.metadata };
}

/** Any failure while talking as a UserError an artist can act on. @param {any} err */
function asUserError(err) {
  if (err instanceof M.UserError) return err;
  if (err instanceof P.Refused) return M.forServerError(err.code, err.message);
  if (err instanceof P.ProtocolError) {
    if (err.code === P.ErrorCode.SERVER_UNVERIFIED) return M.serverUnverified();
    if (err.code === P.ErrorCode.UNSUPPORTED_VERSION || err.code === P.ErrorCode.TOO_LARGE ||
        err.code === P.ErrorCode.UNAUTHENTIC) {
      return M.forServerError(err.code, err.message);
    }
    return M.serverConfused(err.message);
  }
  return M.serverConfused(String(err && err.message ? err.message : err));
}

module.exports = { CLIENT_NAME, HANDSHAKE_TRIES, CancelToken, runJob, probe, newTrace, literalUrl, jobResult };
