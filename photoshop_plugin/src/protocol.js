/**
 * The layerdecomp wire protocol in JavaScript, sans I/O: messages <-> websocket frames, and their validation.
 *
 * A port of server/protocol/ (the reference; docs/protocol.md describes both). It is kept
 * byte-compatible with the Python package by shared golden vectors (tests/golden/protocol_vectors.json,
 * written by the Python side): both languages' tests encode and decode every vector identically.
 *
 * One known difference, inherent to JavaScript: JSON numbers have no integer/float distinction here, so
 * an integral float such as `1.0` in an integer field (which Python refuses) is accepted, and a client
 * option `1.0` is written as `1`. The server never sends integral floats in integer fields.
 *
 * Plain CommonJS, needing only sha256.js beside it: it runs in Photoshop's UXP and in Node alike.
 */
"use strict";

const { hmacSha256, utf8, toHex } = require("./sha256.js");

const PROTOCOL_VERSION = 3;
const DEFAULT_PORT = 8765;
const FRAME_MAGIC = [0x4c, 0x44, 0x50, 0x58]; // "LDPX"
const HEADER_SIZE = 28;
const MAX_JOB_ID = 4294967295;
// The most objects one result may carry (a decompose with `parts`: one per separate part of the selection).
const MAX_OBJECTS = 16;

// The handshake (ClientHandshake, docs/protocol.md): each side proves it knows the token with an
// HMAC-SHA256 over both sides' fresh nonces; the token itself never travels.
const NONCE_BYTES = 32; // a nonce travels as 64 lowercase hex digits
const PROOF_HEX_DIGITS = 64;
// After the handshake every message carries a session tag (Channel): 32 bytes after a binary frame,
// 64 lowercase hex digits before a text message.
const MAC_BYTES = 32;
// The most a client reads in one message from a server that has not proved itself yet.
const CLIENT_PRE_AUTH_MAX_BYTES = 64 * 1024;
// The most either side reads in one JSON text message once authenticated.
const MAX_TEXT_BYTES = 1024 * 1024;
// JSON nested deeper than this is refused (Python refuses what its recursion limit cannot parse).
const MAX_JSON_DEPTH = 512;

const ErrorCode = Object.freeze({
  BAD_MESSAGE: "bad_message",
  BAD_FRAME: "bad_frame",
  UNSUPPORTED_VERSION: "unsupported_version",
  UNAUTHORIZED: "unauthorized",
  UNAUTHENTIC: "unauthentic",
  SERVER_UNVERIFIED: "server_unverified",
  TOO_LARGE: "too_large",
  BUSY: "busy",
  UNKNOWN_JOB: "unknown_job",
  DUPLICATE_JOB: "duplicate_job",
  TIMEOUT: "timeout",
  SHUTTING_DOWN: "shutting_down",
  INTERNAL: "internal_error",
  INVALID_INPUT: "invalid_input",
  BACKEND_UNAVAILABLE: "backend_unavailable",
  CANCELLED: "cancelled",
  ERROR: "error",
});

const CloseCode = Object.freeze({
  NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, POLICY_VIOLATION: 1008, TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
});

/** A peer's value for an error message: its JSON, cut to about 40 characters. @param {any} value */
function quote(value) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 42 ? `${text.slice(0, 40)}...` : text;
}

class ProtocolError extends Error {
  /** @param {string} code an ErrorCode value @param {string} message @param {number|null} [job] */
  constructor(code, message, job = null) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.job = job;
  }
}

/** What a binary frame holds: name -> number (and back with ROLE_NAMES). */
const Role = Object.freeze({ image: 1, mask: 2, foreground: 3, background: 4, visibility: 5 });
const ROLE_NAMES = Object.freeze(["", "image", "mask", "foreground", "background", "visibility"]);
/** Raw 8-bit pixel layouts: name -> number. */
const PixelFormat = Object.freeze({ RGBA8: 1, BGRA8: 2, A8: 3, RGB8: 4 });
const FORMAT_NAMES = Object.freeze(["", "RGBA8", "BGRA8", "A8", "RGB8"]);
const CHANNELS = Object.freeze({ RGBA8: 4, BGRA8: 4, A8: 1, RGB8: 3 });
const IMAGE_FORMATS = Object.freeze(["RGBA8", "BGRA8", "RGB8"]);
const RESULT_ROLES = Object.freeze(["foreground", "background", "visibility"]);

/** @param {string} imageFormat */
function foregroundFormat(imageFormat) {
  return imageFormat === "BGRA8" ? "BGRA8" : "RGBA8";
}

/** A server's limits (welcome.limits), with the reference's defaults. */
const DEFAULT_LIMITS = Object.freeze({
  max_message_bytes: HEADER_SIZE + 8192 * 8192 * 4 + MAC_BYTES,
  max_side: 16384,
  max_pixels: 8192 * 8192,
  max_queue: 16,
  max_jobs_per_connection: 4,
  max_upload_bytes: 1 << 30,
  max_connections: 32,
  max_pending: 16,
  idle_timeout_s: 120.0,
  upload_timeout_s: 60.0,
  hello_timeout_s: 5.0,
  send_timeout_s: 30.0,
  max_outbox_bytes: 4 * (HEADER_SIZE + 8192 * 8192 * 4 + MAC_BYTES),
});

