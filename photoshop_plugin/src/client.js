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
 * @param {ServerSettings} settings @param {JobRequest} request @param {CancelToken} cancel @param {Report} report
 * @param {any} WebSocketClass the WebSocket constructor
 * @returns {Promise<JobResult>}
 */
function runJob(settings, request, cancel, report, WebSocketClass) {
  return new Promise((resolve, reject) => {
    const url = settings.url.trim();
    const job = nextJobId++;
    let state = "connecting"; // connecting, hello, working, receiving, done
    /** @type {Record<string, any> | null} */
    let result = null;
    /** @type {P.FrameCollector | null} */
    let frames = null;
    /** @type {any} */
    let ws;
    let welcomeTimer = /** @type {any} */ (null);

    /** @param {Error | null} error @param {JobResult} [value] */
    const finish = (error, value) => {
      if (state === "done") return;
      const wasWorking = state === "working" || state === "receiving";
      state = "done";
      clearTimeout(welcomeTimer);
      if (error) reject(error);
      else resolve(/** @type {JobResult} */ (value));
      if (error && error instanceof M.UserError && error.code === "cancelled" && wasWorking) {
        // Tell the server, then hang up once it says so (or after a grace period).
        try { ws.send(P.encode({ type: "cancel", job })); } catch (_) { /* the connection is gone anyway */ }
        const timer = setTimeout(() => close(), CANCEL_GRACE_MS);
        ws.onmessage = (/** @type {any} */ event) => {
          if (typeof event.data === "string") { clearTimeout(timer); close(); }
        };
      } else {
        close();
      }
    };
    const close = () => {
      try { ws.close(); } catch (_) { /* already closed */ }
    };

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
      state = "hello";
      ws.send(P.encode({ type: "hello", token: settings.token, client: CLIENT_NAME }));
      welcomeTimer = setTimeout(() => finish(M.serverConfused("no welcome after hello")), WELCOME_TIMEOUT_MS);
    };
    ws.onerror = () => { /* onclose follows and says what happened */ };
    ws.onclose = () => {
      if (state === "connecting") finish(M.unreachable(url));
      else finish(M.serverLost());
    };
    ws.onmessage = (/** @type {any} */ event) => {
      if (state === "done") return;
      try {
        if (typeof event.data === "string") onText(P.decode(event.data));
        else onFrame(P.unpackFrame(event.data));
      } catch (err) {
        if (err instanceof P.ProtocolError) finish(M.serverConfused(err.message));
        else finish(/** @type {Error} */ (err));
      }
    };

    /** @param {Record<string, any>} m */
    const onText = (m) => {
      if (m.type === "error" && (m.job === null || m.job === job)) {
        finish(M.forServerError(m.code, m.message));
      } else if (state === "hello") {
        if (m.type !== "welcome") throw new P.ProtocolError(P.ErrorCode.BAD_MESSAGE, `${m.type} before welcome`);
        clearTimeout(welcomeTimer);
        try {
          P.checkSize(m.limits, request.width, request.height);
        } catch (err) {
          const e = /** @type {P.ProtocolError} */ (err);
          finish(M.forServerError(e.code, e.message));
          return;
        }
        send(m);
      } else if (m.type === "progress" && m.job === job) {
        report("progress", { stage: m.stage, fraction: m.fraction });
      } else if (m.type === "cancelled" && m.job === job) {
        finish(M.cancelled());
      } else if (m.type === "result" && m.job === job) {
        const wanted = { foreground: "RGBA8", background: "RGBA8", visibility: "A8" };
        if (JSON.stringify(m.formats) !== JSON.stringify(wanted)) {
          throw new P.ProtocolError(P.ErrorCode.BAD_MESSAGE, `result formats ${JSON.stringify(m.formats)}`);
        }
        result = m;
        frames = new P.FrameCollector(P.resultFrames(m));
        state = "receiving";
      }
    };

    /** @param {{header: P.FrameHeader, pixels: Uint8Array}} frame */
    const onFrame = ({ header, pixels }) => {
      if (!frames || !result) throw new P.ProtocolError(P.ErrorCode.BAD_FRAME, "pixels arrived before the result message");
      if (frames.add(header, pixels)) {
        const got = frames.frames;
        finish(null, {
          box: result.box, foreground: got.foreground, background: got.background, visibility: got.visibility,
          metadata: result.metadata,
        });
      }
    };

    /** @param {Record<string, any>} welcome */
    const send = (welcome) => {
      const options = {};
      for (const [key, value] of Object.entries(settings.options || {})) {
        if (welcome.options.includes(key)) /** @type {any} */ (options)[key] = value;
      }
      const start = P.message({
        type: "decompose", job, width: request.width, height: request.height, format: "RGBA8",
        backend: (settings.backend || "").trim() || null, margin: request.margin, grow: request.grow, options,
      });
      report("status", "Sending the picture…");
      ws.send(P.encode(start));
      const [imageHeader, maskHeader] = P.uploadFrames(start);
      ws.send(P.packFrame(imageHeader, request.image).buffer);
      ws.send(P.packFrame(maskHeader, request.mask).buffer);
      state = "working";
      report("status", "Working…");
    };
  });
}

module.exports = { CLIENT_NAME, CancelToken, runJob };
