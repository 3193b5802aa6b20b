// The panel's logic end to end: the controller with the real host layer (document.js) over a fake
// `photoshop` module, talking to the real `layerdecomp serve` on loopback (started here). The layers it
// writes equal layerdecomp.decompose's, the composite is unchanged, one history state is added; and
// every failure leaves the document exactly as it was.
"use strict";
const test = require("node:test");
const { before, after } = require("node:test");
const assert = require("node:assert/strict");
const fsp = require("node:fs/promises");
const fs = require("node:fs");
const { WebSocket } = require("ws");

const { Photoshop, DEFAULT_BEHAVIOUR, OTHER_BEHAVIOUR } = require("./fake_photoshop.js");
const { makeHome, removeHomes, startServer, expectedLayers } = require("./server.js");
const { Controller } = require("../src/controller.js");
const { createHost, HISTORY_NAME } = require("../src/document.js");
const { tokenReader } = require("../src/token.js");
const { runJob } = require("../src/client.js");
const { formFields, optionsFrom, methodChoices } = require("../src/options.js");

const W = 96, H = 80;

/** A picture: a soft gradient with a textured red disc; the selection covers the disc with a soft edge. */
function picture() {
  const image = new Uint8Array(W * H * 4);
  const mask = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const d = Math.hypot(x - 40, y - 38);
      const inDisc = d < 14;
      image.set(inDisc ? [200 + (x % 5) * 8, 30 + (y % 7) * 4, 40, 255] : [60 + x, 90 + y, 150 + ((x * y) % 40), 255], i * 4);
      mask[i] = d < 15 ? 255 : d < 17 ? Math.round(255 * (17 - d) / 2) : 0;
    }
  }
  return { image, mask };
}

/**
 * Two textured discs apart (a separate part each), both selected with a soft edge; or `count` small
 * squares, each selected.
 */
function twoParts() {
  const image = new Uint8Array(W * H * 4);
  const mask = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const a = Math.hypot(x - 26, y - 36), b = Math.hypot(x - 68, y - 46);
      const colour = a < 12 ? [200 + (x % 5) * 8, 30 + (y % 7) * 4, 40, 255] : b < 11 ? [40, 150 + (x % 3) * 20, 60 + (y % 4) * 9, 255]
        : [60 + x, 90 + y, 150 + ((x * y) % 40), 255];
      image.set(colour, i * 4);
      const d = Math.min(a + 1, b + 2); // the same soft edge two pixels out from each disc
      mask[i] = d < 15 ? 255 : d < 17 ? Math.round(255 * (17 - d) / 2) : 0;
    }
  }
  return { image, mask };
}

/** `count` 9 x 9 squares in rows, 6 a row, each selected: `count` separate parts. @param {number} count */
function squares(count) {
  const { image } = picture();
  const mask = new Uint8Array(W * H);
  for (let k = 0; k < count; k++) {
    const x0 = 3 + (k % 6) * 15, y0 = 5 + Math.floor(k / 6) * 25;
    for (let y = y0; y < y0 + 9; y++) mask.fill(255, y * W + x0, y * W + x0 + 9);
  }
  return { image, mask };
}

/** A panel over one document: the fake Photoshop, the controller and what its UI showed. */
function panel({ url, home, depth = 8, settings = {}, WebSocketClass = WebSocket, fake = {}, jobRunner = runJob, draw = picture }) {
  const ps = new Photoshop(fake);
  const doc = ps.createDocument({ width: W, height: H, depth });
  const { image, mask } = draw();
  doc.addPixelLayer("Background", new Uint8Array(W * H * 4).fill(255), { background: true });
  const source = doc.addPixelLayer("Photo", image);
  doc.select(mask);
  const shown = { progress: /** @type {any[]} */ ([]), notes: /** @type {any[]} */ ([]), open: false };
  /** @type {((fraction: number) => void) | null} */
  let onFirstProgress = null;
  const ui = {
    showProgress(/** @type {string} */ text) { shown.open = true; shown.progress.push([text, null]); },
    updateProgress(/** @type {string} */ text, /** @type {number | null} */ fraction) {
      shown.progress.push([text, fraction]);
      if (fraction !== null && onFirstProgress) { const f = onFirstProgress; onFirstProgress = null; f(fraction); }
    },
    closeProgress() { shown.open = false; },
    notify(/** @type {string} */ level, /** @type {string} */ text) { shown.notes.push([level, text]); },
  };
  const current = { url, margin: -1, backend: "", tokenFile: "", token: "", ...settings };
  const controller = new Controller({
    host: createHost(ps.module), ui, WebSocket: WebSocketClass, about: { plugin: "test" }, runJob: jobRunner,
    loadSettings: () => current,
    readToken: tokenReader({ fs: fsp, os: { platform: () => "darwin", homedir: () => home.home } }, () => current),
  });
  return {
    ps, doc, source, image, mask, shown, controller, settings: current,
    /** @param {(fraction: number) => void} f */
    atFirstProgress(f) { onFirstProgress = f; },
  };
}

