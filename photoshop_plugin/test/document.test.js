// The host layer (document.js) on its own, with results made here: recovered hidden parts go behind a
// layer mask, and a write that fails half-way leaves nothing behind (Photoshop drops the suspended state).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const { Photoshop, DEFAULT_BEHAVIOUR } = require("./fake_photoshop.js");
const { createHost, HISTORY_NAME, hasHiddenParts, to8, to16 } = require("../src/document.js");

const W = 24, H = 20;

/**
 * A document whose layer "Photo" is painted by `paint` (x, y -> [RGBA colour, selected]), with that selection.
 * @param {8 | 16} depth @param {any} behaviour @param {(x: number, y: number) => [number[], boolean]} paint
 */
function paintedDocument(depth, behaviour, paint) {
  const ps = new Photoshop(behaviour);
  const doc = ps.createDocument({ width: W, height: H, depth });
  const image = new Uint8Array(W * H * 4);
  const selection = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [colour, selected] = paint(x, y);
      image.set(colour, (y * W + x) * 4);
      selection[y * W + x] = selected ? 255 : 0;
    }
  }
  const layer = doc.addPixelLayer("Photo", image);
  doc.select(selection);
  return { ps, doc, layer, image, host: createHost(ps.module) };
}

/** A document with an opaque grey picture, a red square in it, and the square selected. @param {any} [behaviour] */
function setup(depth = /** @type {8 | 16} */ (8), behaviour = {}) {
  return paintedDocument(depth, behaviour, (x, y) => {
    const inside = x >= 8 && x < 14 && y >= 6 && y < 12;
    return [inside ? [220, 20, 20, 255] : [100, 110, 120, 255], inside];
  });
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

// ------------------------------------------------------------------ where Adobe's documentation is silent

/** Every combination of the fake's answers to the silent points. */
function* everyBehaviour() {
  for (const placeInside of /** @type {const} */ (["top", "bottom"])) {
    for (const putPixels of /** @type {const} */ (["overwrite", "blend"])) {
      for (const batchPlayErrors of /** @type {const} */ (["throw", "answer"])) {
        for (const selectionSize of /** @type {const} */ (["document", 8, 16])) {
          yield { placeInside, putPixels, batchPlayErrors, selectionSize, refuse: [] };
        }
      }
    }
  }
}

test("the fake's answers to each silent point really differ (so the next test means something)", async () => {
  /** @param {any} behaviour */
  const fixture = async (behaviour) => {
    const ps = new Photoshop(behaviour);
    const doc = ps.createDocument({ width: 2, height: 1 });
    const layer = doc.addPixelLayer("Opaque", new Uint8Array([10, 20, 30, 255, 10, 20, 30, 255]));
    doc.select(new Uint8Array([255, 128]));
    return { ps, doc, layer };
  };
  /** @param {any} behaviour */
  const naiveWrite = async (behaviour) => {
    const { ps, doc, layer } = await fixture(behaviour);
    await ps.module.core.executeAsModal(async () => {
      const half = await ps.module.imaging.createImageDataFromBuffer(new Uint8Array([250, 250, 250, 128]),
        { width: 1, height: 1, components: 4, colorSpace: "RGB" });
      await ps.module.imaging.putPixels({ layerID: layer.id, imageData: half, replace: false, targetBounds: { left: 0, top: 0 } });
      const group = await doc.createLayerGroup({ name: "G" });
      const a = await doc.createPixelLayer({ name: "A" }), b = await doc.createPixelLayer({ name: "B" });
      a.move(group, "placeInside");
      b.move(group, "placeInside");
    }, { commandName: "naive" });
    return { pixels: Array.from(/** @type {any} */ (layer.pixels)), order: doc.layers[0].layers.map((/** @type {any} */ l) => l.name) };
  };
  const one = await naiveWrite({ placeInside: "top", putPixels: "overwrite" });
  const other = await naiveWrite({ placeInside: "bottom", putPixels: "blend" });
  assert.notDeepEqual(one.pixels, other.pixels, "putPixels replace:false over existing pixels depends on the answer");
  assert.notDeepEqual(one.order, other.order, "placeInside's position depends on the answer");

  for (const batchPlayErrors of /** @type {const} */ (["throw", "answer"])) {
    const { ps } = await fixture({ batchPlayErrors });
    const play = ps.module.core.executeAsModal(() => ps.module.action.batchPlay([{ _obj: "explode" }], {}), { commandName: "x" });
    if (batchPlayErrors === "throw") await assert.rejects(play);
    else assert.equal((await play)[0]._obj, "error");
  }
  const sizes = [];
  for (const selectionSize of /** @type {const} */ ([8, 16])) {
    const { ps } = await fixture({ selectionSize });
    sizes.push((await ps.module.imaging.getSelection({})).imageData.componentSize);
  }
  assert.deepEqual(sizes, [8, 16]);
});

for (const depth of /** @type {const} */ ([8, 16])) {
  test(`${depth}-bit: every answer to the silent points gives the same selection read and the same document written`, async () => {
    const reference = setup(depth, DEFAULT_BEHAVIOUR);
    const referenceSource = await reference.host.readSource(4);
    await reference.host.writeResult(referenceSource, resultWithHiddenParts(referenceSource));
    const expected = reference.doc.describe();
    assert.deepEqual(expected.layers[0].children.map((/** @type {any} */ l) => l.name), ["Object", "Background"]);
    let runs = 0;
    for (const behaviour of everyBehaviour()) {
      const { doc, host } = setup(depth, behaviour);
      const source = await host.readSource(4);
      assert.deepEqual(Array.from(source.mask), Array.from(referenceSource.mask), JSON.stringify(behaviour));
      await host.writeResult(source, resultWithHiddenParts(source));
      assert.deepEqual(doc.describe(), expected, JSON.stringify(behaviour));
      runs++;
    }
    assert.equal(runs, 24);
  });
}

for (const batchPlayErrors of /** @type {const} */ (["throw", "answer"])) {
  test(`a layer mask batchPlay cannot make (${batchPlayErrors === "throw" ? "it throws" : "an error descriptor"}) fails the write and leaves nothing`, async () => {
    const { ps, doc, host } = setup(8, { batchPlayErrors, refuse: ["make"] });
    const source = await host.readSource(4);
    const before = doc.describe();
    await assert.rejects(host.writeResult(source, resultWithHiddenParts(source)),
      (/** @type {any} */ err) => err.code === "write_failed" && /not currently available/.test(err.message));
    assert.deepEqual(doc.describe(), before);
    assert.equal(ps.modal, false);
  });
}

test("a 16-bit selection given at 8 bits a component, or an 8-bit one at 16, reads the same grey levels", async () => {
  for (const depth of /** @type {const} */ ([8, 16])) {
    for (const selectionSize of /** @type {const} */ (["document", 8, 16])) {
      const ps = new Photoshop({ selectionSize });
      const doc = ps.createDocument({ width: 4, height: 1, depth });
      doc.addPixelLayer("P", new Uint8Array(16).fill(200));
      doc.select(new Uint8Array([0, 1, 128, 255]));
      const source = await createHost(ps.module).readSource(0);
      assert.deepEqual(Array.from(source.mask), [0, 1, 128, 255], `${depth}-bit document, selection at ${selectionSize}`);
    }
  }
});

// ------------------------------------------------------------------ several objects (a split selection)

const RED = [220, 20, 20, 255], BLUE = [20, 40, 210, 255], GREY = [100, 110, 120, 255];
/** @param {number} x @param {number} y */
const inRed = (x, y) => x >= 3 && x < 8 && y >= 4 && y < 9;
/** @param {number} x @param {number} y */
const inBlue = (x, y) => x >= 14 && x < 20 && y >= 8 && y < 14;

/** A grey picture with a red and a blue square, both selected (two separate parts). @param {8 | 16} depth @param {any} [behaviour] */
function setupTwo(depth = 8, behaviour = {}) {
  return paintedDocument(depth, behaviour,
                         (x, y) => [inRed(x, y) ? RED : inBlue(x, y) ? BLUE : GREY, inRed(x, y) || inBlue(x, y)]);
}

/**
 * A split result as the server would send it (boxes in crop coordinates): object 1 the red square,
 * object 2 the blue one plus a recovered strip below it that its visibility marks 0; the plate grey.
 * @param {any} source
 */
function splitResult(source) {
  /** @param {number[]} box @param {(x: number, y: number) => [number[] | null, number]} paint */
  const layer = ([bx, by, bw, bh], paint) => {
    const foreground = new Uint8Array(bw * bh * 4), visibility = new Uint8Array(bw * bh);
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        const [colour, seen] = paint(source.crop.x + bx + x, source.crop.y + by + y);
        if (colour) foreground.set(colour, (y * bw + x) * 4);
        visibility[y * bw + x] = seen;
      }
    }
    return { box: [bx, by, bw, bh], foreground, visibility };
  };
  const red = layer([3 - source.crop.x, 4 - source.crop.y, 5, 5], () => [RED, 255]);
  const blue = layer([14 - source.crop.x, 8 - source.crop.y, 6, 8],
    (x, y) => (inBlue(x, y) ? [BLUE, 255] : [BLUE, 0])); // rows 14 and 15: hidden
  const box = [2 - source.crop.x, 3 - source.crop.y, 20, 14];
  const background = new Uint8Array(20 * 14 * 4);
  for (let i = 0; i < 20 * 14; i++) background.set(GREY, i * 4);
  return { box, background, objects: [red, blue], metadata: {} };
}

