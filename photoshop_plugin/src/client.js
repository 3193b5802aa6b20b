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
 * @typedef {{box: number[], foreground: Uint8Array, background: Uint8Array, visibility: Uint8Array, metadata: object}} JobResult
 *   `box` [x, y, w, h] inside the crop; foreground/background RGBA8 and visibility A8 over it
 * @typedef {(kind: "status" | "progress", payload: any) => void} Report
 * @typedef {{url: string, token: string, backend?: string | null, options?: Record<string, any>}} ServerSettings
 */

/**
 * Decompose `request` on the server. Resolves with the result; rejects with a UserError on any failure,
 * with `cancelled` as soon as `cancel` is set (the server is told, and given a moment to stop).
 *
 * The conversation is protocol.js's: the mutual handshake (ClientHandshake: nothing that depends on the
 * token is sent before the server proved it knows it), then one ClientJob fed every message and frame.
 * @param {ServerSettings} settings @param {JobRequest} request @param {CancelToken} cancel @param {Report} report
 * @param {any} WebSocketClass the WebSocket constructor
 * @returns {Promise<JobResult>}
 */
async function runJob(settings, request, cancel, report, WebSocketClass) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runJobOnce(settings, request, cancel, report, WebSocketClass);
    } catch (err) {
      if (!(/** @type {any} */ (err)).duringHandshake || attempt >= HANDSHAKE_TRIES || cancel.cancelled) throw err;
      await new Promise((resume) => setTimeout(resume, HANDSHAKE_RETRY_MS * 2 ** (attempt - 1)));
    }
  }
}

/**
 * One try of `runJob`. A busy server or a dropped socket during the handshake rejects with an error
 * marked `duringHandshake` (worth another try).
 * @param {ServerSettings} settings @param {JobRequest} request @param {CancelToken} cancel @param {Report} report
 * @param {any} WebSocketClass
 * @returns {Promise<JobResult>}
 */
