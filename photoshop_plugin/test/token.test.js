// The token file's place: the same rule as layerdecomp/config.py (asked here of Python itself).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { defaultTokenPath, readToken, tokenPathHere } = require("../src/token.js");
const { REPO, projectPython } = require("./python.js");

/**
 * layerdecomp.config.token_path() as Python computes it on `platform` with HOME=`home` (and APPDATA, when given).
 * @param {string} platform @param {string} home @param {string} [appData]
 */
function pythonTokenPath(platform, home, appData) {
  // config.py is standard-library only (the installer loads it the same way): loaded by its path, so that the
  // faked platform reaches nothing else (numpy and scipy read the real one at import).
  const code = [
    "import importlib.util, sys",
    "spec = importlib.util.spec_from_file_location('layerdecomp_config', 'layerdecomp/config.py')",
    "config = importlib.util.module_from_spec(spec)",
    `sys.platform = ${JSON.stringify(platform)}`,
    "spec.loader.exec_module(config)",
    "print(config.token_path())",
  ].join("\n");
  const env = { ...process.env, HOME: home };
  for (const name of ["LAYERDECOMP_CONFIG_DIR", "APPDATA", "XDG_CONFIG_HOME"]) delete env[name];
  if (appData) env.APPDATA = appData;
  const run = spawnSync(projectPython(), ["-c", code], { cwd: REPO, env, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

/** Both separators as "/", to compare Windows paths computed on this POSIX machine. @param {string} p */
const slashed = (p) => p.replace(/\\/g, "/");

test("darwin: where layerdecomp/config.py puts the token", () => {
  assert.equal(defaultTokenPath("darwin", "/home/artist"), pythonTokenPath("darwin", "/home/artist"));
});

// UXP's os.platform() answers "win32" or "win10" (its documentation's own examples); the server sees win32.
for (const platform of ["win32", "win10"]) {
  test(`${platform}: %APPDATA% as the server resolves it, read off the plugin's data folder; else the server's fallback`, () => {
    const home = "C:\\Users\\artist";
    const redirected = "\\\\fileserver\\profiles$\\artist\\AppData\\Roaming";
    const pluginData = `${redirected}\\Adobe\\UXP\\PluginsStorage\\PHSP\\25\\External\\org.layerdecomp.photoshop\\PluginData`;
    assert.equal(slashed(defaultTokenPath(platform, home, pluginData)), slashed(pythonTokenPath("win32", home, redirected)));
    assert.equal(defaultTokenPath(platform, home, pluginData), `${redirected}\\layerdecomp\\token`);
    // No data folder, or one of another shape: <home>\AppData\Roaming, as the server without APPDATA.
    for (const other of ["", "C:\\Temp\\PluginData"]) {
      assert.equal(slashed(defaultTokenPath(platform, home, other)), slashed(pythonTokenPath("win32", home)));
    }
  });

  test(`${platform}: the panel asks UXP for its data folder, and falls back when it cannot have it`, async () => {
    const os = { platform: () => platform, homedir: () => "C:\\Users\\artist" };
    const pluginData = async () => "E:\\Roaming\\Adobe\\UXP\\PluginsStorage\\PHSP\\26\\Developer\\x\\PluginData";
    assert.equal(await tokenPathHere({ fs: /** @type {any} */ (null), os, pluginData }), "E:\\Roaming\\layerdecomp\\token");
    const refusing = async () => { throw new Error("no data folder"); };
    assert.equal(await tokenPathHere({ fs: /** @type {any} */ (null), os, pluginData: refusing }),
      "C:\\Users\\artist\\AppData\\Roaming\\layerdecomp\\token");
  });
}

test("a pasted token wins; else the file's contents, trimmed; an empty file is no token", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ldps-token-"));
  const file = path.join(dir, "token");
  const modules = { fs: fs.promises, os: { platform: () => "darwin", homedir: () => dir } };
  fs.writeFileSync(file, "abc123\n");
  assert.equal(await readToken(modules, { token: " pasted " }), "pasted");
  assert.equal(await readToken(modules, { tokenFile: file }), "abc123");
  fs.writeFileSync(file, "\n");
  await assert.rejects(readToken(modules, { tokenFile: file }), /empty/);
  await assert.rejects(readToken(modules, {}), (/** @type {any} */ err) => err.path.endsWith("Library/Application Support/layerdecomp/token"));
  fs.rmSync(dir, { recursive: true, force: true });
});