for (const depth of /** @type {const} */ ([8, 16])) {
  test(`${depth}-bit, several objects: "Photo (split)" holds object 2, object 1 and the clean plate; one history state; the picture unchanged`, async () => {
    const { ps, doc, layer, host } = setupTwo(depth);
    const composite = doc.composite();
    const source = await host.readSource(4);
    const name = await host.writeResult(source, splitResult(source));
    assert.equal(name, "Photo (split)");
    assert.deepEqual(doc.historyStates, ["Open", HISTORY_NAME]);
    assert.deepEqual(doc.layers.map((l) => [l.name, l.visible, (l.layers || []).map((c) => c.name)]), [
      ["Photo (split)", true, ["Photo – object 2", "Photo – object 1", "Photo – clean plate"]],
      ["Photo", false, []],
    ]);
    assert.equal(doc.layers[1], layer);
    const [blue, red, plate] = doc.layers[0].layers;
    // Each object layer holds its own square only; the plate is grey everywhere.
    const redPixels = doc.pixels8(red), bluePixels = doc.pixels8(blue), platePixels = doc.pixels8(plate);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = (y * W + x) * 4;
        assert.deepEqual(Array.from(redPixels.subarray(i, i + 4)), inRed(x, y) ? RED : [0, 0, 0, 0], `red at ${x},${y}`);
        const hidden = x >= 14 && x < 20 && y >= 14 && y < 16;
        assert.deepEqual(Array.from(bluePixels.subarray(i, i + 4)), inBlue(x, y) || hidden ? BLUE : [0, 0, 0, 0], `blue at ${x},${y}`);
        assert.deepEqual(Array.from(platePixels.subarray(i, i + 4)), GREY, `plate at ${x},${y}`);
      }
    }
    // The recovered strip stays behind the blue object's own mask; the red one needs none.
    assert.equal(red.mask, null);
    const mask = doc.mask8(blue);
    assert.equal(mask[14 * W + 15], 0);
    assert.equal(mask[10 * W + 15], 255);
    assert.deepEqual(Array.from(doc.composite()), Array.from(composite), "the composite is exactly the picture");
    // The top object is the active layer, and nothing is selected.
    assert.deepEqual(doc.activeLayers, [blue]);
    assert.equal(doc.selection.bounds, null);
    assert.equal(ps.modal, false);
  });
}

test("several objects: every answer to the silent points writes the same document", async () => {
  const reference = setupTwo(8, DEFAULT_BEHAVIOUR);
  const referenceSource = await reference.host.readSource(4);
  await reference.host.writeResult(referenceSource, splitResult(referenceSource));
  const expected = reference.doc.describe();
  for (const behaviour of everyBehaviour()) {
    const { doc, host } = setupTwo(8, behaviour);
    const source = await host.readSource(4);
    await host.writeResult(source, splitResult(source));
    assert.deepEqual(doc.describe(), expected, JSON.stringify(behaviour));
  }
});

for (const refuse of ["make", "select"]) {
  test(`several objects: a failing batchPlay (${refuse}) leaves the document, its selection too, as it was`, async () => {
    for (const batchPlayErrors of /** @type {const} */ (["throw", "answer"])) {
      const { ps, doc, host } = setupTwo(8, { batchPlayErrors, refuse: [refuse] });
      const source = await host.readSource(4);
      const before = doc.describe();
      assert.ok(before.selection, "something is selected");
      await assert.rejects(host.writeResult(source, splitResult(source)), { code: "write_failed" });
      assert.deepEqual(doc.describe(), before);
      assert.equal(ps.modal, false);
    }
  });
}