const home = makeHome();
/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

before(async () => { server = await startServer(home); });
after(async () => {
  await server.stop();
  removeHomes();
});

for (const [depth, fake, answers] of /** @type {const} */ ([[8, DEFAULT_BEHAVIOUR, "one"], [16, DEFAULT_BEHAVIOUR, "one"],
  [8, OTHER_BEHAVIOUR, "the other"], [16, OTHER_BEHAVIOUR, "the other"]])) {
  test(`${depth}-bit, ${answers} answer to each silent point: the layers equal layerdecomp.decompose's, the composite is unchanged, one history state`, async () => {
    const p = panel({ url: server.url, home, depth, fake });
    const before = p.doc.describe();
    const composite = p.doc.composite();
    await p.controller.trigger();

    assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]]);
    assert.equal(p.shown.open, false);
    assert.ok(p.shown.progress.some(([, fraction]) => fraction !== null), "progress was shown");
    // One history state, and the tree: the group above the source, Object over Background, the source hidden.
    assert.deepEqual(p.doc.historyStates, [...before.history, HISTORY_NAME]);
    const tree = p.doc.layers.map((l) => [l.name, l.kind, l.visible, (l.layers || []).map((c) => [c.name, c.visible])]);
    assert.deepEqual(tree, [
      ["Photo (decomposed)", "group", true, [["Object", true], ["Background", true]]],
      ["Photo", "pixel", false, []],
      ["Background", "pixel", true, []],
    ]);
    assert.equal(p.doc.layers[1], p.source);
    assert.deepEqual(p.doc.describe().layers[1].pixels, before.layers[0].pixels, "the source's pixels are untouched");

    const expected = expectedLayers(p.image, p.mask, W, H);
    const [object, background] = /** @type {any[]} */ (p.doc.layers[0].layers);
    assert.ok(Buffer.from(p.doc.pixels8(object)).equals(Buffer.from(expected.foreground)), "Object = the library's foreground");
    assert.ok(Buffer.from(p.doc.pixels8(background)).equals(Buffer.from(expected.background)), "Background = the library's background");
    if (expected.visibility.some((v, i) => v === 0 && expected.foreground[i * 4 + 3] !== 0)) {
      assert.ok(Buffer.from(p.doc.mask8(object)).equals(Buffer.from(expected.visibility)));
    } else {
      assert.equal(object.mask, null, "no hidden parts, no layer mask");
    }
    // The picture looks the same (within one level of rounding on soft edges).
    const after = p.doc.composite();
    let worst = 0;
    for (let i = 0; i < after.length; i++) worst = Math.max(worst, Math.abs(after[i] - composite[i]));
    assert.ok(worst <= 1, `the composite moved by ${worst} levels`);
    assert.deepEqual(p.ps.modalCommands, ["Reading the selection", HISTORY_NAME]);
  });
}

/** @param {ReturnType<typeof panel>} p @param {any} before */
function assertUntouched(p, before) {
  assert.deepEqual(p.doc.describe(), before, "the document is exactly as it was");
  assert.equal(p.shown.open, false, "no progress left open");
  assert.equal(p.controller.job, null, "the panel is ready for the next job");
  assert.ok(p.controller.messages[0][2].includes("not changed") || p.controller.messages[0][1] === "document_gone");
}

test("server down: a plain message, the document untouched", async () => {
  const down = await startServer(makeHome());
  const url = down.url;
  await down.stop();
  const p = panel({ url, home });
  const before = p.doc.describe();
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "unreachable"]]);
  assertUntouched(p, before);
  assert.deepEqual(p.ps.modalCommands, ["Reading the selection"]);
});

