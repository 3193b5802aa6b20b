// region.js plans the same crop as layerdecomp/crop.py (asked of Python itself on many selections), so
// the server's result for the crop equals decomposing the whole canvas; and tight bounds are right.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const R = require("../src/region.js");
const { REPO, projectPython } = require("./python.js");

test("the crop and default margin equal layerdecomp.crop's", () => {
  const cases = [];
  let seed = 7;
  const next = (/** @type {number} */ n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let i = 0; i < 300; i++) {
    const canvas = { x: 0, y: 0, w: 1 + next(3000), h: 1 + next(3000) };
    const w = 1 + next(canvas.w), h = 1 + next(canvas.h);
    const selection = { x: next(canvas.w - w + 1), y: next(canvas.h - h + 1), w, h };
    const margin = i % 3 === 0 ? null : next(700);
    cases.push({ selection, canvas, margin });
  }
  // Sides whose quarter is a half (Python rounds those to even).
  for (const side of [66, 70, 74, 130, 2050]) cases.push({ selection: { x: 3, y: 4, w: side, h: 5 }, canvas: { x: 0, y: 0, w: 4000, h: 4000 }, margin: null });
  const code = [
    "import json, sys",
    "from layerdecomp.crop import crop_rect, default_margin",
    "out = []",
    "for c in json.load(sys.stdin):",
    "    s, v = c['selection'], c['canvas']",
    "    out.append([list(crop_rect((s['x'], s['y'], s['w'], s['h']), (v['x'], v['y'], v['w'], v['h']), c['margin'])),",
    "                default_margin(s['w'], s['h'])])",
    "print(json.dumps(out))",
  ].join("\n");
  const run = spawnSync(projectPython(), ["-c", code], { cwd: REPO, input: JSON.stringify(cases), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const expected = JSON.parse(run.stdout);
  cases.forEach((c, i) => {
    const { crop, margin } = R.planCrop(c.selection, c.canvas, c.margin);
    assert.deepEqual([[crop.x, crop.y, crop.w, crop.h], R.defaultMargin(c.selection)], expected[i], JSON.stringify(c));
    assert.equal(margin, c.margin === null ? expected[i][1] : c.margin);
  });
});

test("tight bounds of a mask, and none for an empty one", () => {
  const rect = { x: 10, y: 20, w: 5, h: 4 };
  const mask = new Uint8Array(20);
  assert.equal(R.tightBounds(mask, rect), null);
  mask[1 * 5 + 2] = 9;
  mask[3 * 5 + 0] = 1;
  assert.deepEqual(R.tightBounds(mask, rect), { x: 10, y: 21, w: 3, h: 3 });
  assert.ok(R.allSelected(new Uint8Array(4).fill(255)) && !R.allSelected(Uint8Array.of(255, 254)));
});
