// sha256.js against Node's own crypto (and RFC 4231's first HMAC test case): every length around the
// 64-byte block boundaries, keys shorter and longer than a block.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { sha256, hmacSha256, utf8, toHex } = require("../src/sha256.js");

test("SHA-256 equals Node's for lengths around the block boundaries", () => {
  for (const length of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000]) {
    const data = crypto.randomBytes(length);
    assert.equal(toHex(sha256(data)), crypto.createHash("sha256").update(data).digest("hex"), `length ${length}`);
  }
  assert.equal(toHex(sha256(utf8("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("HMAC-SHA256 equals Node's, short and long keys; RFC 4231 case 1", () => {
  for (const keyLength of [0, 1, 43, 64, 65, 131]) {
    for (const messageLength of [0, 20, 200]) {
      const key = crypto.randomBytes(keyLength), message = crypto.randomBytes(messageLength);
      assert.equal(toHex(hmacSha256(key, message)), crypto.createHmac("sha256", key).update(message).digest("hex"));
    }
  }
  assert.equal(toHex(hmacSha256(new Uint8Array(20).fill(0x0b), utf8("Hi There"))),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
});

test("UTF-8 as Python encodes it", () => {
  assert.equal(toHex(utf8("t\u00e9\u20ac\u{1F600}")), Buffer.from("t\u00e9\u20ac\u{1F600}", "utf8").toString("hex"));
});