function runJobOnce(settings, request, cancel, report, WebSocketClass) {
  return new Promise((resolve, reject) => {
    // Connect to the literal address the server listens on: `localhost` may reach another program on ::1.
    const url = settings.url.trim().replace(/^(wss?:\/\/)localhost(?=[:/]|$)/i, "$1127.0.0.1");
    let state = "connecting"; // connecting, challenge, welcome, working, done
    /** @type {P.ClientHandshake | null} */
    let handshake = null;
    /** @type {P.ClientJob | null} */
    let job = null;
    /** @type {any} */
    let ws;
    let welcomeTimer = /** @type {any} */ (null);

    /** @type {P.Channel | null} the session's tags, from the welcome on */
    let channel = null;
    /** @param {string} text */
    const sendText = (text) => ws.send(channel ? channel.sealText(text) : text);

    /** @param {Error | null} error @param {JobResult} [value] */
    const finish = (error, value) => {
      if (state === "done") return;
      if (error && (state === "challenge" || state === "welcome")) {
        const code = /** @type {any} */ (error).code;
        if (code === "busy" || code === "server_lost") /** @type {any} */ (error).duringHandshake = true;
      }
      state = "done";
      clearTimeout(welcomeTimer);
      if (error) reject(error);
      else resolve(/** @type {JobResult} */ (value));
      const stop = job && !job.done ? job.cancel() : null;
      if (!stop) {
        close();
        return;
      }
      // Tell the server, then hang up once the job is over for it too (or after a grace period), so the
      // next job finds it idle.
      try { sendText(P.encode(stop)); } catch (_) { close(); return; }
      const timer = setTimeout(close, CANCEL_GRACE_MS);
      const ending = /** @type {P.ClientJob} */ (job);
      ws.onmessage = (/** @type {any} */ event) => {
        try {
          ending.receive(typeof event.data === "string" ? P.decode(openText(event.data))
            : P.unpackFrame(openBinary(event.data)));
        } catch (_) {
          ending.outcome = "error";
        }
        if (ending.done) { clearTimeout(timer); close(); }
      };
    };
    const close = () => {
      try { ws.close(); } catch (_) { /* already closed */ }
    };
    // After the handshake nothing is read, a result frame least of all, unless its tag checks out.
    /** @param {string} data */
    const openText = (data) => (channel ? channel.openText(data) : data);
    /** @param {ArrayBuffer} data */
    const openBinary = (data) => (channel ? channel.openBinary(data) : new Uint8Array(data));

    if (cancel.cancelled) { reject(M.cancelled()); return; }
    report("status", "Connecting to the server…");
    try {
      ws = new WebSocketClass(url);
    } catch (err) {
      reject(M.unreachable(url));
      return;
    }
    ws.binaryType = "arraybuffer";
    cancel.onCancel(() => finish(M.cancelled()));

    ws.onopen = () => {
      if (state !== "connecting") return;
      try {
        handshake = new P.ClientHandshake(settings.token, CLIENT_NAME, undefined, P.endpointOf(url));
      } catch (err) {
        finish(M.serverConfused(String(/** @type {Error} */ (err).message)));
        return;
      }
      state = "challenge";
      ws.send(P.encode(handshake.hello));
      welcomeTimer = setTimeout(() => finish(M.serverConfused("no answer to hello")), WELCOME_TIMEOUT_MS);
    };
    ws.onerror = () => { /* onclose follows and says what happened */ };
    ws.onclose = () => {
      if (state === "connecting") finish(M.unreachable(url));
      else finish(M.serverLost());
    };
    ws.onmessage = (/** @type {any} */ event) => {
      if (state === "done") return;
      const data = event.data;
      const size = typeof data === "string" ? data.length : data.byteLength;
      // Read no more than the protocol allows: little before the server proved itself, then a text
      // message or one result frame.
      const limit = state !== "working" ? P.CLIENT_PRE_AUTH_MAX_BYTES
        : typeof data === "string" ? P.MAX_TEXT_BYTES : /** @type {P.ClientJob} */ (job).resultMaxBytes;
      try {
        if (size > limit) throw new P.ProtocolError(P.ErrorCode.BAD_MESSAGE, `a ${size}-byte message, over the ${limit} bytes allowed here`);
        if (typeof data === "string") onText(P.decode(openText(data)));
        else onFrame(P.unpackFrame(openBinary(data)));
      } catch (err) {
        finish(asUserError(err));
      }
    };

    /** @param {Record<string, any>} m */
    const onText = (m) => {
      const shake = /** @type {P.ClientHandshake} */ (handshake);
      if (state === "challenge") {
        ws.send(P.encode(shake.answer(m)));
        channel = shake.channel;
        state = "welcome";
      } else if (state === "welcome") {
        const welcome = shake.welcome(m);
        clearTimeout(welcomeTimer);
        P.checkSize(welcome.limits, request.width, request.height);
        start(welcome);
      } else {
        feed(m);
      }
    };

    /** @param {{header: P.FrameHeader, pixels: Uint8Array}} frame */
    const onFrame = (frame) => {
      if (state !== "working") throw new P.ProtocolError(P.ErrorCode.BAD_FRAME, "pixels before the welcome");
      feed(frame);
    };

    /** @param {any} item */
    const feed = (item) => {
      const current = /** @type {P.ClientJob} */ (job);
      const progress = current.receive(item);
      if (progress) report("progress", { stage: progress.stage, fraction: progress.fraction });
      if (current.outcome === "result") {
        const result = /** @type {Record<string, any>} */ (current.result);
        const wanted = { foreground: "RGBA8", background: "RGBA8", visibility: "A8" };
        if (JSON.stringify(result.formats) !== JSON.stringify(wanted)) {
          throw new P.ProtocolError(P.ErrorCode.BAD_MESSAGE, `result formats ${JSON.stringify(result.formats)}`);
        }
        const got = current.frames;
        finish(null, { box: result.box, foreground: got.foreground, background: got.background,
          visibility: got.visibility, metadata: result.metadata });
      } else if (current.outcome === "error") {
        const error = /** @type {Record<string, any>} */ (current.error);
        finish(M.forServerError(error.code, error.message));
      } else if (current.outcome === "cancelled") {
        finish(M.cancelled());
      }
    };

    /** @param {Record<string, any>} welcome */
    const start = (welcome) => {
      /** @type {Record<string, any>} */
      const options = {};
      for (const [key, value] of Object.entries(settings.options || {})) {
        if (welcome.options.includes(key)) options[key] = value;
      }
      job = new P.ClientJob({
        type: "decompose", job: nextJobId++, width: request.width, height: request.height, format: "RGBA8",
        backend: (settings.backend || "").trim() || null, margin: request.margin, grow: request.grow, options,
      });
      report("status", "Sending the picture…");
      const sealed = /** @type {P.Channel} */ (channel);
      sendText(P.encode(job.request));
      const [imageHeader, maskHeader] = job.uploadHeaders;
      ws.send(sealed.sealBinary(P.packFrame(imageHeader, request.image)).buffer);
      ws.send(sealed.sealBinary(P.packFrame(maskHeader, request.mask)).buffer);
      state = "working";
      report("status", "Working…");
    };
  });
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

module.exports = { CLIENT_NAME, CancelToken, runJob };