test("an error reply (a backend the server lacks): its message, the document untouched", async () => {
  const p = panel({ url: server.url, home, settings: { backend: "no-such-backend" } });
  const before = p.doc.describe();
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "backend_unavailable"]]);
  assertUntouched(p, before);
});

test("a wrong token: the server cannot prove it knows it, so nothing is sent; the panel says what to do", async () => {
  const p = panel({ url: server.url, home, settings: { token: "not-the-token" } });
  const before = p.doc.describe();
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "server_unverified"]]);
  assert.match(p.controller.messages[0][2], /token/);
  assertUntouched(p, before);
});

test("no token file: the panel says where it looked", async () => {
  const p = panel({ url: server.url, home: makeHome(), settings: {} });
  const before = p.doc.describe();
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "no_token"]]);
  assert.match(p.controller.messages[0][2], /Library\/Application Support\/layerdecomp\/token/);
  assertUntouched(p, before);
});

test("Cancel while the server works: cancelled at once, the document untouched, the server still serves", async () => {
  const p = panel({ url: server.url, home });
  const before = p.doc.describe();
  p.atFirstProgress(() => p.controller.cancel());
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "cancelled"]]);
  assertUntouched(p, before);
  // The next job on the same server goes through.
  const again = panel({ url: server.url, home });
  await again.controller.trigger();
  assert.deepEqual(again.controller.messages.map(([, code]) => code), ["done"]);
});

test("the server killed mid-job: a plain message, the document untouched", async () => {
  const doomed = await startServer(home);
  const p = panel({ url: doomed.url, home });
  const before = p.doc.describe();
  p.atFirstProgress(() => doomed.process.kill("SIGKILL"));
  await p.controller.trigger();
  await doomed.stop();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "server_lost"]]);
  assertUntouched(p, before);
});

test("the layer painted on while the server works: nothing is added", async () => {
  const p = panel({ url: server.url, home });
  /** @type {any} */
  let painted = null;
  p.atFirstProgress(() => {
    p.source.pixels[(40 * W + 40) * 4] ^= 0xff; // as a brush stroke would, with its own history state
    p.doc.historyStates.push("Brush Tool");
    painted = p.doc.describe();
  });
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "layer_changed"]]);
  assert.ok(painted);
  assertUntouched(p, painted);
});

test("the document closed while the server works: nothing is added", async () => {
  const p = panel({ url: server.url, home });
  p.atFirstProgress(() => p.ps.closeDocument(p.doc));
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "document_gone"]]);
});

test("a second trigger while a job runs is refused; the first goes on", async () => {
  const p = panel({ url: server.url, home });
  const first = p.controller.trigger();
  await p.controller.trigger();
  await first;
  assert.deepEqual(p.controller.messages.map(([, code]) => code), ["busy", "done"]);
});

test("Photoshop refusing the modal scope (another command holds it): a plain message, nothing changed", async () => {
  const p = panel({ url: server.url, home });
  const before = p.doc.describe();
  p.ps.modal = true; // as while another plugin's executeAsModal runs
  await p.controller.trigger();
  p.ps.modal = false;
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "bug"]]);
  assert.match(p.controller.messages[0][2], /modal state/);
  assertUntouched(p, before);
});

test("what cannot be decomposed is refused before anything is sent", async () => {
  const cases = [
    ["no_selection", (/** @type {any} */ p) => p.doc.select(null)],
    ["whole_image", (/** @type {any} */ p) => p.doc.select(new Uint8Array(W * H).fill(255))],
    ["no_layer", (/** @type {any} */ p) => { p.doc.active = []; }],
    ["not_pixel_layer", (/** @type {any} */ p) => { p.source.kind = "text"; }],
    ["unsupported_color", (/** @type {any} */ p) => { p.doc.mode = "CMYKColorMode"; }],
    ["no_document", (/** @type {any} */ p) => p.ps.closeDocument(p.doc)],
  ];
  for (const [code, spoil] of cases) {
    const p = panel({ url: "ws://127.0.0.1:1", home });
    /** @type {any} */ (spoil)(p);
    const before = p.doc.describe();
    await p.controller.trigger();
    assert.deepEqual(p.controller.messages.map(([level, c]) => [level, c]), [["error", code]], String(code));
    assert.deepEqual(p.doc.describe(), before);
  }
});