/**
 * Throw `too_large` when a width x height image is over `limits` (as Limits.check_size).
 * @param {Record<string, number>} limits @param {number} width @param {number} height @param {number|null} [job]
 */
function checkSize(limits, width, height, job = null) {
  if (width > limits.max_side || height > limits.max_side || width * height > limits.max_pixels) {
    throw new ProtocolError(ErrorCode.TOO_LARGE,
      `the image is ${width} x ${height}; this server takes at most ${limits.max_side} pixels a side ` +
      `and ${limits.max_pixels} pixels in all: select a smaller region`, job);
  }
  const biggest = HEADER_SIZE + width * height * 4 + MAC_BYTES;
  if (biggest > limits.max_message_bytes) {
    throw new ProtocolError(ErrorCode.TOO_LARGE,
      `a ${width} x ${height} frame would be ${biggest} bytes, over this server's ` +
      `${limits.max_message_bytes}-byte message limit: select a smaller region`, job);
  }
}

// ------------------------------------------------------------------------------------------ messages

// The keys each entry of welcome.methods and welcome.schema must have, with their JSON types (an entry
// may hold more: a newer server may say more about a method or an option).
/** @type {Record<string, string>} */
const METHOD_KEYS = { name: "string", label: "string", description: "string", available: "boolean", reason: "string" };
/** @type {Record<string, string>} */
const SCHEMA_KEYS = { name: "string", type: "string", label: "string", help: "string" };

/**
 * `entries` is a list of objects, each with `keys` of their types.
 * @param {string} where @param {any} entries @param {Record<string, string>} keys
 */
function expectEntries(where, entries, keys) {
  expect(Array.isArray(entries) && entries.every(isObject), `${where} must be a list of objects`);
  for (const entry of entries) {
    for (const [key, kind] of Object.entries(keys)) {
      expect(typeof entry[key] === kind,
        `each of ${where} must have ${key} (${kind === "boolean" ? "true/false" : "a string"})`);
    }
  }
}

// Each message's fields in the reference's order, with defaults (undefined: required). The order is
// the order on the wire, so the JSON text matches Python's byte for byte.
/** @type {Record<string, Array<[string, any]>>} */
const FIELDS = {
  hello: [["nonce", undefined], ["protocol", PROTOCOL_VERSION], ["client", ""]],
  challenge: [["nonce", undefined], ["proof", undefined], ["protocol", PROTOCOL_VERSION]],
  auth: [["proof", undefined]],
  welcome: [["server", undefined], ["backend", undefined], ["backends", () => []], ["device", "cpu"],
    ["options", () => []], ["methods", () => []], ["schema", () => []], ["limits", () => ({ ...DEFAULT_LIMITS })],
    ["protocol", PROTOCOL_VERSION], ["features", () => []]],
  decompose: [["job", undefined], ["width", undefined], ["height", undefined], ["format", "RGBA8"],
    ["backend", null], ["margin", null], ["grow", null], ["options", () => ({})], ["parts", false]],
  progress: [["job", undefined], ["stage", undefined], ["fraction", undefined]],
  result: [["job", undefined], ["width", undefined], ["height", undefined], ["box", undefined],
    ["formats", undefined], ["metadata", () => ({})], ["objects", () => []]],
  error: [["code", undefined], ["message", undefined], ["job", null]],
  cancel: [["job", undefined]],
  cancelled: [["job", undefined]],
};

// Fields the encoder leaves out while they hold their default, so that a new client talking to an older
// server (which refuses unknown fields) sends exactly what it sent before, and an older client reads
// every result a new server sends it (issue 26: `parts` is only sent to a server announcing "parts").
/** @type {Record<string, Record<string, (value: any) => boolean>>} */
const OMITTED_WHEN = {
  decompose: { parts: (value) => value === false },
  result: { objects: (value) => Array.isArray(value) && value.length === 0 },
};

/** @param {any} v */
const isInt = (v) => typeof v === "number" && Number.isInteger(v);
/** @param {any} v */
const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
/** @param {any} v */
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** @param {boolean} ok @param {string} what @param {number|null} [job] */
function expect(ok, what, job = null) {
  if (!ok) throw new ProtocolError(ErrorCode.BAD_MESSAGE, what, job);
}

/** @param {string} kind @param {any} job */
function checkJob(kind, job) {
  expect(isInt(job) && job >= 0 && job <= MAX_JOB_ID, `${kind}.job must be an integer from 0 to ${MAX_JOB_ID}`);
}

/** @param {string} kind @param {any} width @param {any} height @param {number|null} job */
function checkDimensions(kind, width, height, job) {
  expect(isInt(width) && isInt(height) && width > 0 && height > 0,
    `${kind}.width and ${kind}.height must be positive integers`, job);
}

