/**
 * The panel's per-job settings drawn from what the server says it takes: `welcome.schema` (each option's
 * name, type, default, label, help, and min/max or choices) and `welcome.methods` (every backend, whether
 * this server runs it, and why not). Host-free: main.js turns the fields into widgets; the Node tests
 * read the schema from a real server.
 *
 * Types (layerdecomp/options.py): "int", "seed" (whole numbers), "float", "bool", "choice" (one of
 * `choices: [{value, label}]`), "text". A type this plugin does not know is shown as text and sent as
 * typed, so a newer server's option stays usable.
 */
"use strict";

/**
 * @typedef {{name: string, type: string, default?: any, label: string, help: string, min?: number, max?: number,
 *   choices?: Array<{value: string, label: string}>}} SchemaEntry
 * @typedef {{name: string, control: "number" | "checkbox" | "select" | "text", label: string, help: string,
 *   value: any, min?: number, max?: number, step?: string, choices?: Array<{value: string, label: string}>}} Field
 */

const WHOLE = ["int", "seed"];

/**
 * One form field per schema entry, holding `saved[name]` if the artist set it, else the default.
 * @param {SchemaEntry[]} schema @param {Record<string, any>} [saved] @returns {Field[]}
 */
function formFields(schema, saved = {}) {
  return schema.map((entry) => {
    const value = Object.prototype.hasOwnProperty.call(saved, entry.name) ? saved[entry.name] : entry.default;
    /** @type {Field} */
    const field = { name: entry.name, control: "text", label: entry.label, help: entry.help, value };
    if (entry.type === "bool") field.control = "checkbox";
    else if (entry.type === "choice" && Array.isArray(entry.choices)) {
      field.control = "select";
      field.choices = entry.choices;
    } else if (WHOLE.includes(entry.type) || entry.type === "float") {
      field.control = "number";
      field.step = entry.type === "float" ? "any" : "1";
      if (typeof entry.min === "number") field.min = entry.min;
      if (typeof entry.max === "number") field.max = entry.max;
    }
    return field;
  });
}

/**
 * What the form holds, as per-job options for the server: each value in its type, checked against the
 * schema's range and choices; an empty field is left out (the server's default). `problems` are
 * sentences an artist can act on; nothing with a problem is sent.
 * @param {SchemaEntry[]} schema @param {Record<string, string | boolean>} form the widgets' values by name
 * @returns {{options: Record<string, any>, problems: string[]}}
 */
function optionsFrom(schema, form) {
  /** @type {Record<string, any>} */
  const options = {};
  const problems = [];
  for (const entry of schema) {
    const raw = form[entry.name];
    if (raw === undefined || raw === "") continue;
    const [value, problem] = parse(entry, raw);
    if (problem) problems.push(`${entry.label}: ${problem}.`);
    else options[entry.name] = value;
  }
  return { options, problems };
}

/** @param {SchemaEntry} entry @param {string | boolean} raw @returns {[any, string | null]} */
function parse(entry, raw) {
  if (entry.type === "bool") return [raw === true || raw === "true", null];
  if (entry.type === "choice") {
    const values = (entry.choices || []).map((c) => c.value);
    return values.includes(String(raw)) ? [String(raw), null]
      : [null, `choose one of ${(entry.choices || []).map((c) => c.label).join(", ")}`];
  }
  if (!WHOLE.includes(entry.type) && entry.type !== "float") return [raw, null];
  const text = String(raw).trim();
  const number = Number(text);
  const whole = WHOLE.includes(entry.type);
  if (text === "" || !Number.isFinite(number) || (whole && !Number.isInteger(number))) {
    return [null, `${whole ? "a whole number" : "a number"}${range(entry)}, not “${text}”`];
  }
  if ((typeof entry.min === "number" && number < entry.min) || (typeof entry.max === "number" && number > entry.max)) {
    return [null, `a number${range(entry)}, not ${text}`];
  }
  return [number, null];
}

/** @param {SchemaEntry} entry */
function range(entry) {
  const low = typeof entry.min === "number", high = typeof entry.max === "number";
  if (low && high) return ` from ${entry.min} to ${entry.max}`;
  if (low) return ` of at least ${entry.min}`;
  return high ? ` of at most ${entry.max}` : "";
}

/**
 * The backend picker: the server's own first, then every method it knows; one it cannot run is
 * offered disabled, with its reason as the hint.
 * @param {Array<{name: string, label: string, description: string, available: boolean, reason: string}>} methods
 * @param {string} serving the backend the server runs
 * @returns {Array<{value: string, label: string, disabled: boolean, hint: string}>}
 */
function methodChoices(methods, serving) {
  const own = methods.find((m) => m.name === serving);
  return [
    { value: "", label: `The server's (${own ? own.label : serving})`, disabled: false, hint: own ? own.description : "" },
    ...methods.map((m) => ({ value: m.name, label: m.label, disabled: !m.available,
      hint: m.available ? m.description : m.reason })),
  ];
}

module.exports = { formFields, optionsFrom, methodChoices };
