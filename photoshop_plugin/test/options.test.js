// The panel's per-job settings drawn from the server's schema (options.js): fields, values checked
// against the schema before anything is sent, the backend picker from welcome.methods. The schema comes
// from a real server in panel.test.js; here, each type on its own.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { formFields, optionsFrom, methodChoices } = require("../src/options.js");

/** One entry of each type, as welcome.schema lists them (layerdecomp/options.py's to_json). */
const SCHEMA = [
  { name: "matting", type: "choice", default: "closed_form", label: "Edge", help: "How the edge is found.",
    choices: [{ value: "closed_form", label: "Careful" }, { value: "guided", label: "Quick" }] },
  { name: "seed", type: "seed", default: 0, label: "Variation", help: "Another number, another try.", min: 0, max: 4294967295 },
  { name: "steps", type: "int", default: 28, label: "Steps", help: "More is slower.", min: 1, max: 200 },
  { name: "strength", type: "float", default: null, label: "Strength", help: "How much.", min: 0, max: 1 },
  { name: "refine", type: "bool", default: true, label: "Refine", help: "A second pass." },
  { name: "prompt", type: "text", default: "", label: "Prompt", help: "What is behind." },
  { name: "future", type: "colour", default: "red", label: "Tint", help: "A type this plugin does not know." },
];

test("one field per schema entry, the widget its type asks for, the saved value or the default", () => {
  const fields = formFields(SCHEMA, { steps: 40 });
  assert.deepEqual(fields.map((f) => [f.name, f.control, f.value]), [
    ["matting", "select", "closed_form"], ["seed", "number", 0], ["steps", "number", 40], ["strength", "number", null],
    ["refine", "checkbox", true], ["prompt", "text", ""], ["future", "text", "red"],
  ]);
  const steps = fields[2];
  assert.deepEqual([steps.min, steps.max, steps.step, steps.label, steps.help], [1, 200, "1", "Steps", "More is slower."]);
  assert.equal(fields[3].step, "any");
  assert.deepEqual(fields[0].choices, SCHEMA[0].choices);
});

test("values in their types; empty fields left to the server; out of range or of kind: a sentence, not sent", () => {
  const good = optionsFrom(SCHEMA, { matting: "guided", seed: "7", steps: "12", strength: "0.5", refine: false, prompt: "sky",
    future: "blue" });
  assert.deepEqual(good, { options: { matting: "guided", seed: 7, steps: 12, strength: 0.5, refine: false, prompt: "sky",
    future: "blue" }, problems: [] });
  assert.deepEqual(optionsFrom(SCHEMA, { steps: "", strength: "" }), { options: {}, problems: [] });
  const bad = optionsFrom(SCHEMA, { matting: "fast", steps: "2.5", strength: "3", seed: "-1" });
  assert.deepEqual(bad.options, {});
  assert.deepEqual(bad.problems, [
    "Edge: choose one of Careful, Quick.",
    "Variation: a number from 0 to 4294967295, not -1.",
    "Steps: a whole number from 1 to 200, not “2.5”.",
    "Strength: a number from 0 to 1, not 3.",
  ]);
});

test("the backend picker: the server's own first, every method, one that cannot run disabled with its reason", () => {
  const methods = [
    { name: "classical", label: "Classical", description: "Fast, on the CPU.", available: true, reason: "" },
    { name: "diffusion", label: "Diffusion", description: "Paints hidden parts.", available: false,
      reason: "needs the diffusion weights: layerdecomp install --weights-set diffusion" },
  ];
  assert.deepEqual(methodChoices(methods, "classical"), [
    { value: "", label: "The server's (Classical)", disabled: false, hint: "Fast, on the CPU." },
    { value: "classical", label: "Classical", disabled: false, hint: "Fast, on the CPU." },
    { value: "diffusion", label: "Diffusion", disabled: true, hint: "needs the diffusion weights: layerdecomp install --weights-set diffusion" },
  ]);
});
