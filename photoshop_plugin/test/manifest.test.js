// The manifest, checked against UXP's manifest v5 rules as far as the plugin relies on them: Photoshop as
// host at the version the APIs need, a panel and the "Decompose Selection" command whose ids main.js
// sets up, network access to the loopback server only, and every file it names present.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "manifest.json"), "utf8"));
const main = fs.readFileSync(path.join(ROOT, "src", "main.js"), "utf8");
const { DEFAULT_URL } = require("../src/settings.js");
const { DEFAULT_PORT } = require("../src/protocol.js");

/** A PNG's pixel size, from its IHDR chunk. @param {string} file @returns {[number, number]} */
function pngSize(file) {
  const bytes = fs.readFileSync(file);
  assert.equal(bytes.subarray(1, 4).toString("latin1"), "PNG", `${file} is a PNG`);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test("manifest v5 with the fields UXP requires, and nothing it does not know", () => {
  assert.equal(manifest.manifestVersion, 5);
  for (const key of ["id", "name", "version", "main"]) assert.equal(typeof manifest[key], "string", key);
  assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
  assert.match(manifest.id, /^[A-Za-z0-9._-]+$/);
  const known = ["manifestVersion", "id", "name", "version", "main", "host", "entrypoints", "requiredPermissions", "icons"];
  assert.deepEqual(Object.keys(manifest).filter((k) => !known.includes(k)), []);
});

test("host: Photoshop 25 or later (the selection API and imaging.getSelection need it)", () => {
  assert.equal(Array.isArray(manifest.host), false, "one host");
  assert.equal(manifest.host.app, "PS");
  const [major] = manifest.host.minVersion.split(".").map(Number);
  assert.match(manifest.host.minVersion, /^\d+\.\d+\.\d+$/);
  assert.ok(major >= 25, manifest.host.minVersion);
  // The types the plugin is checked against say the same: Document.selection is @minVersion 25.0.
  const selection = fs.readFileSync(path.join(ROOT, "node_modules", "@types", "photoshop", "dom", "Selection.d.ts"), "utf8");
  assert.match(selection, /@minVersion 25\.0/);
});

test("a panel and the Decompose Selection command, set up by main.js under the same ids", () => {
  const byType = (/** @type {string} */ type) => manifest.entrypoints.filter((/** @type {any} */ e) => e.type === type);
  const [panel] = byType("panel");
  const [command] = byType("command");
  assert.ok(panel && command);
  assert.equal(command.label.default, "Decompose Selection");
  for (const entry of manifest.entrypoints) {
    assert.ok(["panel", "command"].includes(entry.type));
    assert.equal(typeof entry.label.default, "string");
    assert.match(main, new RegExp(`\\b${entry.id}\\b`), `main.js sets up ${entry.id}`);
  }
  for (const size of ["minimumSize", "maximumSize", "preferredDockedSize", "preferredFloatingSize"]) {
    assert.ok(panel[size].width > 0 && panel[size].height > 0, size);
  }
});

test("network: the loopback server only, by both names; file system: the token file; clipboard: Diagnostics", () => {
  const { network, localFileSystem, clipboard, ...rest } = manifest.requiredPermissions;
  assert.deepEqual(Object.keys(rest), []);
  assert.equal(clipboard, "readAndWrite", "writing the clipboard needs readAndWrite (there is no write-only)");
  // The panel connects to the literal address the server prints, or the IPv6 one; an artist may type
  // localhost as well, which the panel dials as 127.0.0.1 (client.js), so the manifest need not name it.
  assert.deepEqual([...network.domains].sort(), [DEFAULT_URL, `ws://[::1]:${DEFAULT_PORT}`].sort());
  assert.ok(network.domains.length > 0);
  for (const domain of network.domains) {
    const url = new URL(domain);
    assert.equal(url.protocol, "ws:");
    // Literal loopback addresses only: `localhost` may resolve to a family another program holds.
    assert.ok(["127.0.0.1", "[::1]"].includes(url.hostname), domain);
    assert.equal(url.port, "8765", "the server's default port (UXP takes no port wildcards)");
  }
  assert.equal(localFileSystem, "fullAccess");
});

test("every file the manifest and the panel name is there", () => {
  assert.ok(fs.existsSync(path.join(ROOT, manifest.main)));
  const html = fs.readFileSync(path.join(ROOT, manifest.main), "utf8");
  const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(scripts, ["src/main.js"]);
  for (const id of ["decompose", "cancel", "progress", "progress-text", "progress-bar", "status", "url", "margin",
    "backend", "token", "token-file", "save", "settings-toggle", "settings", "diagnose", "diagnostics-section",
    "diagnostics", "copy-diagnostics", "options"]) {
    assert.match(html, new RegExp(`id="${id}"`), `index.html has #${id} (main.js uses it)`);
    assert.match(main, new RegExp(`\\$\\("${id}"\\)`), `main.js uses #${id}`);
  }
});

test("the panel uses no element UXP does not render (<details>, <summary>, <dialog> inline)", () => {
  const html = fs.readFileSync(path.join(ROOT, manifest.main), "utf8").replace(/<!--[\s\S]*?-->/g, "");
  for (const tag of ["details", "summary", "dialog"]) assert.doesNotMatch(html, new RegExp(`<${tag}\\b`), tag);
});

test("icons: the plugin's and the panel's, for light and dark themes, each at every scale it names", () => {
  const [panel] = manifest.entrypoints.filter((/** @type {any} */ e) => e.type === "panel");
  for (const [owner, icons] of [["plugin", manifest.icons], ["panel", panel.icons]]) {
    const themes = icons.flatMap((/** @type {any} */ icon) => icon.theme);
    for (const theme of ["lightest", "light", "medium", "dark", "darkest"]) assert.ok(themes.includes(theme), `${owner}: ${theme}`);
    for (const icon of icons) {
      for (const scale of icon.scale) {
        const file = path.join(ROOT, scale === 1 ? icon.path : icon.path.replace(/\.png$/, `@${scale}x.png`));
        assert.ok(fs.existsSync(file), `${owner}: ${file}`);
        assert.deepEqual(pngSize(file), [icon.width * scale, icon.height * scale], file);
      }
    }
  }
});
