/**
 * The plugin's entry: the panel and the "Decompose Selection" command, wired to the controller.
 *
 * The only file that touches the panel's DOM and UXP's globals; everything it calls is tested in Node.
 * Settings live in the panel (UXP's localStorage): the server address, the margin, the backend, whether
 * a selection of separate parts becomes one layer per part, and the token (read from the server's token
 * file unless one is pasted or another file named).
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
const { formFields, optionsFrom, methodChoices } = require("./options.js");

const DEFAULTS = { url: DEFAULT_URL, margin: -1, backend: "", options: {}, parts: true, token: "", tokenFile: "" };
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

/** The option schema the settings were last drawn from. @type {any[]} */
let schema = [];

/** @param {string} tag @param {Record<string, any>} [props] @returns {any} */
function element(tag, props = {}) {
  return Object.assign(document.createElement(tag), props);
}

/** The method picker and one widget per option, from the server's welcome. @param {Record<string, any>} welcome */
function drawOptions(welcome) {
  const settings = loadSettings();
  const picker = $("backend");
  picker.innerHTML = "";
  for (const choice of methodChoices(welcome.methods || [], welcome.backend)) {
    picker.appendChild(element("option", { value: choice.value, textContent: choice.label, disabled: choice.disabled,
      title: choice.hint, selected: choice.value === settings.backend }));
  }
  schema = welcome.schema || [];
  const box = $("options");
  box.innerHTML = "";
  for (const field of formFields(schema, settings.options)) {
    const label = element("label", { textContent: `${field.label} ` });
    let input;
    if (field.control === "select") {
      input = element("select");
      for (const c of field.choices || []) input.appendChild(element("option", { value: c.value, textContent: c.label, selected: c.value === field.value }));
    } else if (field.control === "checkbox") {
      input = element("input", { type: "checkbox", checked: field.value === true });
    } else {
      input = element("input", { type: field.control, value: field.value === null || field.value === undefined ? "" : String(field.value) });
      if (field.step) input.step = field.step;
      if (field.min !== undefined) input.min = String(field.min);
      if (field.max !== undefined) input.max = String(field.max);
    }
    input.dataset.option = field.name;
    label.appendChild(input);
    box.appendChild(label);
    box.appendChild(element("div", { className: "help", textContent: field.help }));
  }
}

/** The options the widgets hold, checked against the schema. */
function readOptions() {
  /** @type {Record<string, string | boolean>} */
  const form = {};
  for (const input of Array.from(document.querySelectorAll("[data-option]"))) {
    const widget = /** @type {any} */ (input);
    form[widget.dataset.option] = widget.type === "checkbox" ? widget.checked : widget.value;
  }
  return optionsFrom(schema, form);
}

/** @param {any} section */
function toggle(section) {
  section.style.display = section.style.display === "none" ? "block" : "none";
  if (section.style.display === "none") return;
  controller.serverWelcome().then(drawOptions, (/** @type {Error} */ err) => {
    $("options").textContent = `The method's options appear here once the server answers (${err.message})`;
  });
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
  $("parts").checked = s.parts !== false;
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
    const { options, problems } = readOptions();
    if (problems.length) {
      ui.notify("warning", `Not saved: ${problems.join(" ")}`);
      return;
    }
    saveSettings({ url: $("url").value.trim() || DEFAULTS.url, margin: Number.isFinite(margin) ? margin : -1,
      backend: $("backend").value, options, parts: Boolean($("parts").checked), token: $("token").value.trim(),
      tokenFile: $("token-file").value.trim() });
    ui.notify("info", "Settings saved.");
  };
  showSettings();
}

uxp.entrypoints.setup({
  panels: { decomposePanel: { create: bindPanel, show: showSettings } },
  commands: { decomposeSelection: () => controller.trigger() },
});
