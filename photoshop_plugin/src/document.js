/**
 * Reading the source pixels from Photoshop and writing the result layers back (the host layer).
 *
 * Everything here goes through the `photoshop` module handed in (the real one in Photoshop, a fake
 * in the tests). Reading: the active pixel layer over the selection's bounds plus context, with
 * `imaging.getPixels` (asked for 8 bits a channel), and the selection's grey levels with
 * `imaging.getSelection` (16-bit documents give 0..32768; scaled to 0..255 here).
 *
 * Writing happens once a complete result is in hand, in ONE `core.executeAsModal` with
 * `hostControl.suspendHistory`: a group above the source holding Background (a duplicate of the
 * source with the cropped plate put in) and Object (the object; a layer mask hides recovered hidden
 * parts), and the source hidden, all one history state, one undo. If anything fails on the way, the
 * suspension is resumed without committing, so Photoshop drops every change: the document is as it was.
 */
"use strict";

const M = require("./messages.js");
const R = require("./region.js");

const OBJECT_NAME = "Object";
const BACKGROUND_NAME = "Background";
const HISTORY_NAME = "Decompose Selection";

/** @param {string} layerName */
const groupName = (layerName) => `${layerName} (decomposed)`;

/**
 * @typedef {{documentID: number, layerID: number, layerName: string, depth: 8 | 16, crop: R.Rect, margin: number,
 *   grow: number, image: Uint8Array, mask: Uint8Array}} Source  what was read for one job (image RGBA8, mask A8 over crop)
 */

/** @param {R.Rect} r */
const toBounds = (r) => ({ left: r.x, top: r.y, right: r.x + r.w, bottom: r.y + r.h });
/** @param {{left: number, top: number, right: number, bottom: number}} b @returns {R.Rect} */
const fromBounds = (b) => ({ x: b.left, y: b.top, w: b.right - b.left, h: b.bottom - b.top });

// Photoshop's 16-bit range is 0..32768 ("reduced range", the imaging API's default).
const MAX16 = 32768;
/** @param {number} v */
const to8 = (v) => Math.round((v * 255) / MAX16);
/** @param {number} v */
const to16 = (v) => Math.round((v * MAX16) / 255);