/** @param {any} value @param {number} digits */
const isHex = (value, digits) => typeof value === "string" && value.length === digits && /^[0-9a-f]*$/.test(value);

/** @param {any} data */
function limitsFromJson(data) {
  expect(isObject(data), "welcome.limits must be an object");
  /** @type {Record<string, number>} */
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(data)) {
    if (!(name in DEFAULT_LIMITS)) continue; // a newer server may announce more limits
    expect(typeof value === "number", `welcome.limits.${name} must be a number`);
    limits[name] = value;
  }
  return limits;
}

/** @type {Record<string, (m: any) => any>} */
const VALIDATORS = {
  hello(m) {
    expect(isHex(m.nonce, 2 * NONCE_BYTES), `hello.nonce must be ${2 * NONCE_BYTES} lowercase hex digits`);
    expect(isInt(m.protocol), "hello.protocol must be an integer");
    expect(typeof m.client === "string", "hello.client must be a string");
    return m;
  },
  challenge(m) {
    expect(isHex(m.nonce, 2 * NONCE_BYTES), `challenge.nonce must be ${2 * NONCE_BYTES} lowercase hex digits`);
    expect(isHex(m.proof, PROOF_HEX_DIGITS), `challenge.proof must be ${PROOF_HEX_DIGITS} lowercase hex digits`);
    expect(isInt(m.protocol), "challenge.protocol must be an integer");
    return m;
  },
  auth(m) {
    expect(isHex(m.proof, PROOF_HEX_DIGITS), `auth.proof must be ${PROOF_HEX_DIGITS} lowercase hex digits`);
    return m;
  },
  welcome(m) {
    expect(typeof m.server === "string" && typeof m.backend === "string" && typeof m.device === "string",
      "welcome.server, backend and device must be strings");
    expect(Array.isArray(m.backends) && m.backends.every((/** @type {any} */ b) => typeof b === "string"),
      "welcome.backends must be a list of strings");
    expect(Array.isArray(m.options) && m.options.every((/** @type {any} */ o) => typeof o === "string"),
      "welcome.options must be a list of strings");
    expectEntries("welcome.methods", m.methods, METHOD_KEYS);
    expectEntries("welcome.schema", m.schema, SCHEMA_KEYS);
    expect(isInt(m.protocol), "welcome.protocol must be an integer");
    expect(Array.isArray(m.features) && m.features.every((/** @type {any} */ f) => typeof f === "string"),
      "welcome.features must be a list of strings");
    m.limits = limitsFromJson(m.limits);
    return m;
  },
  decompose(m) {
    checkJob("decompose", m.job);
    checkDimensions("decompose", m.width, m.height, m.job);
    expect(typeof m.format === "string", "decompose.format must be a string", m.job);
    expect(IMAGE_FORMATS.includes(m.format),
      `decompose.format ${JSON.stringify(m.format)} is not an image format; use one of ${IMAGE_FORMATS.join(", ")}`,
      m.job);
    expect(m.backend === null || typeof m.backend === "string", "decompose.backend must be a string or null", m.job);
    for (const name of ["margin", "grow"]) { // their range is the server's to check (invalid_input)
      expect(m[name] === null || isInt(m[name]), `decompose.${name} must be an integer or null`, m.job);
    }
    expect(isObject(m.options), "decompose.options must be an object", m.job);
    for (const [key, value] of Object.entries(m.options)) {
      expect(value === null || typeof value === "string" || typeof value === "boolean" || isNumber(value),
        `decompose.options.${key} must be a string, number, true/false or null`, m.job);
    }
    expect(typeof m.parts === "boolean", "decompose.parts must be true or false", m.job);
    return m;
  },
  progress(m) {
    checkJob("progress", m.job);
    expect(typeof m.stage === "string", "progress.stage must be a string", m.job);
    expect(isNumber(m.fraction), "progress.fraction must be a number", m.job);
    return m;
  },
  result(m) {
    checkJob("result", m.job);
    checkDimensions("result", m.width, m.height, m.job);
    const box = m.box;
    expect(Array.isArray(box) && box.length === 4 && box.every((v) => isInt(v) && v >= 0),
      "result.box must be [x, y, w, h], non-negative integers", m.job);
    const [x, y, w, h] = box;
    expect(w > 0 && h > 0 && x + w <= m.width && y + h <= m.height,
      "result.box must be a non-empty rectangle inside the image", m.job);
    const names = isObject(m.formats) ? Object.keys(m.formats).sort() : [];
    expect(isObject(m.formats) && names.join() === [...RESULT_ROLES].sort().join(),
      `result.formats must name the format of ${RESULT_ROLES.join(", ")}`, m.job);
    for (const name of Object.values(m.formats)) {
      expect(typeof name === "string" && name in PixelFormat,
        `result.formats holds an unknown pixel format ${JSON.stringify(name)}`, m.job);
    }
    expect(isObject(m.metadata), "result.metadata must be an object", m.job);
    expect(Array.isArray(m.objects) && (m.objects.length === 0 || (m.objects.length >= 2 && m.objects.length <= MAX_OBJECTS)),
      `result.objects must be a list of 2 to ${MAX_OBJECTS} objects (or left out)`, m.job);
    for (const entry of m.objects) {
      const inner = isObject(entry) ? entry.box : null;
      expect(isObject(entry) && Object.keys(entry).join() === "box" && Array.isArray(inner) && inner.length === 4 &&
        inner.every((/** @type {any} */ v) => isInt(v) && v >= 0),
      "each of result.objects must be {\"box\": [x, y, w, h]}, non-negative integers", m.job);
      const [ox, oy, ow, oh] = inner;
      expect(ow > 0 && oh > 0 && ox >= x && oy >= y && ox + ow <= x + w && oy + oh <= y + h,
        "each of result.objects must have a non-empty box inside result.box", m.job);
    }
    return m;
  },
  error(m) {
    expect(typeof m.code === "string" && typeof m.message === "string", "error.code and error.message must be strings");
    expect(m.job === null || isInt(m.job), "error.job must be an integer or null");
    return m;
  },
  cancel(m) { checkJob("cancel", m.job); return m; },
  cancelled(m) { checkJob("cancelled", m.job); return m; },
};

