/**
 * Reading the source pixels from Photoshop and writing the result layers back (the host layer).
 *
 * Everything here goes through the `photoshop` module handed in (the real one in Photoshop, a fake
 * in the tests). Reading: the active pixel layer over the selection's bounds plus context, with
 * `imaging.getPixels` (asked for 8 bits a channel), and the selection's grey levels with
 * `imaging.getSelection`. Every read is scaled by the `componentSize` the returned image data states
 * (8: 0..255, 16: 0..32768, 32: 0..1), never by what the document's depth suggests: the documentation
 * does not promise which one getSelection gives.
 *
 * Writing happens once a complete result is in hand, in ONE `core.executeAsModal` with
 * `hostControl.suspendHistory`: a group above the source holding Background (the source's pixels with
 * the plate put in over the result's box) and Object (the object; a layer mask hides recovered hidden
 * parts), and the source hidden, all one history state, one undo. If anything fails on the way, the
 * suspension is resumed without committing, so Photoshop drops every change: the document is as it was.
 *
 * A result with several objects (a selection of separate parts, split by the server) is written the same
 * way, as one history state: a group "<source> (split)" holding "<source> – object n" ... "<source> –
 * object 1" (objects[0] is object 1, the bottom one; each its own small layer and, with hidden parts,
 * its own mask) over "<source> – clean plate"; afterwards the top object is the active layer and nothing
 * is selected (the old selection would only get in the way of moving the objects apart).
 *
 * Where the documentation is silent the write does not depend on the answer (docs/photoshop.md):
 * pixels only ever go into freshly made, empty layers (whether `putPixels` with `replace: false`
 * overwrites or blends, into an empty layer both give the data itself); the group's children are read
 * back after being moved in and put in order if `placeInside` stacked them otherwise; a `batchPlay`
 * that answers with an error descriptor instead of throwing counts as a failure.
 */
"use strict";

const M = require("./messages.js");
const R = require("./region.js");

const OBJECT_NAME = "Object";
const BACKGROUND_NAME = "Background";
const HISTORY_NAME = "Decompose Selection";

/** @param {string} layerName */
const groupName = (layerName) => `${layerName} (decomposed)`;
// A split result's names (the same as the Krita plugin's).
/** @param {string} layerName */
const splitGroupName = (layerName) => `${layerName} (split)`;
/** @param {string} layerName @param {number} n 1 for the bottom object */
const objectName = (layerName, n) => `${layerName} – object ${n}`;
/** @param {string} layerName */
const plateName = (layerName) => `${layerName} – clean plate`;

/**
 * @typedef {{documentID: number, layerID: number, layerName: string, depth: 8 | 16, crop: R.Rect, margin: number,
 *   grow: number, image: Uint8Array, mask: Uint8Array}} Source  what was read for one job (image RGBA8, mask A8 over crop)
 */

/** @param {R.Rect} r */
const toBounds = (r) => ({ left: r.x, top: r.y, right: r.x + r.w, bottom: r.y + r.h });
/** @param {{left: number, top: number, right: number, bottom: number}} b @returns {R.Rect} */
const fromBounds = (b) => ({ x: b.left, y: b.top, w: b.right - b.left, h: b.bottom - b.top });

// The imaging API's range for each componentSize (16 bits: the "reduced range", its default).
/** @type {Record<number, number>} */
const FULL_SCALE = { 8: 255, 16: 32768, 32: 1 };
const MAX16 = FULL_SCALE[16];
/** @param {number} v */
const to8 = (v) => Math.round((v * 255) / MAX16);
/** @param {number} v */
const to16 = (v) => Math.round((v * MAX16) / 255);

/**
 * A function taking a component of `componentSize` bits to the range of `depth` bits (8 or 16);
 * the identity when they agree. Floats (32 bits) are clipped to 0..1 first.
 * @param {number} componentSize as the image data says @param {8 | 16} depth
 */
function rescale(componentSize, depth) {
  const from = FULL_SCALE[componentSize];
  if (!from) throw new Error(`image data of ${componentSize} bits a component`);
  if (componentSize === depth) return (/** @type {number} */ v) => v;
  const to = FULL_SCALE[depth];
  return (/** @type {number} */ v) => Math.round((Math.min(Math.max(v, 0), from) * to) / from);
}

