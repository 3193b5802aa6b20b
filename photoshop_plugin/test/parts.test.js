// Several objects in one go (issue 26), protocol.js and client.js with messages made here: the welcome's
// `features`, the decompose's `parts` (left out unless true), the result's `objects` (left out when
// empty) and the frame order after a result with objects. The golden vectors (protocol.test.js) and
// the real server (panel.test.js) check the same against the Python side.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const P = require("../src/protocol.js");
const { jobResult } = require("../src/client.js");
const { stageText } = require("../src/controller.js");

const FORMATS = { foreground: "RGBA8", background: "RGBA8", visibility: "A8" };

/** A result text for job 5, 40 x 30, box [4, 2, 30, 20], with `objects` (left out when undefined). @param {any} [objects] */
function resultText(objects) {
  const fields = { type: "result", job: 5, width: 40, height: 30, box: [4, 2, 30, 20], formats: FORMATS, metadata: {} };
  return JSON.stringify(objects === undefined ? fields : { ...fields, objects });
}

const TWO = [{ box: [4, 2, 10, 8] }, { box: [20, 10, 14, 12] }];

test("decompose: parts is left out of the JSON unless true, so an older server gets what it always got", () => {
  const plain = P.encode({ type: "decompose", job: 1, width: 640, height: 480 });
  assert.equal(plain, '{"type":"decompose","job":1,"width":640,"height":480,"format":"RGBA8","backend":null,' +
    '"margin":null,"grow":null,"options":{}}');
  assert.equal(P.encode({ type: "decompose", job: 1, width: 640, height: 480, parts: false }), plain);
  assert.equal(P.encode({ type: "decompose", job: 1, width: 640, height: 480, parts: true }),
    plain.replace(/}$/, ',"parts":true}'));
  assert.equal(P.decode(plain).parts, false);
  assert.equal(P.decode(plain.replace(/}$/, ',"parts":true}')).parts, true);
  assert.throws(() => P.decode(plain.replace(/}$/, ',"parts":1}')), { code: "bad_message", job: 1 });
});

test("welcome: features is a list of strings, empty from a server that names none", () => {
  const welcome = { type: "welcome", server: "layerdecomp", backend: "classical", device: "cpu" };
  assert.deepEqual(P.decode(JSON.stringify(welcome)).features, []);
  assert.deepEqual(P.decode(JSON.stringify({ ...welcome, features: ["parts", "later"] })).features, ["parts", "later"]);
  assert.throws(() => P.decode(JSON.stringify({ ...welcome, features: "parts" })), { code: "bad_message" });
  assert.throws(() => P.decode(JSON.stringify({ ...welcome, features: [1] })), { code: "bad_message" });
});

test("result: objects decode, and are left out of the JSON when empty", () => {
  assert.deepEqual(P.decode(resultText()).objects, []);
  assert.deepEqual(JSON.parse(P.encode(P.decode(resultText([])))), JSON.parse(resultText()));
  const split = P.decode(resultText(TWO));
  assert.deepEqual(split.objects, TWO);
  assert.deepEqual(JSON.parse(P.encode(split)), JSON.parse(resultText(TWO)));
});

test("result: 2 to 16 objects, each a non-empty box inside the result's box, and nothing but a box", () => {
  const good = TWO[0];
  for (const bad of [
    { box: [4, 2, 0, 8] }, // empty
    { box: [3, 2, 10, 8] }, // left of the box
    { box: [4, 2, 31, 8] }, // past its right edge
    { box: [4, 2, 10, 21] }, // past its bottom
    { box: [4, 2, 10] },
    { box: [4, 2, 10, -1] },
    { box: [4, 2, 10, 8], name: "cup" },
    [4, 2, 10, 8],
    {},
  ]) {
    assert.throws(() => P.decode(resultText([good, bad])), { code: "bad_message", job: 5 }, JSON.stringify(bad));
  }
  assert.throws(() => P.decode(resultText({ box: [4, 2, 10, 8] })), { code: "bad_message", job: 5 });
  assert.throws(() => P.decode(resultText([good])), { code: "bad_message", job: 5 }, "one object is an ordinary result");
  assert.equal(P.decode(resultText(Array(P.MAX_OBJECTS).fill(good))).objects.length, 16);
  assert.throws(() => P.decode(resultText(Array(P.MAX_OBJECTS + 1).fill(good))), { code: "bad_message", job: 5 });
});

