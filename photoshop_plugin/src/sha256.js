/**
 * SHA-256 and HMAC-SHA256 in plain JavaScript, for the protocol's handshake (protocol.js).
 *
 * UXP documents no Web Crypto `subtle`, so the plugin computes its proofs itself; this is FIPS 180-4 and
 * RFC 2104 written out, checked against Node's crypto and against the Python side's golden vectors.
 * The handshake's inputs are small; the session's tags (protocol 3) cover whole frames, which are hashed
 * in place, block by block.
 */
"use strict";

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** @param {number} x @param {number} n */
const rotr = (x, n) => (x >>> n) | (x << (32 - n));

/** SHA-256 fed in parts (a frame's pixels are hashed where they lie, never copied into one buffer). */
class Sha256 {
  constructor() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Uint32Array(64);
    this.block = new Uint8Array(64);
    this.blockView = new DataView(this.block.buffer);
    this.filled = 0;
    this.length = 0;
  }

  /** @param {Uint8Array} data @returns {Sha256} */
  update(data) {
    this.length += data.length;
    let offset = 0;
    if (this.filled > 0) {
      const take = Math.min(64 - this.filled, data.length);
      this.block.set(data.subarray(0, take), this.filled);
      this.filled += take;
      offset = take;
      if (this.filled < 64) return this;
      this.compress(this.blockView, 0);
      this.filled = 0;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (; offset + 64 <= data.length; offset += 64) this.compress(view, offset);
    this.block.set(data.subarray(offset));
    this.filled = data.length - offset;
    return this;
  }

  /** @returns {Uint8Array} */
  digest() {
    const bitLength = this.length * 8;
    const tail = new Uint8Array((this.filled < 56 ? 64 : 128) - this.filled);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bitLength / 2 ** 32));
    view.setUint32(tail.length - 4, bitLength >>> 0);
    this.update(tail);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    this.h.forEach((v, i) => outView.setUint32(4 * i, v));
    return out;
  }

  /** One 64-byte block at `offset` of `view`. @param {DataView} view @param {number} offset */
  compress(view, offset) {
    const { h, w } = this;
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(offset + 4 * t);
    for (let t = 16; t < 64; t++) {
      const s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
      const s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (let t = 0; t < 64; t++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  }
}

/** The SHA-256 digest of `data`. @param {Uint8Array} data @returns {Uint8Array} */
function sha256(data) {
  return new Sha256().update(data).digest();
}

/**
 * HMAC-SHA256 under `key` of the concatenation of `parts` (RFC 2104).
 * @param {Uint8Array} key @param {...Uint8Array} parts
 */
function hmacSha256(key, ...parts) {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  const inner = new Sha256().update(block.map((b) => b ^ 0x36));
  for (const part of parts) inner.update(part);
  return new Sha256().update(block.map((b) => b ^ 0x5c)).update(inner.digest()).digest();
}

/** UTF-8 bytes of a string (TextEncoder where there is one). @param {string} text */
function utf8(text) {
  if (typeof TextEncoder !== "undefined") return new TextEncoder().encode(text);
  const bytes = unescape(encodeURIComponent(text));
  return Uint8Array.from(bytes, (c) => c.charCodeAt(0));
}

/** @param {Uint8Array} bytes */
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

module.exports = { Sha256, sha256, hmacSha256, utf8, toHex };