/**
 * A message object `{type, ...fields}` with every field present (defaults filled in); throws
 * `bad_message` for an unknown type or a missing required field. Validation as in `decode`.
 * @param {Record<string, any>} fields
 */
function message(fields) {
  const kind = fields.type;
  const spec = typeof kind === "string" ? FIELDS[kind] : undefined;
  if (!spec) {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE,
      `unknown message type ${JSON.stringify(kind)}; expected one of ${Object.keys(FIELDS).join(", ")}`);
  }
  const job = isInt(fields.job) ? fields.job : null;
  /** @type {Record<string, any>} */
  const out = { type: kind };
  const missing = [];
  for (const [name, fallback] of spec) {
    if (Object.prototype.hasOwnProperty.call(fields, name)) out[name] = fields[name];
    else if (fallback === undefined) missing.push(name);
    else out[name] = typeof fallback === "function" ? fallback() : fallback;
  }
  if (missing.length) throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${kind} lacks field(s) ${missing.sort().join(", ")}`, job);
  return VALIDATORS[kind](out);
}

// Python's json.dumps writes non-ASCII characters as \uXXXX (ensure_ascii); so do we.
/** @param {string} text */
function asciiOnly(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/**
 * The JSON text frame for a message (`{type, ...fields}`; missing optional fields get their defaults).
 * @param {Record<string, any>} fields
 * @returns {string}
 */
function encode(fields) {
  const m = message(fields);
  /** @type {Record<string, any>} */
  const ordered = { type: m.type };
  const omitted = OMITTED_WHEN[m.type] || {};
  for (const [name] of FIELDS[m.type]) {
    if (!(name in omitted && omitted[name](m[name]))) ordered[name] = m[name];
  }
  return asciiOnly(JSON.stringify(ordered));
}

/**
 * The message in a JSON text frame; throws ProtocolError(bad_message) when it is not a valid one.
 * Unknown fields are refused, except in `welcome` (a newer server may announce more).
 * @param {string} text
 * @returns {Record<string, any>}
 */
function decode(text) {
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw new ProtocolError(ErrorCode.BAD_MESSAGE, "a text frame nests JSON too deeply");
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE, `a text frame is not valid JSON (${/** @type {Error} */ (err).message})`);
  }
  if (!isObject(data)) {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE, "a text frame must hold a JSON object with a \"type\" field");
  }
  const kind = data.type;
  const spec = typeof kind === "string" && Object.prototype.hasOwnProperty.call(FIELDS, kind) ? FIELDS[kind] : undefined;
  if (!spec) {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE,
      `unknown message type ${JSON.stringify(kind === undefined ? null : kind)}; expected one of ${Object.keys(FIELDS).join(", ")}`);
  }
  const version = "protocol" in data ? data.protocol : PROTOCOL_VERSION;
  if (["hello", "challenge", "welcome"].includes(kind) && isInt(version) && version !== PROTOCOL_VERSION) {
    // Checked before the fields: another version's hello may well have other fields.
    throw new ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
      `this side speaks protocol ${PROTOCOL_VERSION}, the other side ${quote(version)}: install matching versions of the plugin and the server`);
  }
  const known = new Set(spec.map(([name]) => name));
  const extra = Object.keys(data).filter((name) => name !== "type" && !known.has(name));
  if (extra.length && kind !== "welcome") {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${kind} has unknown field(s) ${extra.sort().join(", ")}`,
      isInt(data.job) ? data.job : null);
  }
  /** @type {Record<string, any>} */
  const fields = { type: kind };
  for (const name of known) if (name in data) fields[name] = data[name];
  return message(fields);
}