test("frames after a result with objects: each object's foreground and visibility at its box, then one background", () => {
  const at = (/** @type {string} */ role, /** @type {string} */ format, /** @type {number[]} */ [x, y, width, height]) =>
    ({ job: 5, role, format, width, height, x, y });
  assert.deepEqual(P.resultFrames(P.decode(resultText(TWO))), [
    at("foreground", "RGBA8", [4, 2, 10, 8]), at("visibility", "A8", [4, 2, 10, 8]),
    at("foreground", "RGBA8", [20, 10, 14, 12]), at("visibility", "A8", [20, 10, 14, 12]),
    at("background", "RGBA8", [4, 2, 30, 20]),
  ]);
  // Without objects: as before.
  assert.deepEqual(P.resultFrames(P.decode(resultText())).map((h) => h.role), ["foreground", "background", "visibility"]);
});

test("FrameCollector keeps frames that share a role in arrival order, and refuses them out of order", () => {
  const frames = P.resultFrames(P.decode(resultText(TWO)));
  const collector = new P.FrameCollector(frames);
  assert.throws(() => collector.add(frames[2], new Uint8Array(P.payloadSize(frames[2]))), { code: "bad_frame" });
  const sent = frames.map((h, i) => new Uint8Array(P.payloadSize(h)).fill(i + 1));
  frames.forEach((h, i) => assert.equal(collector.add(h, sent[i]), i === frames.length - 1));
  assert.deepEqual(collector.received.map(([h]) => h), frames);
  assert.deepEqual(collector.received.map(([, pixels]) => pixels[0]), [1, 2, 3, 4, 5]);
  assert.throws(() => collector.add(frames[4], sent[4]), { code: "bad_frame" });
});

/** The frames a server would send for `text`, each filled with its index + 1. @param {string} text */
function serverFrames(text) {
  return P.resultFrames(P.decode(text)).map((h, i) => P.unpackFrame(P.packFrame(h, new Uint8Array(P.payloadSize(h)).fill(i + 1))));
}

test("a job that asked for parts: the split result, its objects bottom first, and the plate", () => {
  const job = new P.ClientJob({ type: "decompose", job: 5, width: 40, height: 30, parts: true });
  assert.match(P.encode(job.request), /,"parts":true}$/);
  job.receive(P.decode(resultText(TWO)));
  for (const frame of serverFrames(resultText(TWO))) job.receive(frame);
  assert.equal(job.outcome, "result");
  const result = jobResult(/** @type {any} */ (job.result), job.received);
  assert.deepEqual(result.box, [4, 2, 30, 20]);
  assert.deepEqual(result.objects.map((o) => [o.box, o.foreground.length, o.foreground[0], o.visibility.length, o.visibility[0]]),
    [[[4, 2, 10, 8], 10 * 8 * 4, 1, 10 * 8, 2], [[20, 10, 14, 12], 14 * 12 * 4, 3, 14 * 12, 4]]);
  assert.equal(result.background.length, 30 * 20 * 4);
  assert.equal(result.background[0], 5);
  assert.equal(result.foreground, undefined);
});

test("a job that asked for parts and got one object: today's result", () => {
  const job = new P.ClientJob({ type: "decompose", job: 5, width: 40, height: 30, parts: true });
  job.receive(P.decode(resultText()));
  for (const frame of serverFrames(resultText())) job.receive(frame);
  const result = jobResult(/** @type {any} */ (job.result), job.received);
  assert.deepEqual([result.foreground?.[0], result.background[0], result.visibility?.[0], result.objects], [1, 2, 3, []]);
});

test("a result split into objects for a job that did not ask for parts is refused", () => {
  const job = new P.ClientJob({ type: "decompose", job: 5, width: 40, height: 30 });
  assert.doesNotMatch(P.encode(job.request), /parts/);
  assert.throws(() => job.receive(P.decode(resultText(TWO))), { code: "bad_message" });
});

test("the numbered stages of a split (one group of parts after another) are said in words", () => {
  assert.equal(stageText("fill"), "Painting the background behind the object…");
  assert.equal(stageText("fill 2/3"), "Painting the background behind the object… (2 of 3)");
  assert.equal(stageText("alpha 1/1"), "Finding the object's edge…");
  assert.equal(stageText("refine 1/2"), "Refine… (1 of 2)");
});
