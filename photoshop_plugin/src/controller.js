/**
 * One "Decompose Selection" from trigger to result: read, send, follow, write.
 *
 * Host-free: Photoshop comes in through `host` (document.js over the `photoshop` module), the panel
 * through `ui`, the network through `runJob` (client.js) and a WebSocket class, so the whole flow runs
 * in Node against a fake `photoshop` module and the real server. Photoshop is only held modal for the
 * short read and the one write; while the server works the panel stays responsive, and Cancel ends
 * the job for the artist at once (whatever the server still sends is dropped). The document is only
 * touched once a complete result is in hand.
 */
"use strict";

const M = require("./messages.js");
/** @typedef {InstanceType<typeof M.UserError>} UserError */
const { CancelToken, runJob, probe, newTrace } = require("./client.js");
const { diagnosticsReport } = require("./diagnostics.js");

/** @type {Record<string, string>} */
const STAGES = {
  region: "Preparing…",
  load: "Loading the model…",
  alpha: "Finding the object's edge…",
  matting: "Finding the object's edge…",
  fill: "Painting the background behind the object…",
  step: "Generating…",
  layering: "Assembling the layers…",
};

/**
 * @typedef {{showProgress(text: string, onCancel: () => void): void, updateProgress(text: string, fraction: number | null): void,
 *   closeProgress(): void, notify(level: "info" | "warning" | "error", text: string): void}} UI
 * @typedef {{url: string, margin: number, backend: string, options?: Record<string, any>, parts?: boolean}} Settings
 *   `parts` ("One layer per separate part", default on): a selection of separate parts becomes one object
 *   layer per part, when the server can split them
 */

/**
 * A server's stage in words. A selection split into parts is worked on in groups, one after another,
 * whose stages come numbered ("fill 2/3"): said as "… (2 of 3)", and not at all when there is one.
 * @param {string} stage
 */
function stageText(stage) {
  const numbered = /^(.+) (\d+)\/(\d+)$/.exec(stage);
  const base = numbered ? numbered[1] : stage;
  const text = STAGES[base] || `${base[0].toUpperCase()}${base.slice(1)}…`;
  return numbered && numbered[3] !== "1" ? `${text} (${numbered[2]} of ${numbered[3]})` : text;
}

class Controller {
  /**
   * @param {{host: {readSource(margin: number | null): Promise<any>, writeResult(source: any, result: any): Promise<string>},
   *   ui: UI, loadSettings(): Settings, readToken(): Promise<string>, WebSocket: any, runJob?: typeof runJob,
   *   about?: Record<string, string>}} parts  `about`: the plugin's version and host, for Diagnostics
   */
  constructor(parts) {
    this.host = parts.host;
    this.ui = parts.ui;
    this.loadSettings = parts.loadSettings;
    this.readToken = parts.readToken;
    this.WebSocket = parts.WebSocket;
    this.runJob = parts.runJob || runJob;
    /** @type {{cancel: CancelToken, writing: boolean} | null} */
    this.job = null;
    /** @type {Array<[string, string, string]>} (level, code, text) of every message shown */
    this.messages = [];
    this.about = parts.about || {};
    /** What the last connection saw, and the last failure (for Diagnostics). */
    this.lastTrace = /** @type {import("./client.js").Trace | null} */ (null);
    this.lastError = /** @type {UserError | null} */ (null);
  }

  /** The command and the panel's button. Resolves when the job is over (however it ended). */
  async trigger() {
    if (this.job) {
      this.tell("warning", M.busy());
      return;
    }
    const job = { cancel: new CancelToken(), writing: false };
    this.job = job;
    try {
      const settings = this.loadSettings();
      const source = await this.host.readSource(settings.margin >= 0 ? settings.margin : null);
      const token = await this.readToken();
      this.ui.showProgress("Decomposing the selection…", () => this.cancel());
      const request = { width: source.crop.w, height: source.crop.h, image: source.image, mask: source.mask,
        margin: source.margin, grow: source.grow };
      const server = { url: settings.url, token, backend: settings.backend, options: settings.options,
        parts: settings.parts !== false };
      this.lastTrace = newTrace(settings.url);
      const result = await this.runJob(server, request, job.cancel, (kind, payload) => this.onReport(job, kind, payload),
        this.WebSocket, this.lastTrace);
      if (this.job !== job) return; // cancelled meanwhile: the result is dropped
      this.ui.closeProgress();
      job.writing = true; // too late to cancel: the write is one step that either happens or not
      const group = await this.host.writeResult(source, result);
      this.end(job, "info", new M.UserError("done", M.done(source.layerName, group, (result.objects || []).length)));
    } catch (err) {
      if (this.job !== job) return; // already ended (cancelled); the late failure is moot
      const error = err instanceof M.UserError ? err : M.unexpected(String(/** @type {Error} */ (err).message || err));
      this.end(job, error.code === "cancelled" ? "info" : "error", error);
    }
  }

  /**
   * The panel's Diagnostics: connect and authenticate with the current settings (no picture), then
   * a plain-text report for a bug report: versions, what the handshake saw, the last error.
   * @returns {Promise<string>}
   */
  async diagnose() {
    const settings = this.loadSettings();
    const trace = newTrace(settings.url);
    /** @type {UserError | null} */
    let problem = null;
    try {
      await probe({ url: settings.url, token: await this.readToken() }, this.WebSocket, trace);
    } catch (err) {
      problem = err instanceof M.UserError ? err : M.unexpected(String(/** @type {Error} */ (err).message || err));
    }
    return diagnosticsReport({ about: this.about, settings, check: trace, checkError: problem,
      lastJob: this.lastTrace, lastError: this.lastError });
  }

  /**
   * The server's welcome (its methods and per-job option schema), for the panel's settings: connects
   * and authenticates with the current settings, no picture. Rejects with a UserError.
   * @returns {Promise<Record<string, any>>}
   */
  async serverWelcome() {
    const settings = this.loadSettings();
    return probe({ url: settings.url, token: await this.readToken() }, this.WebSocket);
  }

  /** The panel's Cancel: the document stays as it is, whatever the server does next. */
  cancel() {
    const job = this.job;
    if (!job || job.writing) return;
    job.cancel.cancel();
    this.end(job, "info", M.cancelled());
  }

  /** @param {any} job @param {string} kind @param {any} payload */
  onReport(job, kind, payload) {
    if (this.job !== job) return;
    if (kind === "status") this.ui.updateProgress(payload, null);
    else this.ui.updateProgress(stageText(payload.stage), payload.fraction);
  }

  /** @param {any} job @param {"info" | "warning" | "error"} level @param {UserError} outcome */
  end(job, level, outcome) {
    if (this.job !== job) return;
    this.job = null;
    this.ui.closeProgress();
    this.tell(level, outcome);
  }

  /** @param {"info" | "warning" | "error"} level @param {UserError} error */
  tell(level, error) {
    if (level === "error") this.lastError = error;
    this.messages.push([level, error.code, error.message]);
    this.ui.notify(level, error.message);
  }
}

module.exports = { Controller, STAGES, stageText };