/**
 * Copy `data` (`components` channels over `from`) into `target` (`channels` channels over `into`),
 * adding opaque alpha when the source has 3 channels; pixels of `into` that `from` does not cover stay.
 * @param {ArrayLike<number>} data @param {number} components @param {R.Rect} from
 * @param {Uint8Array | Uint16Array} target @param {number} channels @param {R.Rect} into @param {(v: number) => number} scale
 */
function paste(data, components, from, target, channels, into, scale) {
  const part = R.intersect(from, into);
  for (let row = 0; row < part.h; row++) {
    for (let col = 0; col < part.w; col++) {
      const src = ((part.y - from.y + row) * from.w + (part.x - from.x + col)) * components;
      const dst = ((part.y - into.y + row) * into.w + (part.x - into.x + col)) * channels;
      for (let c = 0; c < channels; c++) {
        target[dst + c] = c < components ? scale(data[src + c]) : 255;
      }
    }
  }
}

/** True when the object has opaque pixels where it is not visible (recovered hidden parts). */
function hasHiddenParts(/** @type {Uint8Array} */ foreground, /** @type {Uint8Array} */ visibility) {
  for (let i = 0; i < visibility.length; i++) if (visibility[i] === 0 && foreground[4 * i + 3] !== 0) return true;
  return false;
}

/** The layer `id` anywhere in `layers` and their groups. @param {any} layers @param {number} id @returns {any} */
function findLayer(layers, id) {
  for (const layer of layers) {
    if (layer.id === id) return layer;
    const inside = layer.layers ? findLayer(layer.layers, id) : null;
    if (inside) return inside;
  }
  return null;
}