/**
 * Copy `data` (`components` channels over `from`) into `target` (`channels` channels over `into`),
 * adding opaque alpha when the source has 3 channels; pixels of `into` that `from` does not cover stay.
 * @param {ArrayLike<number>} data @param {number} components @param {R.Rect} from
 * @param {Uint8Array} target @param {number} channels @param {R.Rect} into @param {(v: number) => number} scale
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

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The Photoshop side of a job. @param {typeof import("photoshop")} photoshop the `photoshop` module */
function createHost(photoshop) {
  const { app, core, imaging, action, constants } = photoshop;
  const identity = (/** @type {number} */ v) => v;

  /** @param {number} documentID @param {R.Rect} rect @param {8 | 16} depth @returns {Promise<Uint8Array>} */
  async function readSelection(documentID, rect, depth) {
    const out = new Uint8Array(rect.w * rect.h);
    const got = await imaging.getSelection({ documentID, sourceBounds: toBounds(rect) });
    try {
      const data = await got.imageData.getData({ chunky: true });
      paste(data, 1, fromBounds(got.sourceBounds), out, 1, rect, depth === 16 ? to8 : identity);
    } finally {
      got.imageData.dispose();
    }
    return out;
  }

  /** The layer's RGBA8 pixels over `rect` (transparent where the layer has none). @param {number} documentID @param {any} layer @param {R.Rect} rect */
  async function readLayer(documentID, layer, rect) {
    const out = new Uint8Array(rect.w * rect.h * 4);
    // getPixels trims to where the layer has pixels (and refuses a region without any).
    const area = R.intersect(rect, fromBounds(layer.boundsNoEffects));
    if (R.isEmpty(area)) return out;
    const got = await imaging.getPixels({ documentID, layerID: layer.id, sourceBounds: toBounds(area), componentSize: 8 });
    try {
      const data = await got.imageData.getData({ chunky: true });
      paste(data, got.imageData.components, fromBounds(got.sourceBounds), out, 4, rect, identity);
    } finally {
      got.imageData.dispose();
    }
    return out;
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
      const data = await readSelection(documentID, rect, depth);
      const tight = R.tightBounds(data, rect);
      if (!tight) throw M.emptySelection();
      if (R.sameRect(tight, canvas) && R.allSelected(data)) throw M.wholeImage();
      const plan = R.planCrop(tight, canvas, margin);
      const mask = await readSelection(documentID, plan.crop, depth);
      const image = await readLayer(documentID, layer, plan.crop);
      return { documentID, layerID: layer.id, layerName: layer.name, depth, crop: plan.crop, margin: plan.margin,
        grow: R.GROW, image, mask };
    }, { commandName: "Reading the selection" });
  }

  /** @param {Uint8Array} bytes @param {number} w @param {number} h @param {number} components @param {8 | 16} depth */
  function imageData(bytes, w, h, components, depth) {
    const buffer = depth === 16 ? Uint16Array.from(bytes, to16) : bytes;
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
    const name = groupName(source.layerName);
    await core.executeAsModal(async (/** @type {any} */ context) => {
      const layer = findLayer(doc.layers, source.layerID);
      if (!layer) throw M.layerGone();
      if (!sameBytes(await readLayer(documentID, layer, source.crop), source.image)) throw M.layerChanged();
      const suspension = await context.hostControl.suspendHistory({ documentID, name: HISTORY_NAME });
      let commit = false;
      try {
        await build(doc, layer, source, result, target, name);
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

  /** @param {any} doc @param {any} layer @param {Source} source @param {import("./client.js").JobResult} result @param {{left: number, top: number, width: number, height: number}} target @param {string} name */
  async function build(doc, layer, source, result, target, name) {
    const [, , w, h] = result.box;
    const documentID = doc.id;
    // Background: the whole source layer (its pixels beyond the crop too), with the plate put in.
    const background = await layer.duplicate();
    background.name = BACKGROUND_NAME;
    background.visible = true;
    background.opacity = 100;
    background.blendMode = constants.BlendMode.NORMAL;
    const plate = await imageData(result.background, w, h, 4, source.depth);
    await imaging.putPixels({ documentID, layerID: background.id, imageData: plate, targetBounds: target, replace: false });
    plate.dispose();

    const object = await doc.createPixelLayer({ name: OBJECT_NAME });
    const pixels = await imageData(result.foreground, w, h, 4, source.depth);
    await imaging.putPixels({ documentID, layerID: object.id, imageData: pixels, targetBounds: target, replace: false });
    pixels.dispose();
    if (hasHiddenParts(result.foreground, result.visibility)) {
      // Recovered parts behind occluders stay hidden behind a layer mask until the artist moves the object.
      await action.batchPlay([
        { _obj: "select", _target: [{ _ref: "layer", _id: object.id }], makeVisible: false },
        { _obj: "make", new: { _class: "channel" }, at: { _ref: "channel", _enum: "channel", _value: "mask" },
          using: { _enum: "userMaskEnabled", _value: "revealAll" } },
      ], {});
      const visible = await imageData(result.visibility, w, h, 1, source.depth);
      await imaging.putLayerMask({ documentID, layerID: object.id, imageData: visible, targetBounds: target, replace: false });
      visible.dispose();
    }

    // The group takes the source's place in the stack, so it takes its opacity and blending too.
    const group = await doc.createLayerGroup({ name });
    group.opacity = layer.opacity;
    group.blendMode = layer.blendMode;
    background.move(group, constants.ElementPlacement.PLACEINSIDE);
    object.move(group, constants.ElementPlacement.PLACEINSIDE);
    group.move(layer, constants.ElementPlacement.PLACEBEFORE);
    layer.visible = false;
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

module.exports = { OBJECT_NAME, BACKGROUND_NAME, HISTORY_NAME, groupName, createHost, hasHiddenParts, to8, to16 };