test("Diagnostics: versions, what the handshake saw, the last error; never the token", async () => {
  const p = panel({ url: server.url, home });
  await p.controller.trigger();
  const report = await p.controller.diagnose();
  assert.match(report, /^plugin: test$/m);
  assert.match(report, /connection check: ok/);
  assert.match(report, /socket opened: yes; got as far as: welcome; not closed by the server/);
  assert.match(report, /server: layerdecomp [^,]+, backend classical on cpu, protocol \d+, features: parts/);
  assert.match(report, /one layer per separate part on/);
  assert.match(report, /last job's connection:\n {2}address: ws:\/\/127\.0\.0\.1:\d+\n {2}socket opened: yes; got as far as: working/);
  assert.match(report, /last error: none/);
  const token = fs.readFileSync(home.tokenFile, "utf8").trim();
  assert.ok(!report.includes(token), "the token is not in the report");
});

test("an address the manifest does not allow (UXP's WebSocket throws): said so, not 'unreachable'", async () => {
  class ManifestGuard extends WebSocket {
    /** @param {string} url */
    constructor(url) {
      if (!url.startsWith("ws://127.0.0.1:8765")) throw new Error(`Permission denied to the url ${url}. Manifest entry not found.`);
      super(url);
    }
  }
  const p = panel({ url: "ws://127.0.0.1:9999", home, WebSocketClass: ManifestGuard });
  const before = p.doc.describe();
  await p.controller.trigger();
  const [[level, code, text]] = p.controller.messages;
  assert.deepEqual([level, code], ["error", "bad_address"]);
  assert.match(text, /Manifest entry not found.*ws:\/\/127\.0\.0\.1:8765 and ws:\/\/\[::1\]:8765/);
  assertUntouched(p, before);
});

test("a server that closes the panel with another reason: refused, its reason, no Origin advice", async () => {
  const { WebSocketServer } = require("ws");
  const busy = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  busy.on("connection", (socket) => socket.close(1013, "too many connections; try again in a moment"));
  await new Promise((resolve) => busy.once("listening", resolve));
  const p = panel({ url: `ws://127.0.0.1:${/** @type {any} */ (busy.address()).port}`, home });
  const before = p.doc.describe();
  await p.controller.trigger();
  busy.close();
  const [[level, code, text]] = p.controller.messages;
  assert.deepEqual([level, code], ["error", "refused"]);
  assert.match(text, /It said: “too many connections; try again in a moment”\. Do what it says/);
  assert.doesNotMatch(text, /Origin/);
  assertUntouched(p, before);
});

test("the settings are drawn from the schema the real server announces, and what is set there reaches the backend", async () => {
  const welcome = await panel({ url: server.url, home }).controller.serverWelcome();
  // A field for every per-job option the server takes, the widget its type asks for.
  assert.ok(welcome.schema.length > 0, "the classical backend announces its options");
  assert.deepEqual(welcome.schema.map((/** @type {any} */ e) => e.name).sort(), [...welcome.options].sort());
  const fields = formFields(welcome.schema);
  const widget = { choice: "select", bool: "checkbox", int: "number", seed: "number", float: "number", text: "text" };
  for (const [i, field] of fields.entries()) {
    const entry = welcome.schema[i];
    assert.equal(field.control, /** @type {any} */ (widget)[entry.type], entry.name);
    assert.deepEqual([field.label, field.help, field.value], [entry.label, entry.help, entry.default], entry.name);
  }
  // The method picker: the server's own first; what it runs can be chosen.
  const methods = methodChoices(welcome.methods, welcome.backend);
  assert.equal(methods[0].value, "");
  assert.ok(methods.some((m) => m.value === welcome.backend && !m.disabled));

  // Each option set to a value other than its default, as the widgets would hold it (text).
  /** @type {Record<string, string | boolean>} */
  const form = {};
  for (const entry of welcome.schema) {
    if (entry.type === "choice") form[entry.name] = entry.choices.map((/** @type {any} */ c) => c.value).find((/** @type {any} */ v) => v !== entry.default);
    else if (entry.type === "bool") form[entry.name] = !entry.default;
    else if (["int", "seed", "float"].includes(entry.type)) form[entry.name] = String((entry.default ?? entry.min ?? 0) + 1);
  }
  const { options, problems } = optionsFrom(welcome.schema, form);
  assert.deepEqual(problems, []);
  assert.ok(Object.keys(options).length > 0);
  /** @type {any} */
  let result = null;
  const p = panel({ url: server.url, home, settings: { options },
    jobRunner: (...args) => runJob(...args).then((r) => (result = r)) });
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]]);
  for (const [name, value] of Object.entries(options)) assert.equal(result.metadata.options[name], value, name);

  // A value the schema rules out is caught in the panel, before anything is sent.
  const seed = welcome.schema.find((/** @type {any} */ e) => e.type === "seed");
  assert.ok(seed, "the classical backend takes a seed");
  assert.equal(optionsFrom(welcome.schema, { [seed.name]: "-5" }).problems.length, 1);
});

