/**
 * The plugin's entry: the panel and the "Decompose Selection" command, wired to the controller.
 *
 * The only file that touches the panel's DOM and UXP's globals; everything it calls is tested in Node.
 * Settings live in the panel (UXP's localStorage): the server address, the margin, the backend, and
 * the token (read from the server's token file unless one is pasted or another file named).
 * Diagnostics checks the connection and shows a report to copy into a bug report.
 */
"use strict";

const uxp = require("uxp");
const photoshop = require("photoshop");
const fs = require("fs");
const os = require("os");
const { Controller } = require("./controller.js");
const { createHost } = require("./document.js");
const { tokenReader } = require("./token.js");
const { DEFAULT_URL } = require("./settings.js");

const DEFAULTS = { url: DEFAULT_URL, margin: -1, backend: "", token: "", tokenFile: "" };
const STORAGE_KEY = "layerdecomp.settings";

function loadSettings() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}") };
  } catch (_) {
    return { ...DEFAULTS };
  }
}

/** @param {Record<string, any>} settings */
function saveSettings(settings) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
}

/** @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);

const ui = {
  /** @param {string} text @param {() => void} onCancel */
  showProgress(text, onCancel) {
    $("progress").style.display = "block";
    $("progress-text").textContent = text;
    $("progress-bar").value = 0;
    $("cancel").onclick = onCancel;
    $("decompose").disabled = true;
  },
  /** @param {string} text @param {number | null} fraction */
  updateProgress(text, fraction) {
    $("progress-text").textContent = text;
    if (fraction !== null) $("progress-bar").value = Math.round(fraction * 100);
  },
  closeProgress() {
    $("progress").style.display = "none";
    $("decompose").disabled = false;
  },
  /** @param {string} level @param {string} text */
  notify(level, text) {
    const status = $("status");
    status.textContent = text;
    status.className = level;
    if (level === "error") photoshop.core.showAlert({ message: text });
  },
};

/** The native path of UXP's data folder for this plugin (Windows: it tells where %APPDATA% is). */
const pluginData = async () => (await uxp.storage.localFileSystem.getDataFolder()).nativePath;

const controller = new Controller({
  host: createHost(photoshop),
  ui,
  WebSocket,
  loadSettings,
  readToken: tokenReader({ fs: /** @type {any} */ (fs).promises || fs, os, pluginData }, loadSettings),
  about: {
    plugin: `Decompose Selection ${uxp.versions.plugin}`,
    host: `${uxp.host.name} ${uxp.host.version}, UXP ${uxp.versions.uxp}`,
    system: `${os.platform()} (${/** @type {any} */ (os).release ? /** @type {any} */ (os).release() : "?"})`,
  },
});

/** @param {any} section */
function toggle(section) {
  section.style.display = section.style.display === "none" ? "block" : "none";
}

async function showDiagnostics() {
  $("diagnostics-section").style.display = "block";
  $("diagnostics").value = "Checking the connection…";
  $("diagnostics").value = await controller.diagnose();
}

async function copyDiagnostics() {
  const text = $("diagnostics").value;
  try {
    // UXP's clipboard takes data-transfer providers (manifest: "clipboard": "readAndWrite").
    await /** @type {any} */ (navigator).clipboard.writeText({ "text/plain": text });
    $("status").textContent = "Diagnostics copied: paste them into your bug report.";
  } catch (_) {
    $("status").textContent = "Could not copy: select the text in Diagnostics and copy it by hand.";
  }
  $("status").className = "info";
}

function showSettings() {
  const s = loadSettings();
  $("url").value = s.url;
  $("margin").value = String(s.margin);
  $("backend").value = s.backend;
  $("token").value = s.token;
  $("token-file").value = s.tokenFile;
}

function bindPanel() {
  $("decompose").onclick = () => controller.trigger();
  $("settings-toggle").onclick = () => toggle($("settings"));
  $("diagnose").onclick = () => showDiagnostics();
  $("copy-diagnostics").onclick = () => copyDiagnostics();
  $("save").onclick = () => {
    const margin = parseInt($("margin").value, 10);
    saveSettings({ url: $("url").value.trim() || DEFAULTS.url, margin: Number.isFinite(margin) ? margin : -1,
      backend: $("backend").value.trim(), token: $("token").value.trim(), tokenFile: $("token-file").value.trim() });
    $("status").textContent = "Settings saved.";
    $("status").className = "info";
  };
  showSettings();
}

uxp.entrypoints.setup({
  panels: { decomposePanel: { create: bindPanel, show: showSettings } },
  commands: { decomposeSelection: () => controller.trigger() },
});