/** How deeply the JSON in `text` nests (brackets outside strings). @param {string} text */
function jsonDepth(text) {
  let depth = 0, deepest = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === "[" || c === "{") {
      deepest = Math.max(deepest, ++depth);
    } else if (c === "]" || c === "}") {
      depth--;
    }
  }
  return deepest;
}

// -------------------------------------------------------------------------------------- binary frames

/**
 * @typedef {{job: number, role: string, format: string, width: number, height: number, x: number, y: number}} FrameHeader
 */

/** @param {FrameHeader} header */
function payloadSize(header) {
  return header.width * header.height * CHANNELS[/** @type {keyof typeof CHANNELS} */ (header.format)];
}

/**
 * A whole binary frame: the 28-byte little-endian header, then the pixels.
 * @param {FrameHeader} header @param {Uint8Array} pixels
 * @returns {Uint8Array}
 */
function packFrame(header, pixels) {
  const size = payloadSize(header);
  if (pixels.length !== size) {
    throw new RangeError(`${header.role} frame: ${pixels.length} bytes of pixels, expected ${size}`);
  }
  const frame = new Uint8Array(HEADER_SIZE + size);
  frame.set(packHeader(header), 0);
  frame.set(pixels, HEADER_SIZE);
  return frame;
}

/** @param {FrameHeader} header @returns {Uint8Array} */
function packHeader(header) {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(FRAME_MAGIC, 0);
  view.setUint8(4, PROTOCOL_VERSION);
  view.setUint8(5, Role[/** @type {keyof typeof Role} */ (header.role)]);
  view.setUint8(6, PixelFormat[/** @type {keyof typeof PixelFormat} */ (header.format)]);
  view.setUint8(7, 0);
  const fields = [header.job, header.x, header.y, header.width, header.height];
  fields.forEach((value, i) => view.setUint32(8 + 4 * i, value, true));
  return bytes;
}

/**
 * The header and the pixels (a view, no copy) of a binary frame; throws ProtocolError(bad_frame).
 * @param {ArrayBuffer | Uint8Array} data
 * @returns {{header: FrameHeader, pixels: Uint8Array}}
 */
