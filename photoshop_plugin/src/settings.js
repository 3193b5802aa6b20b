/**
 * Where the panel connects by default: the literal address `layerdecomp serve` listens on and prints
 * ("layerdecomp server listening on ws://127.0.0.1:8765"), never a name such as localhost that may
 * resolve to another loopback family first. manifest.json lists both 127.0.0.1 and localhost, so an
 * address typed either way is allowed.
 */
"use strict";

const { DEFAULT_PORT } = require("./protocol.js");

const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_URL = `ws://${DEFAULT_HOST}:${DEFAULT_PORT}`;

module.exports = { DEFAULT_HOST, DEFAULT_URL };
