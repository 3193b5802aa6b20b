/**
 * Which pixels a job covers: the selection's true bounds and the crop around them.
 *
 * The same rule as the Krita plugin's region.py and layerdecomp.region.plan_region: the selection's
 * bounds, plus `grow` (how far the hole reaches beyond the selection), plus a context `margin`,
 * clipped to the canvas. The server gets exactly that crop with the same margin and grow, so its
 * result equals decomposing the whole canvas.
 */
"use strict";

// As layerdecomp.crop.DEFAULT_GROW (tests/photoshop checks them against each other).
const GROW = 12;

/** @typedef {{x: number, y: number, w: number, h: number}} Rect */

/** @param {Rect} a @param {Rect} b @returns {Rect} */
function intersect(a, b) {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}

/** The smallest rectangle holding both. @param {Rect} a @param {Rect} b @returns {Rect} */
function union(a, b) {
  const x0 = Math.min(a.x, b.x), y0 = Math.min(a.y, b.y);
  return { x: x0, y: y0, w: Math.max(a.x + a.w, b.x + b.w) - x0, h: Math.max(a.y + a.h, b.y + b.h) - y0 };
}

/** @param {Rect} r */
const isEmpty = (r) => r.w <= 0 || r.h <= 0;

/** @param {Rect} a @param {Rect} b */
const sameRect = (a, b) => a.x === b.x && a.y === b.y && a.w === b.w && a.h === b.h;

/**
 * The smallest rectangle holding every non-zero byte of `mask` (the pixels of `rect`, row by row),
 * in `rect`'s coordinates; null when all bytes are 0.
 * @param {Uint8Array} mask @param {Rect} rect @returns {Rect | null}
 */
function tightBounds(mask, rect) {
  if (mask.length !== rect.w * rect.h) throw new RangeError(`the mask has ${mask.length} bytes, expected ${rect.w} x ${rect.h}`);
  let top = -1, bottom = -1, left = rect.w, right = -1;
  for (let row = 0; row < rect.h; row++) {
    const line = mask.subarray(row * rect.w, (row + 1) * rect.w);
    let first = 0;
    while (first < rect.w && line[first] === 0) first++;
    if (first === rect.w) continue;
    let last = rect.w - 1;
    while (line[last] === 0) last--;
    if (top < 0) top = row;
    bottom = row;
    left = Math.min(left, first);
    right = Math.max(right, last);
  }
  if (top < 0) return null;
  return { x: rect.x + left, y: rect.y + top, w: right - left + 1, h: bottom - top + 1 };
}

/** True when every byte is 255 (fully selected). @param {Uint8Array} mask */
function allSelected(mask) {
  return mask.every((v) => v === 255);
}

/** A quarter of the selection's larger side, at least 16 px, at most 512 px (as the core's). @param {Rect} selection */
function defaultMargin(selection) {
  return Math.min(512, Math.max(16, roundHalfEven(0.25 * Math.max(selection.w, selection.h))));
}

/** Python's round(): halves go to the even neighbour (16.5 -> 16), as the server's margin rule does. @param {number} v */
function roundHalfEven(v) {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest !== 0.5) return Math.round(v);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The rectangle to send and the margin that produced it (`margin` null or negative: the default).
 * @param {Rect} selection @param {Rect} canvas @param {number | null} [margin] @param {number} [grow]
 * @returns {{crop: Rect, margin: number}}
 */
function planCrop(selection, canvas, margin = null, grow = GROW) {
  const m = margin === null || margin === undefined || margin < 0 ? defaultMargin(selection) : margin;
  const pad = grow + m;
  const grown = { x: selection.x - pad, y: selection.y - pad, w: selection.w + 2 * pad, h: selection.h + 2 * pad };
  return { crop: intersect(grown, canvas), margin: m };
}

module.exports = { GROW, roundHalfEven, intersect, union, isEmpty, sameRect, tightBounds, allSelected, defaultMargin, planCrop };
