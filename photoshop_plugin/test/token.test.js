// The token file's place: the same rule as layerdecomp/config.py (asked here of Python itself).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { defaultTokenPath, readToken } = require("../src/token.js");
const { REPO, PYTHON } = require("./server.js");

/** layerdecomp.config.token_path() as Python computes it on `platform` with HOME=`home`. @param {string} platform @param {string} home */
function pythonTokenPath(platform, home) {
  const code = `import sys; sys.platform = ${JSON.stringify(platform)}\nfrom layerdecomp import config\nprint(config.token_path())`;
  const env = { ...process.env, HOME: home };
  for (const name of ["LAYERDECOMP_CONFIG_DIR", "APPDATA", "XDG_CONFIG_HOME"]) delete env[name];
  const run = spawnSync(PYTHON, ["-c", code], { cwd: REPO, env, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

for (const platform of ["darwin", "win32"]) {
  test(`${platform}: where layerdecomp/config.py puts the token`, () => {
    const js = defaultTokenPath(platform, "/home/artist").replace(/\\/g, "/");
    assert.equal(js, pythonTokenPath(platform, "/home/artist"));
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