test("the panel's default address is the literal one `layerdecomp serve` listens on and prints", () => {
  const { DEFAULT_HOST, DEFAULT_URL } = require("../src/settings.js");
  assert.equal(new URL(server.url).hostname, DEFAULT_HOST, `the server printed ${server.url}`);
  assert.equal(new URL(DEFAULT_URL).hostname, DEFAULT_HOST);
});

/** A WebSocket that sends `origin` in its handshake, as a UXP build might. @param {string} origin */
function sendingOrigin(origin) {
  return class extends WebSocket {
    /** @param {string} url */
    constructor(url) { super(url, [], { origin }); }
  };
}

test("Origin: a panel whose Photoshop sends a uxp: origin works as one that sends none", async () => {
  for (const origin of ["uxp://uxp-internal", "uxp://org.layerdecomp.photoshop"]) {
    const p = panel({ url: server.url, home, WebSocketClass: sendingOrigin(origin) });
    await p.controller.trigger();
    assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]], origin);
  }
});

test("Origin: a refused one is reported as refused, with the server's reason and what to do; never as unreachable", async () => {
  for (const origin of ["null", "file://", "https://evil.example", "http://127.0.0.1:8765"]) {
    const p = panel({ url: server.url, home, WebSocketClass: sendingOrigin(origin) });
    const before = p.doc.describe();
    await p.controller.trigger();
    const [[level, code, text]] = p.controller.messages;
    assert.deepEqual([level, code], ["error", "refused"], origin);
    assert.match(text, /refused this panel/);
    assert.ok(text.includes(`origin ${origin} refused`), `the server's reason is shown: ${text}`);
    assert.match(text, /--allow-origin/);
    assert.doesNotMatch(text, /Could not reach/);
    assertUntouched(p, before);
    // Diagnostics says what the handshake saw: the socket opened, the server closed it with 1008 and why.
    const report = await p.controller.diagnose();
    assert.match(report, /socket opened: yes; got as far as: challenge; closed with 1008/);
    assert.ok(report.includes(`origin ${origin} refused`));
    assert.match(report, /last error: The decomposition server at .* refused this panel/);
  }
});

test("a squatter on the server's port learns neither the token nor the picture", async () => {
  const { WebSocketServer } = require("ws");
  const squatter = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => squatter.on("listening", resolve));
  /** @type {Array<string | Buffer>} */
  const heard = [];
  squatter.on("connection", (socket) => {
    socket.on("message", (data, isBinary) => {
      heard.push(isBinary ? Buffer.from(/** @type {Buffer} */ (data)) : data.toString());
      // Answer as a server would, but with a proof it cannot make without the token.
      socket.send(JSON.stringify({ type: "challenge", nonce: "ab".repeat(32), proof: "cd".repeat(32), protocol: 3 }));
    });
  });
  const address = /** @type {import("node:net").AddressInfo} */ (squatter.address());
  const p = panel({ url: `ws://127.0.0.1:${address.port}`, home });
  const before = p.doc.describe();
  await p.controller.trigger();
  await new Promise((resolve) => squatter.close(resolve));
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "server_unverified"]]);
  assertUntouched(p, before);
  assert.equal(heard.length, 1, "only the hello");
  const hello = JSON.parse(String(heard[0]));
  assert.deepEqual(Object.keys(hello).sort(), ["client", "nonce", "protocol", "type"]);
  assert.ok(!String(heard[0]).includes(fs.readFileSync(home.tokenFile, "utf8").trim()));
});