function unpackFrame(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < HEADER_SIZE) {
    throw new ProtocolError(ErrorCode.BAD_FRAME,
      `a binary frame of ${bytes.length} bytes is shorter than the ${HEADER_SIZE}-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!FRAME_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, "a binary frame does not start with the LDPX header");
  }
  const version = bytes[4], role = bytes[5], format = bytes[6];
  const [job, x, y, width, height] = [0, 1, 2, 3, 4].map((i) => view.getUint32(8 + 4 * i, true));
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(ErrorCode.BAD_FRAME,
      `a binary frame says protocol ${version}; this side speaks ${PROTOCOL_VERSION}`, job);
  }
  if (!ROLE_NAMES[role]) throw new ProtocolError(ErrorCode.BAD_FRAME, `a binary frame has unknown role ${role}`, job);
  if (!FORMAT_NAMES[format]) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `a binary frame has unknown pixel format ${format}`, job);
  }
  const header = { job, role: ROLE_NAMES[role], format: FORMAT_NAMES[format], width, height, x, y };
  const pixels = bytes.subarray(HEADER_SIZE);
  const size = payloadSize(header);
  if (pixels.length !== size) {
    throw new ProtocolError(ErrorCode.BAD_FRAME,
      `the ${header.role} frame of job ${job} holds ${pixels.length} bytes of pixels; ` +
      `${width} x ${height} ${header.format} needs ${size}`, job);
  }
  return { header, pixels };
}

/** The frames a client sends after a decompose message, in order: the image, then the mask. @param {Record<string, any>} m */
function uploadFrames(m) {
  return [
    { job: m.job, role: "image", format: m.format, width: m.width, height: m.height, x: 0, y: 0 },
    { job: m.job, role: "mask", format: "A8", width: m.width, height: m.height, x: 0, y: 0 },
  ];
}

/**
 * The frames a server sends after a result message, in order: foreground, background, visibility at
 * `box`; or, for a result with objects, each object's foreground and visibility at its own box (bottom
 * object first), then one background at `box`.
 * @param {Record<string, any>} m
 */
function resultFrames(m) {
  /** @param {string} role @param {number[]} box @returns {FrameHeader} */
  const at = (role, [x, y, width, height]) => ({ job: m.job, role, format: m.formats[role], width, height, x, y });
  const objects = m.objects || [];
  if (!objects.length) return RESULT_ROLES.map((role) => at(role, m.box));
  return [...objects.flatMap((/** @type {any} */ o) => [at("foreground", o.box), at("visibility", o.box)]),
    at("background", m.box)];
}

/** @param {FrameHeader} a @param {FrameHeader} b */
function sameHeader(a, b) {
  return a.job === b.job && a.role === b.role && a.format === b.format && a.width === b.width &&
    a.height === b.height && a.x === b.x && a.y === b.y;
}

/** Gathers the binary frames of one job, checking each against the frame expected next. */
class FrameCollector {
  /** @param {FrameHeader[]} expected */
  constructor(expected) {
    this.expected = [...expected];
    /** @type {Record<string, Uint8Array>} each role's last frame (a result without objects has one of each) */
    this.frames = {};
    /** @type {Array<[FrameHeader, Uint8Array]>} every frame, in arrival order (several may share a role) */
    this.received = [];
  }

  get complete() { return this.expected.length === 0; }

  /** Take one frame (as from unpackFrame); true once every expected frame is in. @param {FrameHeader} header @param {Uint8Array} pixels */
  add(header, pixels) {
    const want = this.expected[0];
    if (!want) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, `an extra binary frame for job ${header.job}, which has all its frames`,
        header.job);
    }
    if (!sameHeader(header, want)) {
      throw new ProtocolError(ErrorCode.BAD_FRAME,
        `job ${header.job} expected its ${want.role} frame, ${want.width} x ${want.height} ${want.format} at ` +
        `(${want.x}, ${want.y}); got a frame for ${header.role}, ${header.width} x ${header.height} ` +
        `${header.format} at (${header.x}, ${header.y})`, header.job);
    }
    this.frames[header.role] = pixels;
    this.received.push([header, pixels]);
    this.expected.shift();
    return this.complete;
  }
}

// ------------------------------------------------------------------------------------------ handshake

/** A fresh nonce for `hello`: NONCE_BYTES from the platform's secure random source, as lowercase hex. */
function newNonce() {
  const source = /** @type {any} */ (globalThis).crypto;
  if (!source || typeof source.getRandomValues !== "function") {
    throw new Error("this Photoshop offers no secure random numbers (crypto.getRandomValues), which the handshake needs");
  }
  return toHex(source.getRandomValues(new Uint8Array(NONCE_BYTES)));
}

/**
 * The server's address as both proofs name it: `127.0.0.1:8765`, `[::1]:8765`. From a ws:// URL whose
 * host is an IP literal (UXP's WebSocket does not say which address it reached, so the panel connects
 * to the literal it names: `localhost` is not accepted). Throws RangeError for anything else.
 * @param {string} url
 */
function endpointOf(url) {
  const match = /^wss?:\/\/(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?(?:\/.*)?$/.exec(url.trim());
  if (!match) {
    throw new RangeError(`the server address ${url} must name the server by its IP address (ws://127.0.0.1:${DEFAULT_PORT})`);
  }
  return `${match[1].toLowerCase()}:${match[2] || (url.startsWith("wss") ? "443" : "80")}`;
}

/**
 * What `side` ("server" or "client") sends to prove it knows `token`: HMAC-SHA256 keyed with the token's
 * UTF-8 bytes over "layerdecomp-v3 <side> <client nonce> <server nonce> <server address>", as 64
 * lowercase hex digits. The address (endpointOf) keeps a relay at another address from passing.
 * @param {string} token @param {"server" | "client"} side @param {string} clientNonce @param {string} serverNonce
 * @param {string} [address]
 */
function proof(token, side, clientNonce, serverNonce, address = "") {
  if (side !== "server" && side !== "client") throw new RangeError(`side must be "server" or "client", not ${side}`);
  return toHex(hmacSha256(utf8(token),
    utf8(`layerdecomp-v${PROTOCOL_VERSION} ${side} ${clientNonce} ${serverNonce} ${address}`)));
}

/**
 * The session key: HMAC-SHA256 keyed with the token over "layerdecomp-v3 session <NC> <NS> <address>".
 * @param {string} token @param {string} clientNonce @param {string} serverNonce @param {string} [address]
 */
function sessionKey(token, clientNonce, serverNonce, address = "") {
  return hmacSha256(utf8(token), utf8(`layerdecomp-v${PROTOCOL_VERSION} session ${clientNonce} ${serverNonce} ${address}`));
}

const TEXT_KIND = Uint8Array.of(0x74); // "t"
const BINARY_KIND = Uint8Array.of(0x62); // "b"

/**
 * The tag of the `sequence`-th message `sender` sent after the handshake: HMAC-SHA256(key, sender || 0 ||
 * sequence as 8 bytes big-endian || kind || payload).
 * @param {Uint8Array} key @param {"server" | "client"} sender @param {number} sequence @param {Uint8Array} kind
 * @param {Uint8Array} payload
 */
function messageTag(key, sender, sequence, kind, payload) {
  const prefix = new Uint8Array(sender.length + 1 + 8);
  prefix.set(utf8(sender));
  new DataView(prefix.buffer).setBigUint64(sender.length + 1, BigInt(sequence));
  return hmacSha256(key, prefix, kind, payload);
}

/**
 * One side's half of an authenticated session (protocol 3): seal what it sends, in order; open what it
 * receives, in order (ProtocolError "unauthentic" when a tag is wrong: close the connection then).
 */
class Channel {
  /** @param {Uint8Array} key @param {"server" | "client"} side */
  constructor(key, side) {
    this.key = key;
    this.side = side;
    /** @type {"server" | "client"} */
    this.peer = side === "client" ? "server" : "client";
    this.sent = 0;
    this.received = 0;
  }

  /** @param {string} text */
  sealText(text) {
    return toHex(messageTag(this.key, this.side, this.sent++, TEXT_KIND, utf8(text))) + text;
  }

  /** The frame followed by its tag, as one buffer to send. @param {Uint8Array} frame */
  sealBinary(frame) {
    const out = new Uint8Array(frame.length + MAC_BYTES);
    out.set(frame);
    out.set(messageTag(this.key, this.side, this.sent++, BINARY_KIND, frame), frame.length);
    return out;
  }

  /** @param {string} wire */
  openText(wire) {
    const text = wire.slice(2 * MAC_BYTES);
    this.check(TEXT_KIND, utf8(text), (expected) => sameSecret(toHex(expected), wire.slice(0, 2 * MAC_BYTES)));
    return text;
  }

  /** The frame without its tag (a view). @param {ArrayBuffer | Uint8Array} wire */
  openBinary(wire) {
    const bytes = wire instanceof Uint8Array ? wire : new Uint8Array(wire);
    const end = Math.max(0, bytes.length - MAC_BYTES);
    const frame = bytes.subarray(0, end);
    const claimed = bytes.subarray(end);
    this.check(BINARY_KIND, frame, (expected) => claimed.length === MAC_BYTES && sameBytes(expected, claimed));
    return frame;
  }

  /** @param {Uint8Array} kind @param {Uint8Array} payload @param {(expected: Uint8Array) => boolean} matches */
  check(kind, payload, matches) {
    if (!matches(messageTag(this.key, this.peer, this.received, kind, payload))) {
      throw new ProtocolError(ErrorCode.UNAUTHENTIC, `message ${this.received} from the ${this.peer} does not carry ` +
        "its session tag: it was changed, replayed, reordered or injected; the connection is closed");
    }
    this.received += 1;
  }
}

/** Equal byte arrays, compared in constant time. @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Equal strings, compared in time that does not depend on where they differ. @param {string} a @param {string} b */
function sameSecret(a, b) {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The peer answered with an `error` message (`code`, `message` and `job` are its own). */
class Refused extends ProtocolError {}

/** @param {Record<string, any>} m */
function raiseIfError(m) {
  if (m.type === "error") throw new Refused(m.code, m.message, m.job);
}

/**
 * The client's half of the handshake, without a socket:
 *
 *     const handshake = new ClientHandshake(token, "my-client");
 *     send(encode(handshake.hello));
 *     send(encode(handshake.answer(decode(receive()))));   // throws unless the server proved itself
 *     const welcome = handshake.welcome(decode(receive()));
 *
 * Nothing that depends on the token leaves the client until the server's proof checked out. Throws
 * Refused when the server answered with an error, ProtocolError (server_unverified, bad_message) else.
 */
class ClientHandshake {
  /**
   * @param {string} token @param {string} [client] @param {string} [nonce]
   * @param {string} [address] endpointOf() the URL the socket connected to: both proofs cover it
   */
  constructor(token, client = "", nonce = undefined, address = "") {
    if (!token) throw new RangeError("no token: a client must not connect without the server's token");
    this.token = token;
    this.address = address;
    /** @type {Channel | null} the session's tags, once the server proved itself */
    this.channel = null;
    this.hello = message({ type: "hello", nonce: nonce || newNonce(), client });
    /** @type {string | null} */
    this.serverNonce = null;
  }

  /** The `auth` to send for the server's `challenge`. @param {Record<string, any>} m */
  answer(m) {
    raiseIfError(m);
    if (m.type !== "challenge") {
      throw new ProtocolError(ErrorCode.BAD_MESSAGE, `the server answered hello with ${m.type}, not challenge`);
    }
    if (!sameSecret(proof(this.token, "server", this.hello.nonce, m.nonce, this.address), m.proof)) {
      throw new ProtocolError(ErrorCode.SERVER_UNVERIFIED,
        "the program answering at this address could not prove it knows the token: it is not your layerdecomp " +
        "server, or it uses another token file");
    }
    this.serverNonce = m.nonce;
    this.channel = new Channel(sessionKey(this.token, this.hello.nonce, m.nonce, this.address), "client");
    return message({ type: "auth", proof: proof(this.token, "client", this.hello.nonce, m.nonce, this.address) });
  }

  /** The server's `welcome` (after `answer`). @param {Record<string, any>} m */
  welcome(m) {
    if (this.serverNonce === null) throw new ProtocolError(ErrorCode.BAD_MESSAGE, "welcome before the server proved itself");
    raiseIfError(m);
    if (m.type !== "welcome") throw new ProtocolError(ErrorCode.BAD_MESSAGE, `the server answered auth with ${m.type}, not welcome`);
    return m;
  }
}

// ---------------------------------------------------------------------------------------- client jobs

/**
 * One job as a client sees it, without a socket: what to send, then every message and binary frame from
 * the server fed in, in order, until `done`. Messages about other jobs are ignored.
 *
 *     const job = new ClientJob(decomposeMessage);
 *     send(encode(job.request)); send each of job.uploadHeaders packed with its pixels
 *     while (!job.done) progress = job.receive(decode(text))  or  job.receive(unpackFrame(data))
 *     (to stop it: const m = job.cancel(); if (m) send(encode(m)))
 *     job.outcome: "result" (job.result; job.frames, or with objects job.received), "error" (job.error) or "cancelled"
 */
class ClientJob {
  /** @param {Record<string, any>} request a decompose message */
  constructor(request) {
    this.request = message(request);
    this.uploadHeaders = uploadFrames(this.request);
    /** @type {Record<string, any> | null} */
    this.result = null;
    /** @type {Record<string, any> | null} */
    this.error = null;
    /** @type {"result" | "error" | "cancelled" | null} */
    this.outcome = null;
    this.cancelSent = false;
    /** @type {FrameCollector | null} */
    this.collector = null;
  }

  get done() { return this.outcome !== null; }

  /** The largest binary frame the server may send for this job. */
  get resultMaxBytes() { return HEADER_SIZE + this.request.width * this.request.height * 4 + MAC_BYTES; }

  /** @returns {Record<string, Uint8Array>} */
  get frames() { return this.collector ? this.collector.frames : {}; }

  /** Every result frame in arrival order. @returns {Array<[FrameHeader, Uint8Array]>} */
  get received() { return this.collector ? this.collector.received : []; }

  /** The `cancel` message to send, once (null when sent already or the job is over). */
  cancel() {
    if (this.cancelSent || this.done) return null;
    this.cancelSent = true;
    return message({ type: "cancel", job: this.request.job });
  }

  /**
   * Take the next thing the server sent; returns it when it is this job's progress.
   * @param {Record<string, any> | {header: FrameHeader, pixels: Uint8Array}} item a decoded message or an unpacked frame
   */
  receive(item) {
    const job = this.request.job;
    if (this.done) throw new ProtocolError(ErrorCode.BAD_MESSAGE, `job ${job} is over; nothing more was expected`);
    if ("header" in item && "pixels" in item) {
      if (!this.collector) throw new ProtocolError(ErrorCode.BAD_FRAME, "the server sent pixels before a result message");
      if (this.collector.add(item.header, item.pixels)) this.outcome = this.cancelSent ? "cancelled" : "result";
      return null;
    }
    const m = /** @type {Record<string, any>} */ (item);
    if (this.collector) throw new ProtocolError(ErrorCode.BAD_FRAME, `the server sent ${m.type} in the middle of a result's frames`);
    if (m.type === "error" && m.job === null) {
      this.error = m; // about the connection: it is going
      this.outcome = "error";
    } else if (m.job !== job) {
      // about an earlier job (e.g. unknown_job for a cancel that crossed its result)
    } else if (m.type === "progress") {
      return this.cancelSent ? null : m;
    } else if (m.type === "cancelled") {
      this.outcome = "cancelled";
    } else if (m.type === "error") {
      // After a cancel, unknown_job means the job had ended already (its result crossed the cancel).
      const cancelled = this.cancelSent && m.code === ErrorCode.UNKNOWN_JOB;
      this.error = cancelled ? null : m;
      this.outcome = cancelled ? "cancelled" : "error";
    } else if (m.type === "result") {
      if (m.width !== this.request.width || m.height !== this.request.height) {
        throw new ProtocolError(ErrorCode.BAD_MESSAGE, `the result of job ${job} is ${m.width} x ${m.height}; ` +
          `the upload was ${this.request.width} x ${this.request.height}`);
      }
      if (m.objects.length && !this.request.parts) {
        throw new ProtocolError(ErrorCode.BAD_MESSAGE, `the result of job ${job} is split into objects; ` +
          "the job did not ask for parts");
      }
      this.result = m;
      this.collector = new FrameCollector(resultFrames(m));
    } else {
      throw new ProtocolError(ErrorCode.BAD_MESSAGE, `a server does not send ${m.type} during a job`);
    }
    return null;
  }
}

module.exports = {
  PROTOCOL_VERSION, DEFAULT_PORT, HEADER_SIZE, MAX_JOB_ID, MAX_OBJECTS, DEFAULT_LIMITS, IMAGE_FORMATS, RESULT_ROLES,
  NONCE_BYTES, PROOF_HEX_DIGITS, MAC_BYTES, CLIENT_PRE_AUTH_MAX_BYTES, MAX_TEXT_BYTES, MAX_JSON_DEPTH,
  ErrorCode, CloseCode, ProtocolError, Refused, Role, PixelFormat, CHANNELS,
  foregroundFormat, checkSize, message, encode, decode,
  packHeader, packFrame, unpackFrame, payloadSize, uploadFrames, resultFrames, FrameCollector,
  newNonce, proof, endpointOf, sessionKey, messageTag, Channel, ClientHandshake, ClientJob,
};