/** @param {ArrayLike<number>} a @param {ArrayLike<number>} b */
function sameList(a, b) {
  return a.length === b.length && Array.prototype.every.call(a, (v, i) => v === b[i]);
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The Photoshop side of a job. @param {typeof import("photoshop")} photoshop the `photoshop` module */
function createHost(photoshop) {
  const { app, core, imaging, action, constants } = photoshop;

  /**
   * Copy what a getPixels/getSelection answered into `out` (`channels` over `rect`), scaled from the
   * image data's own componentSize to `depth`; the image data is disposed.
   * @param {{imageData: any, sourceBounds: any}} got @param {Uint8Array | Uint16Array} out @param {number} channels
   * @param {R.Rect} rect @param {8 | 16} depth
   */
  async function take(got, out, channels, rect, depth) {
    try {
      const data = await got.imageData.getData({ chunky: true });
      const scale = rescale(got.imageData.componentSize, depth);
      paste(data, got.imageData.components, fromBounds(got.sourceBounds), out, channels, rect, scale);
    } finally {
      got.imageData.dispose();
    }
    return out;
  }

  /** The selection's grey levels over `rect`, 0..255. @param {number} documentID @param {R.Rect} rect @returns {Promise<Uint8Array>} */
  async function readSelection(documentID, rect) {
    const got = await imaging.getSelection({ documentID, sourceBounds: toBounds(rect) });
    return /** @type {Promise<Uint8Array>} */ (take(got, new Uint8Array(rect.w * rect.h), 1, rect, 8));
  }

  /**
   * The layer's RGBA pixels over `rect` at `depth` bits (transparent where the layer has none).
   * @param {number} documentID @param {any} layer @param {R.Rect} rect @param {8 | 16} [depth]
   * @returns {Promise<Uint8Array | Uint16Array>}
   */
  async function readLayer(documentID, layer, rect, depth = 8) {
    const out = depth === 16 ? new Uint16Array(rect.w * rect.h * 4) : new Uint8Array(rect.w * rect.h * 4);
    // getPixels trims to where the layer has pixels (and refuses a region without any).
    const area = R.intersect(rect, fromBounds(layer.boundsNoEffects));
    if (R.isEmpty(area)) return out;
    const got = await imaging.getPixels({ documentID, layerID: layer.id, sourceBounds: toBounds(area), componentSize: depth });
    return take(got, out, 4, rect, depth);
  }

  /**
   * What to send: the active layer and the selection over the selection's bounds plus context.
   * @param {number | null} margin null or negative: the default margin
   * @returns {Promise<Source>}
   */
  async function readSource(margin) {
    const doc = app.activeDocument;
    if (!doc) throw M.noDocument();
    if (doc.mode !== constants.DocumentMode.RGB) throw M.unsupportedColor(describeMode(doc.mode));
    const depth = doc.bitsPerChannel === constants.BitsPerChannelType.EIGHT ? 8
      : doc.bitsPerChannel === constants.BitsPerChannelType.SIXTEEN ? 16 : 0;
    if (!depth) throw M.unsupportedColor("32 bits per channel");
    const active = doc.activeLayers;
    if (active.length !== 1) throw M.noLayer();
    const layer = active[0];
    if (layer.kind !== constants.LayerKind.NORMAL) throw M.notPixelLayer(String(layer.kind));
    const bounds = doc.selection.bounds;
    if (!bounds) throw M.noSelection();
    const canvas = { x: 0, y: 0, w: doc.width, h: doc.height };
    const documentID = doc.id;
    // Reading needs no modal state, but Photoshop must not change the document between the reads.
    return core.executeAsModal(async () => {
      const rect = R.intersect(fromBounds(bounds), canvas);
      if (R.isEmpty(rect)) throw M.emptySelection();
      const data = await readSelection(documentID, rect);
      const tight = R.tightBounds(data, rect);
      if (!tight) throw M.emptySelection();
      if (R.sameRect(tight, canvas) && R.allSelected(data)) throw M.wholeImage();
      const plan = R.planCrop(tight, canvas, margin);
      const mask = await readSelection(documentID, plan.crop);
      const image = /** @type {Uint8Array} */ (await readLayer(documentID, layer, plan.crop));
      return { documentID, layerID: layer.id, layerName: layer.name, depth, crop: plan.crop, margin: plan.margin,
        grow: R.GROW, image, mask };
    }, { commandName: "Reading the selection" });
  }

  /**
   * Image data for putPixels/putLayerMask at the document's depth: 8-bit `bytes` are scaled up in a
   * 16-bit document; data already at the depth (a Uint16Array there) goes as it is.
   * @param {Uint8Array | Uint16Array} bytes @param {number} w @param {number} h @param {number} components @param {8 | 16} depth
   */
  function imageData(bytes, w, h, components, depth) {
    const buffer = depth === 16 && bytes instanceof Uint8Array ? Uint16Array.from(bytes, to16) : bytes;
    const gray = components === 1;
    return imaging.createImageDataFromBuffer(buffer, {
      width: w, height: h, components, chunky: true,
      colorSpace: gray ? "Grayscale" : "RGB", ...(gray ? { colorProfile: "Gray Gamma 2.2" } : {}),
    });
  }

  /**
   * Add the result to the document as one history state; returns the group's name. Throws a UserError
   * (and changes nothing) when the document or layer is gone or the layer changed since reading.
   * @param {Source} source @param {import("./client.js").JobResult} result
   */
  async function writeResult(source, result) {
    const [bx, by, bw, bh] = result.box;
    if (bx + bw > source.crop.w || by + bh > source.crop.h) {
      throw M.serverConfused(`the result box ${result.box} lies outside the picture sent`);
    }
    const target = { left: source.crop.x + bx, top: source.crop.y + by, width: bw, height: bh };
    const doc = app.documents.find((/** @type {any} */ d) => d.id === source.documentID);
    if (!doc) throw M.documentGone();
    const documentID = doc.id;
    const split = (result.objects || []).length > 0;
    const name = split ? splitGroupName(source.layerName) : groupName(source.layerName);
    await core.executeAsModal(async (/** @type {any} */ context) => {
      const layer = findLayer(doc.layers, source.layerID);
      if (!layer) throw M.layerGone();
      if (!sameBytes(/** @type {Uint8Array} */ (await readLayer(documentID, layer, source.crop)), source.image)) {
        throw M.layerChanged();
      }
      const suspension = await context.hostControl.suspendHistory({ documentID, name: HISTORY_NAME });
      let commit = false;
      try {
        if (split) await buildSplit(doc, layer, source, result, target, name);
        else await build(doc, layer, source, result, target, name);
        commit = true;
      } catch (err) {
        if (err instanceof M.UserError) throw err;
        throw M.writeFailed(String(/** @type {Error} */ (err).message || err));
      } finally {
        // Not committed: Photoshop drops everything done since suspendHistory.
        await context.hostControl.resumeHistory(suspension, commit);
      }
    }, { commandName: HISTORY_NAME });
    return name;
  }

  /**
   * The layers, the mask and the group, inside the suspended history (any throw drops all of it).
   * @param {any} doc @param {any} layer @param {Source} source @param {import("./client.js").JobResult} result
   * @param {{left: number, top: number, width: number, height: number}} target @param {string} name
   */
  async function build(doc, layer, source, result, target, name) {
    const background = await newLayerWith(doc, BACKGROUND_NAME, ...(await backgroundPixels(doc, layer, source, result, target)));
    const [, , w, h] = result.box;
    const box = { x: target.left, y: target.top, w, h };
    // A result without objects has both (client.jobResult).
    const foreground = /** @type {Uint8Array} */ (result.foreground), visibility = /** @type {Uint8Array} */ (result.visibility);
    const object = await newLayerWith(doc, OBJECT_NAME, foreground, box, source.depth);
    if (hasHiddenParts(foreground, visibility)) await addHidingMask(doc, object, visibility, box, source.depth);
    await groupInOrder(doc, layer, name, [object, background]);
    layer.visible = false;
  }

  /**
   * A split result: the clean plate, one layer per object (bottom first, so the last is on top), the
   * group; then the top object active and the selection gone. Inside the suspended history, as `build`.
   * @param {any} doc @param {any} layer @param {Source} source @param {import("./client.js").JobResult} result
   * @param {{left: number, top: number, width: number, height: number}} target @param {string} name
   */
  async function buildSplit(doc, layer, source, result, target, name) {
    const plate = await newLayerWith(doc, plateName(source.layerName),
      ...(await backgroundPixels(doc, layer, source, result, target)));
    const objects = [];
    for (const [i, part] of result.objects.entries()) {
      const [x, y, w, h] = part.box;
      const box = { x: source.crop.x + x, y: source.crop.y + y, w, h };
      const object = await newLayerWith(doc, objectName(source.layerName, i + 1), part.foreground, box, source.depth);
      if (hasHiddenParts(part.foreground, part.visibility)) {
        await addHidingMask(doc, object, part.visibility, box, source.depth);
      }
      objects.push(object);
    }
    const top = objects[objects.length - 1];
    await groupInOrder(doc, layer, name, [...objects].reverse().concat([plate]));
    layer.visible = false;
    // (The DOM has no documented call to make a layer active: batchPlay's select, as for the mask.)
    await play([{ _obj: "select", _target: [{ _ref: "layer", _id: top.id }], makeVisible: false }],
      "selecting the top object");
    await doc.selection.deselect();
  }

  /**
   * Background's pixels: the source layer's own (at the document's depth, so a 16-bit picture keeps its
   * precision outside the box) over its bounds, with the plate put in over the result's box.
   * @param {any} doc @param {any} layer @param {Source} source @param {import("./client.js").JobResult} result
   * @param {{left: number, top: number, width: number, height: number}} target
   * @returns {Promise<[Uint8Array | Uint16Array, R.Rect, 8 | 16]>}
   */
  async function backgroundPixels(doc, layer, source, result, target) {
    const canvas = { x: 0, y: 0, w: doc.width, h: doc.height };
    const box = { x: target.left, y: target.top, w: target.width, h: target.height };
    const own = R.intersect(fromBounds(layer.boundsNoEffects), canvas);
    const area = R.isEmpty(own) ? box : R.union(own, box);
    const pixels = await readLayer(doc.id, layer, area, source.depth);
    const scale = source.depth === 16 ? to16 : (/** @type {number} */ v) => v;
    paste(result.background, 4, box, pixels, 4, area, scale);
    return [pixels, area, source.depth];
  }

  /**
   * A new, empty pixel layer holding `pixels` (RGBA over `area`). Into an empty layer, `replace: false`
   * gives the data itself whether Photoshop overwrites or blends (the documentation leaves it open).
   * @param {any} doc @param {string} name @param {Uint8Array | Uint16Array} pixels @param {R.Rect} area @param {8 | 16} depth
   */
  async function newLayerWith(doc, name, pixels, area, depth) {
    const layer = await doc.createPixelLayer({ name });
    await put("putPixels", doc.id, layer.id, pixels, area, 4, depth);
    return layer;
  }

  /**
   * `putPixels` or `putLayerMask` of `pixels` (`components` a pixel) over `area`, never replacing the rest.
   * @param {"putPixels" | "putLayerMask"} method called on `imaging` itself @param {number} documentID @param {number} layerID
   * @param {Uint8Array | Uint16Array} pixels @param {R.Rect} area @param {number} components @param {8 | 16} depth
   */
  async function put(method, documentID, layerID, pixels, area, components, depth) {
    const data = await imageData(pixels, area.w, area.h, components, depth);
    try {
      await imaging[method]({ documentID, layerID, imageData: data, replace: false,
        targetBounds: { left: area.x, top: area.y, width: area.w, height: area.h } });
    } finally {
      data.dispose();
    }
  }

  /**
   * Recovered parts behind occluders stay hidden behind a layer mask until the artist moves the object:
   * a reveal-all mask (batchPlay: the DOM has no call for it), then the visibility over the box.
   * @param {any} doc @param {any} object @param {Uint8Array} visibility @param {R.Rect} box @param {8 | 16} depth
   */
  async function addHidingMask(doc, object, visibility, box, depth) {
    await play([
      { _obj: "select", _target: [{ _ref: "layer", _id: object.id }], makeVisible: false },
      { _obj: "make", new: { _class: "channel" }, at: { _ref: "channel", _enum: "channel", _value: "mask" },
        using: { _enum: "userMaskEnabled", _value: "revealAll" } },
    ], "adding the layer mask");
    await put("putLayerMask", doc.id, object.id, visibility, box, 1, depth);
  }

  /**
   * Play `descriptors`; a failure throws, whether batchPlay rejects or (as it may) answers with an error
   * descriptor instead. @param {any[]} descriptors @param {string} what for the error message
   */
  async function play(descriptors, what) {
    const answers = await action.batchPlay(descriptors, {});
    const failed = (answers || []).find((/** @type {any} */ a) => a && a._obj === "error");
    if (failed) throw new Error(`${what} failed: ${failed.message || failed.result}`);
  }

  /**
   * A group in the source's place (its opacity and blending too) holding `children`, top first. Where
   * `placeInside` puts a layer is not documented: the order is read back and put right by placing each
   * child below the one before it; a group that still differs fails the write (and so drops it all).
   * @param {any} doc @param {any} layer @param {string} name @param {any[]} children top first
   */
  async function groupInOrder(doc, layer, name, children) {
    const group = await doc.createLayerGroup({ name });
    group.opacity = layer.opacity;
    group.blendMode = layer.blendMode;
    for (const child of [...children].reverse()) child.move(group, constants.ElementPlacement.PLACEINSIDE);
    const ids = () => (group.layers || []).map((/** @type {any} */ l) => l.id);
    const wanted = children.map((c) => c.id);
    if (!sameList(ids(), wanted)) {
      for (let i = 1; i < children.length; i++) children[i].move(children[i - 1], constants.ElementPlacement.PLACEAFTER);
      if (!sameList(ids(), wanted)) throw new Error(`the group holds ${ids()} where ${wanted} was wanted`);
    }
    group.move(layer, constants.ElementPlacement.PLACEBEFORE);
    return group;
  }

  return { readSource, writeResult };
}

/** @param {string} mode */
function describeMode(mode) {
  /** @type {Record<string, string>} */
  const names = {
    bitmapMode: "a bitmap picture", CMYKColorMode: "a CMYK picture", duotoneMode: "a duotone picture",
    grayscaleMode: "a greyscale picture", indexedColorMode: "an indexed-colour picture", labColorMode: "a Lab picture",
    multichannelMode: "a multichannel picture",
  };
  return names[mode] || mode;
}

module.exports = { OBJECT_NAME, BACKGROUND_NAME, HISTORY_NAME, groupName, splitGroupName, objectName, plateName, createHost, hasHiddenParts, to8, to16 };