test("the token never travels: every text the panel sends is a hello, an auth, a decompose", async () => {
  /** @type {string[]} */
  const sent = [];
  class SpyingWebSocket extends WebSocket {
    /** @param {any} data */
    send(data) {
      if (typeof data === "string") sent.push(data);
      super.send(data);
    }
  }
  const p = panel({ url: server.url, home });
  /** @type {any} */ (p.controller).WebSocket = SpyingWebSocket;
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([, code]) => code), ["done"]);
  // (The decompose, after the handshake, carries its session tag: 64 hex digits before the JSON.)
  assert.deepEqual(sent.map((text, i) => JSON.parse(i < 2 ? text : text.slice(64)).type), ["hello", "auth", "decompose"]);
  const token = fs.readFileSync(home.tokenFile, "utf8").trim();
  assert.ok(sent.every((text) => !text.includes(token)));
});

test("a server that floods the panel before proving itself is cut off", async () => {
  const { WebSocketServer } = require("ws");
  const flood = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => flood.on("listening", resolve));
  flood.on("connection", (socket) => socket.on("message", () => socket.send("x".repeat(100 * 1024))));
  const address = /** @type {import("node:net").AddressInfo} */ (flood.address());
  const p = panel({ url: `ws://127.0.0.1:${address.port}`, home });
  const before = p.doc.describe();
  await p.controller.trigger();
  await new Promise((resolve) => flood.close(resolve));
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "protocol"]]);
  assertUntouched(p, before);
});

// ------------------------------------------------------------------------------------------ protocol 3

test("localhost in the address is dialled as 127.0.0.1, the literal address both proofs cover", async () => {
  /** @type {string[]} */
  const dialled = [];
  class Recording extends WebSocket {
    /** @param {string} url */
    constructor(url) { dialled.push(url); super(url); }
  }
  const port = new URL(server.url).port;
  const p = panel({ url: `ws://localhost:${port}`, home, WebSocketClass: Recording });
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]]);
  const report = await p.controller.diagnose();
  assert.match(report, /connection check: ok/);
  assert.deepEqual(dialled, [`ws://127.0.0.1:${port}`, `ws://127.0.0.1:${port}`]);
  assert.match(report, new RegExp(`settings: address ws://localhost:${port}`));
  assert.match(report, new RegExp(`address: ws://127\\.0\\.0\\.1:${port}`));
});

test("a result frame changed on the way is refused as unauthentic: nothing is added; the server still serves", async () => {
  class Tampering extends WebSocket {
    /** @param {any} handler */
    set onmessage(handler) {
      super.onmessage = (/** @type {any} */ event) => {
        if (typeof event.data !== "string" && event.data.byteLength > 1000) new Uint8Array(event.data)[100] ^= 1;
        handler(event);
      };
    }
    get onmessage() { return super.onmessage; }
  }
  const p = panel({ url: server.url, home, WebSocketClass: Tampering });
  const before = p.doc.describe();
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "unauthentic"]]);
  assert.match(p.controller.messages[0][2], /signature/);
  assertUntouched(p, before);
  const again = panel({ url: server.url, home });
  await again.controller.trigger();
  assert.deepEqual(again.controller.messages.map(([, code]) => code), ["done"]);
});

test("a server busy with another client's job refuses the handshake: Diagnostics tries 4 times, a job gets in once the slot frees", async () => {
  const small = await startServer(home, ["--max-connections", "1"]);
  try {
    // The hog: a job whose selection never arrives holds the only slot (its upload stays open).
    /** @type {() => void} */
    let uploaded = () => {};
    const holding = new Promise((resolve) => { uploaded = () => resolve(null); });
    class DroppingTheMask extends WebSocket {
      /** @param {string} url */
      constructor(url) { super(url); this.frames = 0; }
      /** @param {any} data */
      send(data) {
        if (typeof data !== "string" && ++this.frames === 2) { uploaded(); return; }
        super.send(data);
      }
    }
    const hog = panel({ url: small.url, home, WebSocketClass: DroppingTheMask });
    const hogDone = hog.controller.trigger();
    await holding;

    // Test connection while the slot stays taken: refused as busy each time, given up after 4 tries.
    let dialled = 0;
    class Counting extends WebSocket {
      /** @param {string} url */
      constructor(url) { dialled += 1; super(url); }
    }
    const checker = panel({ url: small.url, home, WebSocketClass: Counting });
    const report = await checker.controller.diagnose();
    assert.equal(dialled, 4);
    assert.match(report, /connection check: failed \(The server is busy/);
    assert.match(report, /got as far as: welcome; .*handshake try 4/);

    // A job: its first handshake is refused; the hog gives up meanwhile; a later try gets in.
    dialled = 0;
    class FreeingTheSlot extends Counting {
      /** @param {string} url */
      constructor(url) {
        super(url);
        if (dialled === 1) this.addEventListener("close", () => hog.controller.cancel());
      }
    }
    const p = panel({ url: small.url, home, WebSocketClass: FreeingTheSlot });
    await p.controller.trigger();
    assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]]);
    assert.ok(dialled >= 2, `refused at first (dialled ${dialled} times)`);
    assert.equal(/** @type {any} */ (p.controller.lastTrace).tries, dialled);
    await hogDone;
    assert.deepEqual(hog.controller.messages.map(([, code]) => code), ["cancelled"]);
  } finally {
    await small.stop();
  }
});

