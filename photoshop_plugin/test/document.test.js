// The host layer (document.js) on its own, with results made here: recovered hidden parts go behind a
// layer mask, and a write that fails half-way leaves nothing behind (Photoshop drops the suspended state).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const { Photoshop } = require("./fake_photoshop.js");
const { createHost, HISTORY_NAME, hasHiddenParts, to8, to16 } = require("../src/document.js");

const W = 24, H = 20;

/** A document with an opaque grey picture, a red square in it, and the square selected. */
function setup(depth = /** @type {8 | 16} */ (8)) {
  const ps = new Photoshop();
  const doc = ps.createDocument({ width: W, height: H, depth });
  const image = new Uint8Array(W * H * 4);
  const selection = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = x >= 8 && x < 14 && y >= 6 && y < 12;
      image.set(inside ? [220, 20, 20, 255] : [100, 110, 120, 255], (y * W + x) * 4);
      selection[y * W + x] = inside ? 255 : 0;
    }
  }
  const layer = doc.addPixelLayer("Photo", image);
  doc.select(selection);
  return { ps, doc, layer, image, host: createHost(ps.module) };
}

/**
 * A result as the server would send it over `box` of the crop: the object (the square, plus a recovered
 * hidden strip to its right that visibility marks 0), the plate grey.
 * @param {any} source
 */
function resultWithHiddenParts(source) {
  const [bx, by, bw, bh] = [2, 2, 16, 14];
  const foreground = new Uint8Array(bw * bh * 4), background = new Uint8Array(bw * bh * 4), visibility = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      const cx = source.crop.x + bx + x, cy = source.crop.y + by + y, i = y * bw + x;
      const square = cx >= 8 && cx < 14 && cy >= 6 && cy < 12;
      const hidden = cx >= 14 && cx < 16 && cy >= 6 && cy < 12;
      if (square || hidden) foreground.set([220, 20, 20, 255], i * 4);
      background.set([100, 110, 120, 255], i * 4);
      visibility[i] = square ? 255 : 0;
    }
  }
  return { box: [bx, by, bw, bh], foreground, background, visibility, metadata: {} };
}

for (const depth of /** @type {const} */ ([8, 16])) {
  test(`${depth}-bit: recovered hidden parts stay behind a layer mask; one history state; the picture unchanged`, async () => {
    const { ps, doc, host } = setup(depth);
    const composite = doc.composite();
    const source = await host.readSource(4);
    // bounds 8..14 x 6..12, grow 12 + margin 4 on each side: the whole 24 x 20 canvas
    assert.deepEqual(source.crop, { x: 0, y: 0, w: 24, h: 20 });
    const result = resultWithHiddenParts(source);
    assert.ok(hasHiddenParts(result.foreground, result.visibility));
    const name = await host.writeResult(source, result);
    assert.equal(name, "Photo (decomposed)");
    assert.deepEqual(doc.historyStates, ["Open", HISTORY_NAME]);
    const object = doc.layers[0].layers[0];
    assert.equal(object.name, "Object");
    assert.ok(object.mask, "the Object has a layer mask");
    const mask = doc.mask8(object);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inBox = x >= 2 && x < 18 && y >= 2 && y < 16;
        const square = x >= 8 && x < 14 && y >= 6 && y < 12;
        // Inside the box the mask is the visibility; outside it reveals all (nothing is there anyway).
        assert.equal(mask[y * W + x], inBox ? (square ? 255 : 0) : 255, `mask at ${x},${y}`);
      }
    }
    assert.deepEqual(Array.from(doc.composite()), Array.from(composite), "the hidden strip does not show");
    assert.equal(ps.modal, false);
  });
}

test("a write that fails half-way leaves the document exactly as it was", async () => {
  const { ps, doc, host } = setup();
  const source = await host.readSource(4);
  const before = doc.describe();
  ps.module.imaging.putLayerMask = async () => { throw new Error("out of scratch disk"); };
  await assert.rejects(host.writeResult(source, resultWithHiddenParts(source)),
    (/** @type {any} */ err) => err.code === "write_failed" && /scratch disk/.test(err.message) && /not changed/.test(err.message));
  assert.deepEqual(doc.describe(), before);
  assert.equal(ps.modal, false);
});

test("the result's box must lie inside the crop", async () => {
  const { doc, host } = setup();
  const source = await host.readSource(4);
  const before = doc.describe();
  const result = resultWithHiddenParts(source);
  result.box = [15, 15, 10, 8]; // 15 + 10 > 22
  await assert.rejects(host.writeResult(source, result), { code: "protocol" });
  assert.deepEqual(doc.describe(), before);
});

test("reading: transparent and background layers, a 16-bit selection, pixels only where the layer has them", async () => {
  const ps = new Photoshop();
  const doc = ps.createDocument({ width: 10, height: 8, depth: 16 });
  const image = new Uint8Array(10 * 8 * 4); // transparent except a 3 x 2 patch
  for (const [x, y] of [[4, 3], [5, 3], [6, 3], [4, 4], [5, 4], [6, 4]]) image.set([10 * x, 20 * y, 7, 200], (y * 10 + x) * 4);
  doc.addPixelLayer("Patch", image);
  const selection = new Uint8Array(10 * 8);
  selection[3 * 10 + 5] = 255;
  selection[4 * 10 + 5] = 128; // 16-bit: 16448 of 32768, back to 128
  doc.select(selection);
  const source = await createHost(ps.module).readSource(1);
  assert.deepEqual(source.crop, { x: 0, y: 0, w: 10, h: 8 });
  assert.equal(source.depth, 16);
  assert.deepEqual(Array.from(source.mask), Array.from(selection));
  assert.deepEqual(Array.from(source.image), Array.from(image));

  // A background layer has no alpha channel: it reads as opaque.
  const flat = new Photoshop();
  const flatDoc = flat.createDocument({ width: 10, height: 8 });
  const opaque = new Uint8Array(10 * 8 * 4).fill(90);
  flatDoc.addPixelLayer("Background", opaque, { background: true });
  flatDoc.select(selection);
  const read = await createHost(flat.module).readSource(0);
  assert.ok(read.image.every((v, i) => v === (i % 4 === 3 ? 255 : 90)));
});

test("16-bit scaling round-trips every 8-bit value", () => {
  for (let v = 0; v < 256; v++) assert.equal(to8(to16(v)), v);
  assert.equal(to16(255), 32768);
});
