// The real `layerdecomp serve` on loopback for the tests: an ephemeral port, a temporary config folder
// (so a fresh token file), the classical backend. Python: python.js finds it.
"use strict";
const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { REPO, projectPython } = require("./python.js");
// Node 18 has Web Crypto only as require("crypto").webcrypto (UXP and Node 20 have the global).
if (!globalThis.crypto) /** @type {any} */ (globalThis).crypto = require("node:crypto").webcrypto;

/** @type {string[]} */
const homes = [];

/** A temporary home whose macOS-style config folder the server keeps its token in (removeHomes() removes it). */
function makeHome() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "ldps-"));
  homes.push(home);
  const configDir = path.join(home, "Library", "Application Support", "layerdecomp");
  return { home, configDir, tokenFile: path.join(configDir, "token") };
}

/**
 * Start a server; resolves once it listens.
 * @param {{configDir: string}} where @param {string[]} [extra] more `serve` arguments
 * @returns {Promise<{url: string, process: import("node:child_process").ChildProcess, output: () => string, stop: () => Promise<void>}>}
 */
function startServer(where, extra = []) {
  const child = spawn(projectPython(), ["-m", "layerdecomp", "serve", "--port", "0", "--backend", "classical", ...extra], {
    cwd: REPO, env: { ...process.env, LAYERDECOMP_CONFIG_DIR: where.configDir }, stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise((resolve) => child.on("exit", resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`the server did not start:\n${output}`)); }, 60000);
    const onData = (/** @type {Buffer} */ chunk) => {
      output += chunk.toString();
      const match = /listening on (ws:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1], process: child, output: () => output,
          stop: async () => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM"); await exited; },
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}):\n${output}`)); });
  });
}

/**
 * `layerdecomp.decompose` on the whole canvas, through expected_layers.py; with `parts`, split into
 * its separate parts (`objects`: each object alone on the canvas, bottom first; empty for one part).
 * @param {Uint8Array} image RGBA8 @param {Uint8Array} mask A8 @param {number} width @param {number} height
 * @param {{parts?: boolean}} [how]
 */
function expectedLayers(image, mask, width, height, { parts = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ldps-expected-"));
  try {
    fs.writeFileSync(path.join(dir, "image.raw"), image);
    fs.writeFileSync(path.join(dir, "mask.raw"), mask);
    const run = spawnSync(projectPython(), [path.join(__dirname, "expected_layers.py"), dir, String(width), String(height),
      ...(parts ? ["parts"] : [])], { cwd: REPO, encoding: "utf8" });
    if (run.status !== 0) throw new Error(`expected_layers.py failed:\n${run.stdout}${run.stderr}`);
    const read = (/** @type {string} */ name) => new Uint8Array(fs.readFileSync(path.join(dir, `${name}.raw`)));
    const count = Number(fs.readFileSync(path.join(dir, "objects.txt"), "utf8"));
    const objects = Array.from({ length: count }, (_, i) => ({ foreground: read(`object${i}`), visibility: read(`object${i}_visibility`) }));
    return { foreground: read("foreground"), background: read("background"), visibility: read("visibility"), objects };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function removeHomes() {
  for (const home of homes.splice(0)) fs.rmSync(home, { recursive: true, force: true });
}

module.exports = { REPO, projectPython, makeHome, removeHomes, startServer, expectedLayers };