// ------------------------------------------------------------------------------ several objects (issue 26)

/** A WebSocket that keeps every text the panel sends (after the handshake: without its session tag). */
function spying() {
  /** @type {any[]} */
  const sent = [];
  class Spying extends WebSocket {
    /** @param {any} data */
    send(data) {
      if (typeof data === "string") sent.push(JSON.parse(sent.length < 2 ? data : data.slice(64)));
      super.send(data);
    }
  }
  return { sent, Spying };
}

for (const depth of /** @type {const} */ ([8, 16])) {
  test(`${depth}-bit, a selection of two separate parts: two object layers over one clean plate, each the library's, the composite exact, one history state`, async () => {
    const { sent, Spying } = spying();
    const p = panel({ url: server.url, home, depth, draw: twoParts, WebSocketClass: Spying });
    const before = p.doc.describe();
    const composite = p.doc.composite();
    await p.controller.trigger();

    assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]]);
    assert.match(p.controller.messages[0][2], /“Photo \(split\)” \(2 objects and the clean plate\)/);
    // The server announced "parts", and the panel (its setting on by default) asked for them.
    const welcome = /** @type {any} */ (p.controller.lastTrace).welcome;
    assert.ok(welcome.features.includes("parts"), "the server announces parts");
    assert.equal(sent.find((m) => m.type === "decompose").parts, true);
    assert.ok(p.shown.progress.some(([, fraction]) => fraction !== null), "progress was shown");
    for (const [text] of p.shown.progress) assert.doesNotMatch(text, /\d\/\d/, "a numbered stage is said in words");
    assert.deepEqual(p.doc.historyStates, [...before.history, HISTORY_NAME]);
    const tree = p.doc.layers.map((l) => [l.name, l.kind, l.visible, (l.layers || []).map((c) => [c.name, c.visible])]);
    assert.deepEqual(tree, [
      ["Photo (split)", "group", true, [["Photo – object 2", true], ["Photo – object 1", true], ["Photo – clean plate", true]]],
      ["Photo", "pixel", false, []],
      ["Background", "pixel", true, []],
    ]);
    assert.deepEqual(p.doc.describe().layers[1].pixels, before.layers[0].pixels, "the source's pixels are untouched");

    // Each layer is what layerdecomp.decompose(..., split_parts=True) makes of the whole picture.
    const expected = expectedLayers(p.image, p.mask, W, H, { parts: true });
    assert.equal(expected.objects.length, 2);
    const [top, bottom, plate] = /** @type {any[]} */ (p.doc.layers[0].layers);
    assert.ok(Buffer.from(p.doc.pixels8(plate)).equals(Buffer.from(expected.background)), "clean plate = the library's background");
    for (const [layer, want, name] of [[bottom, expected.objects[0], "object 1"], [top, expected.objects[1], "object 2"]]) {
      assert.ok(Buffer.from(p.doc.pixels8(layer)).equals(Buffer.from(want.foreground)), `${name} = the library's objects[${name === "object 1" ? 0 : 1}]`);
      const hidden = want.visibility.some((v, i) => v === 0 && want.foreground[i * 4 + 3] !== 0);
      if (!hidden) assert.equal(layer.mask, null, `${name}: no hidden parts, no layer mask`);
      else assert.ok(layer.mask, `${name}: its hidden parts behind a mask`);
    }
    // The two objects never overlap, and the picture is exactly as it was.
    const a = p.doc.pixels8(top), b = p.doc.pixels8(bottom);
    for (let i = 3; i < a.length; i += 4) assert.ok(a[i] === 0 || b[i] === 0, `the objects overlap at pixel ${(i - 3) / 4}`);
    assert.ok(Buffer.from(p.doc.composite()).equals(Buffer.from(composite)), "the composite is exactly the picture");
    // Ready to move the objects apart: the top one active, nothing selected.
    assert.deepEqual(p.doc.activeLayers, [top]);
    assert.equal(p.doc.selection.bounds, null);
    assert.deepEqual(p.ps.modalCommands, ["Reading the selection", HISTORY_NAME]);
  });
}

