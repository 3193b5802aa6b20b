// The plugin's code type-checks against Photoshop's published API types (@types/photoshop) with
// `tsc --checkJs` (tsconfig.json: strict): a call the API does not have, or wrong options, fail here.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const path = require("node:path");

test("tsc --checkJs passes on src/", () => {
  const root = path.join(__dirname, "..");
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.json")], { cwd: root, encoding: "utf8" });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});
