/**
 * Where the panel connects by default: the literal address `layerdecomp serve` listens on and prints
 * ("layerdecomp server listening on ws://127.0.0.1:8765"), never a name such as localhost that may
 * resolve to another loopback family first. manifest.json lists 127.0.0.1 and [::1]; an address typed
 * with localhost is dialled as 127.0.0.1 (client.js), so it is allowed too.
 */
"use strict";

const { DEFAULT_PORT } = require("./protocol.js");

const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_URL = `ws://${DEFAULT_HOST}:${DEFAULT_PORT}`;

module.exports = { DEFAULT_HOST, DEFAULT_URL };