test("two separate parts with \"One layer per separate part\" off: today's one Object over Background; parts is not sent", async () => {
  const { sent, Spying } = spying();
  const p = panel({ url: server.url, home, draw: twoParts, settings: { parts: false }, WebSocketClass: Spying });
  await p.controller.trigger();
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["info", "done"]]);
  assert.ok(!("parts" in sent.find((m) => m.type === "decompose")), "no parts field at all");
  assert.deepEqual(p.doc.layers[0].layers.map((/** @type {any} */ l) => l.name), ["Object", "Background"]);
  assert.equal(p.doc.layers[0].name, "Photo (decomposed)");
  const expected = expectedLayers(p.image, p.mask, W, H);
  assert.ok(Buffer.from(p.doc.pixels8(p.doc.layers[0].layers[0])).equals(Buffer.from(expected.foreground)));
});

test("one part with parts asked for: today's result, unchanged", async () => {
  const { sent, Spying } = spying();
  const p = panel({ url: server.url, home, WebSocketClass: Spying });
  await p.controller.trigger();
  assert.equal(sent.find((m) => m.type === "decompose").parts, true);
  assert.equal(p.doc.layers[0].name, "Photo (decomposed)");
  assert.deepEqual(p.doc.layers[0].layers.map((/** @type {any} */ l) => l.name), ["Object", "Background"]);
});

test("more than 16 separate parts: the server's plain message, the document untouched", async () => {
  const p = panel({ url: server.url, home, draw: () => squares(17) });
  const before = p.doc.describe();
  await p.controller.trigger();
  const [[level, code, text]] = p.controller.messages;
  assert.deepEqual([level, code], ["error", "invalid_input"]);
  assert.match(text, /17 separate parts.*16/);
  assertUntouched(p, before);
});

test("a server that does not announce parts (an older one) is never sent the field, which it would refuse", async () => {
  const { WebSocketServer } = require("ws");
  const P = require("../src/protocol.js");
  const token = "an older server's token";
  const old = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => old.once("listening", resolve));
  const address = `127.0.0.1:${/** @type {any} */ (old.address()).port}`;
  /** @type {any[]} */
  const decomposes = [];
  // The handshake as protocol 3 has it, then a welcome without features; the decompose is answered with an error.
  old.on("connection", (socket) => {
    const serverNonce = "5e".repeat(32);
    /** @type {any} */
    let channel = null;
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      if (!channel) {
        const m = JSON.parse(String(data));
        if (m.type === "hello") {
          channel = { nonce: m.nonce };
          socket.send(P.encode({ type: "challenge", nonce: serverNonce, proof: P.proof(token, "server", m.nonce, serverNonce, address) }));
        }
        return;
      }
      if (!channel.open) {
        channel.open = new P.Channel(P.sessionKey(token, channel.nonce, serverNonce, address), "server");
        const welcome = JSON.parse(P.encode({ type: "welcome", server: "layerdecomp 0.1", backend: "classical" }));
        delete welcome.features;
        socket.send(channel.open.sealText(JSON.stringify(welcome)));
        return;
      }
      const m = JSON.parse(channel.open.openText(String(data)));
      decomposes.push(m);
      socket.send(channel.open.sealText(P.encode({ type: "error", code: "invalid_input", message: "no", job: m.job })));
    });
  });
  const p = panel({ url: `ws://${address}`, home, draw: twoParts, settings: { token } });
  const before = p.doc.describe();
  await p.controller.trigger();
  await new Promise((resolve) => old.close(resolve));
  assert.deepEqual(p.controller.messages.map(([level, code]) => [level, code]), [["error", "invalid_input"]]);
  assert.equal(decomposes.length, 1);
  assert.ok(!("parts" in decomposes[0]), JSON.stringify(decomposes[0]));
  assertUntouched(p, before);
});
