/**
 * A fake `photoshop` module: an in-memory document with layers, a selection, history states and
 * executeAsModal, implementing exactly the parts of the UXP API the plugin uses, with Photoshop's
 * rules as documented (and stated where they are this fake's assumption):
 *
 * - document edits outside `core.executeAsModal` throw; one modal scope at a time;
 * - every edit adds a history state, unless `hostControl.suspendHistory` is in effect: then
 *   `resumeHistory(s, true)` adds ONE state and `resumeHistory(s, false)` restores the document as it
 *   was at `suspendHistory`;
 * - `imaging.getPixels` trims the requested bounds to where the layer has pixels and gives 3 components
 *   for a background layer (no alpha); `getSelection` gives the document's depth (16 bit: 0..32768);
 * - `putPixels` / `putLayerMask` want image data of the document's depth (assumption), and with
 *   `replace: false` change only the target rectangle;
 * - new layers and groups go above the active layer and become active;
 * - `selection.deselect()` is an edit (Select › Deselect adds a history state).
 *
 * Where the documentation is silent, the fake offers each answer (`new Photoshop(behaviour)`), and the
 * tests run the plugin under each (docs/photoshop.md lists them):
 * - `placeInside`: "top" | "bottom" — where `Layer.move(group, placeInside)` puts the layer;
 * - `putPixels`: "overwrite" | "blend" — whether `putPixels` with `replace: false` overwrites the target
 *   rectangle or blends the new pixels over what is there (normal, "over");
 * - `batchPlayErrors`: "throw" | "answer" — whether a descriptor batchPlay cannot play rejects, or is
 *   answered with an error descriptor (`{_obj: "error", message, result}`) in the returned list;
 * - `selectionSize`: "document" | 8 | 16 — the componentSize `getSelection` answers with;
 * - `refuse`: descriptor names (`_obj`) that batchPlay fails to play, to test a failing one.
 *
 * Pixels are kept canvas-sized per layer (RGBA at the document's depth), so a composite is easy.
 */
"use strict";

const constants = {
  DocumentMode: { RGB: "RGBColorMode", CMYK: "CMYKColorMode", GRAYSCALE: "grayscaleMode" },
  BitsPerChannelType: { EIGHT: "bitDepth8", SIXTEEN: "bitDepth16", THIRTYTWO: "bitDepth32" },
  LayerKind: { NORMAL: "pixel", GROUP: "group", TEXT: "text" },
  ElementPlacement: { PLACEBEFORE: "placeBefore", PLACEAFTER: "placeAfter", PLACEINSIDE: "placeInside" },
  BlendMode: { NORMAL: "normal", PASSTHROUGH: "passThrough", MULTIPLY: "multiply" },
};

const MAX16 = 32768;

class FakeImageData {
  /** @param {Uint8Array | Uint16Array} data @param {number} width @param {number} height @param {number} components @param {string} colorSpace */
  constructor(data, width, height, components, colorSpace) {
    if (data.length !== width * height * components) {
      throw new Error(`createImageDataFromBuffer: ${data.length} elements, expected ${width * height * components}`);
    }
    this.data = data;
    this.width = width;
    this.height = height;
    this.components = components;
    this.componentSize = data instanceof Uint16Array ? 16 : 8;
    this.colorSpace = colorSpace;
    this.hasAlpha = components === 4 || components === 2;
    this.chunky = true;
    this.disposed = false;
  }

  async getData(/** @type {any} */ options = {}) {
    if (this.disposed) throw new Error("getData after dispose");
    if (options.chunky === false) throw new Error("the fake gives chunky data only");
    return this.data;
  }

  dispose() { this.disposed = true; }
}

/** @typedef {{placeInside: "top" | "bottom", putPixels: "overwrite" | "blend", batchPlayErrors: "throw" | "answer",
 *   selectionSize: "document" | 8 | 16, refuse: string[]}} Behaviour */
/** @type {Behaviour} */
const DEFAULT_BEHAVIOUR = { placeInside: "top", putPixels: "overwrite", batchPlayErrors: "throw", selectionSize: "document", refuse: [] };
/** Each silent point's other answer. @type {Behaviour} */
const OTHER_BEHAVIOUR = { placeInside: "bottom", putPixels: "blend", batchPlayErrors: "answer", selectionSize: 8, refuse: [] };

/** @param {number} v @param {number} from full scale @param {number} to full scale */
const rescale = (v, from, to) => (from === to ? v : Math.round((v * to) / from));

class Photoshop {
  /** @param {Partial<Behaviour>} [behaviour] */
  constructor(behaviour = {}) {
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour };
    this.nextId = 1;
    /** @type {FakeDocument[]} */
    this.documents = [];
    /** @type {FakeDocument | null} */
    this.activeDocument = null;
    this.modal = false;
    /** @type {Array<{id: number, doc: FakeDocument, snapshot: any}>} */
    this.suspensions = [];
    /** The modal scopes entered, with their command names (tests look). */
    this.modalCommands = /** @type {string[]} */ ([]);
    // The module's shape: require("photoshop").app/.core/.imaging/.action/.constants
    const ps = this;
    this.module = {
      constants,
      app: {
        get activeDocument() { return ps.activeDocument; },
        get documents() { return ps.documents; },
      },
      core: {
        executeAsModal: (/** @type {any} */ fn, /** @type {any} */ options) => ps.executeAsModal(fn, options),
      },
      imaging: {
        getPixels: (/** @type {any} */ o) => ps.getPixels(o),
        getSelection: (/** @type {any} */ o) => ps.getSelection(o),
        putPixels: (/** @type {any} */ o) => ps.putPixels(o),
        putLayerMask: (/** @type {any} */ o) => ps.putLayerMask(o),
        createImageDataFromBuffer: async (/** @type {any} */ data, /** @type {any} */ o) =>
          new FakeImageData(data, o.width, o.height, o.components, o.colorSpace),
      },
      action: {
        batchPlay: (/** @type {any[]} */ descriptors, /** @type {any} */ options) => ps.batchPlay(descriptors, options),
      },
    };
  }

  /** @param {{width: number, height: number, depth?: 8 | 16, mode?: string}} options */
  createDocument(options) {
    const doc = new FakeDocument(this, this.nextId++, options);
    this.documents.push(doc);
    this.activeDocument = doc;
    return doc;
  }

  /** @param {FakeDocument} doc */
  closeDocument(doc) {
    this.documents = this.documents.filter((d) => d !== doc);
    if (this.activeDocument === doc) this.activeDocument = this.documents[0] || null;
  }

  requireModal(/** @type {string} */ what) {
    if (!this.modal) throw new Error(`${what}: the document can only be changed inside executeAsModal`);
  }

  /** @param {(context: any, descriptor: any) => Promise<any>} fn @param {{commandName: string}} options */
  async executeAsModal(fn, options) {
    if (this.modal) throw new Error("executeAsModal: the host is already in a modal state");
    if (!options || typeof options.commandName !== "string") throw new Error("executeAsModal needs a commandName");
    this.modal = true;
    this.modalCommands.push(options.commandName);
    const ps = this;
    const context = {
      isCancelled: false,
      onCancel: undefined,
      reportProgress() {},
      hostControl: {
        async suspendHistory(/** @type {any} */ info) {
          const doc = ps.documents.find((d) => d.id === info.documentID);
          if (!doc) throw new Error("suspendHistory: no such document");
          if (typeof info.name !== "string") throw new Error("suspendHistory needs a name");
          const suspension = { id: ps.nextId++, doc, snapshot: doc.snapshot(), name: info.name };
          ps.suspensions.push(suspension);
          doc.suspended = true;
          return { historySuspensionID: suspension.id };
        },
        async resumeHistory(/** @type {any} */ handle, commit = true) {
          const i = ps.suspensions.findIndex((s) => s.id === handle.historySuspensionID);
          if (i < 0) throw new Error("resumeHistory: unknown suspension");
          const [suspension] = ps.suspensions.splice(i, 1);
          suspension.doc.suspended = false;
          if (commit) suspension.doc.historyStates.push(handle.finalName || suspension.name);
          else suspension.doc.restore(suspension.snapshot);
        },
      },
    };
    try {
      return await fn(context, {});
    } finally {
      // Photoshop ends a suspension the plugin left open; this fake counts it as a bug in the plugin.
      if (this.suspensions.length) throw new Error("executeAsModal ended with the history still suspended");
      this.modal = false;
    }
  }

  /** @param {any} o */
  findDocument(o) {
    const doc = o.documentID === undefined ? this.activeDocument : this.documents.find((d) => d.id === o.documentID);
    if (!doc) throw new Error("no such document");
    return doc;
  }

  /** @param {any} o */
  async getPixels(o) {
    const doc = this.findDocument(o);
    const layer = doc.layerById(o.layerID);
    if (!layer || layer.kind !== "pixel") throw new Error("getPixels: not a pixel layer");
    const want = o.sourceBounds ? rectOf(o.sourceBounds) : { x: 0, y: 0, w: doc.width, h: doc.height };
    const area = intersect(want, layer.pixelBounds());
    if (area.w <= 0 || area.h <= 0) throw new Error("getPixels: no pixels in the requested region");
    const components = layer.isBackgroundLayer ? 3 : 4;
    const size = o.componentSize === 8 || o.componentSize === 16 ? o.componentSize : doc.depth;
    const out = size === 16 ? new Uint16Array(area.w * area.h * components) : new Uint8Array(area.w * area.h * components);
    const to = size === 16 ? MAX16 : 255;
    for (let row = 0; row < area.h; row++) {
      for (let col = 0; col < area.w; col++) {
        const src = ((area.y + row) * doc.width + area.x + col) * 4;
        const dst = (row * area.w + col) * components;
        for (let c = 0; c < components; c++) out[dst + c] = rescale(layer.pixels[src + c], doc.max, to);
      }
    }
    return { imageData: new FakeImageData(out, area.w, area.h, components, "RGB"), sourceBounds: boundsOf(area), level: 0 };
  }

  /** @param {any} o */
  async getSelection(o) {
    const doc = this.findDocument(o);
    const area = intersect(o.sourceBounds ? rectOf(o.sourceBounds) : { x: 0, y: 0, w: doc.width, h: doc.height },
      { x: 0, y: 0, w: doc.width, h: doc.height });
    const size = this.behaviour.selectionSize === "document" ? doc.depth : this.behaviour.selectionSize;
    const out = size === 16 ? new Uint16Array(area.w * area.h) : new Uint8Array(area.w * area.h);
    const to = size === 16 ? MAX16 : 255;
    for (let row = 0; row < area.h; row++) {
      for (let col = 0; col < area.w; col++) {
        const v = doc.selectionData ? doc.selectionData[(area.y + row) * doc.width + area.x + col] : 0;
        out[row * area.w + col] = rescale(v, doc.max, to);
      }
    }
    return { imageData: new FakeImageData(out, area.w, area.h, 1, "Grayscale"), sourceBounds: boundsOf(area) };
  }

  /** @param {any} o */
  async putPixels(o) {
    this.requireModal("putPixels");
    const doc = this.findDocument(o);
    const layer = doc.layerById(o.layerID);
    const image = /** @type {FakeImageData} */ (o.imageData);
    if (!layer || layer.kind !== "pixel") throw new Error("putPixels: not a pixel layer");
    if (image.disposed) throw new Error("putPixels: the image data was disposed");
    if (image.componentSize !== doc.depth) throw new Error(`putPixels: ${image.componentSize}-bit data into a ${doc.depth}-bit document`);
    if (image.components !== 4) throw new Error("putPixels: the fake takes RGBA data");
    const blend = o.replace === false && this.behaviour.putPixels === "blend";
    doc.edit("putPixels", () => {
      if (o.replace !== false) layer.pixels.fill(0);
      blit(image, o.targetBounds, doc, layer.pixels, 4, blend);
    });
  }

  /** @param {any} o */
  async putLayerMask(o) {
    this.requireModal("putLayerMask");
    const doc = this.findDocument(o);
    const layer = doc.layerById(o.layerID);
    const image = /** @type {FakeImageData} */ (o.imageData);
    if (!layer || !layer.mask) throw new Error("putLayerMask: the layer has no layer mask");
    if (image.components !== 1 || image.componentSize !== doc.depth) throw new Error("putLayerMask: wrong image data");
    doc.edit("putLayerMask", () => {
      if (o.replace !== false) layer.mask.fill(0);
      blit(image, o.targetBounds, doc, layer.mask, 1);
    });
  }

  /**
   * The two descriptors the plugin plays: select a layer, add a reveal-all layer mask to it. One it
   * cannot play rejects, or (behaviour "answer") ends the list with an error descriptor.
   * @param {any[]} descriptors
   */
  async batchPlay(descriptors) {
    /** @type {any[]} */
    const answers = [];
    for (const d of descriptors) {
      try {
        this.play(d);
        answers.push({});
      } catch (err) {
        if (this.behaviour.batchPlayErrors === "throw") throw err;
        answers.push({ _obj: "error", message: /** @type {Error} */ (err).message, result: -25920 });
        break;
      }
    }
    return answers;
  }

  /** @param {any} d */
  play(d) {
    this.requireModal("batchPlay");
    const doc = this.activeDocument;
    if (!doc) throw new Error("batchPlay: no document");
    if (this.behaviour.refuse.includes(d._obj)) throw new Error(`the command “${d._obj}” is not currently available`);
    if (d._obj === "select" && d._target && d._target[0]._ref === "layer") {
      const layer = doc.layerById(d._target[0]._id);
      if (!layer) throw new Error("select: no such layer");
      doc.active = [layer];
    } else if (d._obj === "make" && d.new && d.new._class === "channel" && d.at && d.at._value === "mask" &&
      d.using && d.using._value === "revealAll") {
      const layer = doc.active[0];
      if (!layer || layer.mask) throw new Error("make mask: no active layer, or it has a mask already");
      doc.edit("Add Layer Mask", () => { layer.mask = new doc.Array(doc.width * doc.height).fill(doc.max); });
    } else {
      throw new Error(`batchPlay: this fake does not know ${JSON.stringify(d)}`);
    }
  }
}

class FakeLayer {
  /** @param {FakeDocument} doc @param {number} id @param {string} name @param {"pixel" | "group"} kind */
  constructor(doc, id, name, kind) {
    this._doc = doc;
    this.id = id;
    this._name = name;
    this.kind = kind;
    this._visible = true;
    this._opacity = 100;
    this._blendMode = kind === "group" ? "passThrough" : "normal";
    this.isBackgroundLayer = false;
    /** @type {FakeLayer | null} */
    this._parent = null;
    /** @type {FakeLayer[]} top first */
    this.children = [];
    this.pixels = kind === "pixel" ? new doc.Array(doc.width * doc.height * 4) : null;
    /** @type {Uint8Array | Uint16Array | null} */
    this.mask = null;
  }

  get name() { return this._name; }
  set name(v) { this._doc.edit("Rename Layer", () => { this._name = v; }); }
  get visible() { return this._visible; }
  set visible(v) { this._doc.edit("Hide/Show Layer", () => { this._visible = v; }); }
  get opacity() { return this._opacity; }
  set opacity(v) { this._doc.edit("Opacity", () => { this._opacity = v; }); }
  get blendMode() { return this._blendMode; }
  set blendMode(v) { this._doc.edit("Blending Change", () => { this._blendMode = v; }); }
  get parent() { return this._parent; }
  get layers() { return this.kind === "group" ? this.children : null; }
  get document() { return this._doc; }

  get boundsNoEffects() {
    return boundsOf(this.kind === "pixel" ? this.pixelBounds() : { x: 0, y: 0, w: 0, h: 0 });
  }

  /** Where the layer has pixels (alpha > 0). */
  pixelBounds() {
    const doc = this._doc;
    let x0 = doc.width, y0 = doc.height, x1 = -1, y1 = -1;
    for (let y = 0; y < doc.height; y++) {
      for (let x = 0; x < doc.width; x++) {
        if (/** @type {any} */ (this.pixels)[(y * doc.width + x) * 4 + 3] !== 0) {
          x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
        }
      }
    }
    return x1 < 0 ? { x: 0, y: 0, w: 0, h: 0 } : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
  }

  async duplicate() {
    const doc = this._doc;
    if (this.kind !== "pixel") throw new Error("the fake duplicates pixel layers only");
    let copy = /** @type {FakeLayer | null} */ (null);
    doc.edit("Duplicate Layer", () => {
      copy = new FakeLayer(doc, doc.ps.nextId++, `${this._name} copy`, "pixel");
      copy.pixels = this.pixels.slice();
      copy.mask = this.mask ? this.mask.slice() : null;
      copy._visible = this._visible;
      copy._opacity = this._opacity;
      copy._blendMode = this._blendMode;
      doc.insert(copy, doc.siblings(this), doc.siblings(this).indexOf(this), this._parent);
      doc.active = [copy];
    });
    return /** @type {FakeLayer} */ (/** @type {unknown} */ (copy));
  }

  /** @param {FakeLayer} relative @param {string} placement */
  move(relative, placement) {
    const doc = this._doc;
    doc.edit("Move Layer", () => {
      doc.detach(this);
      if (placement === "placeInside") {
        if (relative.kind !== "group") throw new Error("placeInside needs a group");
        doc.insert(this, relative.children, doc.ps.behaviour.placeInside === "top" ? 0 : relative.children.length, relative);
      } else if (placement === "placeBefore" || placement === "placeAfter") {
        const list = doc.siblings(relative);
        doc.insert(this, list, list.indexOf(relative) + (placement === "placeAfter" ? 1 : 0), relative._parent);
      } else {
        throw new Error(`the fake does not know placement ${placement}`);
      }
    });
  }

  delete() { this._doc.edit("Delete Layer", () => this._doc.detach(this)); }
}

class FakeDocument {
  /** @param {Photoshop} ps @param {number} id @param {{width: number, height: number, depth?: 8 | 16, mode?: string}} o */
  constructor(ps, id, o) {
    this.ps = ps;
    this.id = id;
    this.width = o.width;
    this.height = o.height;
    this.depth = o.depth || 8;
    this.mode = o.mode || constants.DocumentMode.RGB;
    this.bitsPerChannel = this.depth === 16 ? constants.BitsPerChannelType.SIXTEEN : constants.BitsPerChannelType.EIGHT;
    this.Array = this.depth === 16 ? Uint16Array : Uint8Array;
    this.max = this.depth === 16 ? MAX16 : 255;
    /** @type {FakeLayer[]} top first */
    this.top = [];
    /** @type {FakeLayer[]} */
    this.active = [];
    /** @type {Uint8Array | Uint16Array | null} canvas-sized grey levels, null: no selection */
    this.selectionData = null;
    /** @type {string[]} */
    this.historyStates = ["Open"];
    this.suspended = false;
    const doc = this;
    this.selection = {
      get bounds() {
        if (!doc.selectionData) return null;
        let x0 = doc.width, y0 = doc.height, x1 = -1, y1 = -1;
        doc.selectionData.forEach((v, i) => {
          if (!v) return;
          const x = i % doc.width, y = Math.floor(i / doc.width);
          x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
        });
        return x1 < 0 ? null : { left: x0, top: y0, right: x1 + 1, bottom: y1 + 1 };
      },
      async deselect() { doc.edit("Deselect", () => { doc.selectionData = null; }); },
    };
  }

  get layers() { return this.top; }
  get activeLayers() { return this.active; }

  /** Set up (not an edit): a pixel layer from RGBA8 pixels, at the top. @param {string} name @param {Uint8Array} rgba8 */
  addPixelLayer(name, rgba8, { background = false } = {}) {
    const layer = new FakeLayer(this, this.ps.nextId++, name, "pixel");
    layer.pixels = this.depth === 16 ? Uint16Array.from(rgba8, (v) => Math.round((v * MAX16) / 255)) : Uint8Array.from(rgba8);
    layer.isBackgroundLayer = background;
    this.top.unshift(layer);
    this.active = [layer];
    return layer;
  }

  /** Set up (not an edit): the selection's grey levels (8-bit, canvas-sized), or null. @param {Uint8Array | null} grey8 */
  select(grey8) {
    this.selectionData = grey8 && (this.depth === 16 ? Uint16Array.from(grey8, (v) => Math.round((v * MAX16) / 255)) : Uint8Array.from(grey8));
  }

  /** @param {{name?: string}} [options] */
  async createPixelLayer(options = {}) {
    let layer = /** @type {any} */ (null);
    this.edit("New Layer", () => {
      layer = new FakeLayer(this, this.ps.nextId++, options.name || "Layer", "pixel");
      this.insertAboveActive(layer);
    });
    return /** @type {FakeLayer} */ (layer);
  }

  /** @param {{name?: string}} [options] */
  async createLayerGroup(options = {}) {
    let group = /** @type {any} */ (null);
    this.edit("New Group", () => {
      group = new FakeLayer(this, this.ps.nextId++, options.name || "Group", "group");
      this.insertAboveActive(group);
    });
    return /** @type {FakeLayer} */ (group);
  }

  /** @param {FakeLayer} layer */
  insertAboveActive(layer) {
    const anchor = this.active[0];
    if (anchor) this.insert(layer, this.siblings(anchor), this.siblings(anchor).indexOf(anchor), anchor._parent);
    else this.insert(layer, this.top, 0, null);
    this.active = [layer];
  }

  /** @param {FakeLayer} layer @param {FakeLayer[]} list @param {number} index @param {FakeLayer | null} parent */
  insert(layer, list, index, parent) {
    list.splice(index, 0, layer);
    layer._parent = parent;
  }

  /** @param {FakeLayer} layer */
  siblings(layer) { return layer._parent ? layer._parent.children : this.top; }

  /** @param {FakeLayer} layer */
  detach(layer) {
    const list = this.siblings(layer);
    list.splice(list.indexOf(layer), 1);
    layer._parent = null;
  }

  /** @param {number} id @returns {FakeLayer | null} */
  layerById(id) {
    /** @param {FakeLayer[]} list @returns {FakeLayer | null} */
    const walk = (list) => {
      for (const layer of list) {
        if (layer.id === id) return layer;
        const inside = walk(layer.children);
        if (inside) return inside;
      }
      return null;
    };
    return walk(this.top);
  }

  /** Every change goes through here: modal only, and one history state unless history is suspended. @param {string} name @param {() => void} change */
  edit(name, change) {
    this.ps.requireModal(name);
    if (!this.ps.documents.includes(this)) throw new Error(`${name}: the document is closed`);
    change();
    if (!this.suspended) this.historyStates.push(name);
  }

  /** Everything an edit can change, deep-copied. */
  snapshot() {
    /** @param {FakeLayer} layer @returns {any} */
    const copy = (layer) => ({ layer, name: layer._name, visible: layer._visible, opacity: layer._opacity,
      blendMode: layer._blendMode, parent: layer._parent, pixels: layer.pixels && layer.pixels.slice(),
      mask: layer.mask && layer.mask.slice(), children: layer.children.map(copy) });
    return { top: this.top.map(copy), active: [...this.active], selection: this.selectionData && this.selectionData.slice() };
  }

  /** @param {any} snapshot */
  restore(snapshot) {
    /** @param {any} s @returns {FakeLayer} */
    const back = (s) => {
      const layer = s.layer;
      Object.assign(layer, { _name: s.name, _visible: s.visible, _opacity: s.opacity, _blendMode: s.blendMode,
        _parent: s.parent, pixels: s.pixels, mask: s.mask, children: s.children.map(back) });
      return layer;
    };
    this.top = snapshot.top.map(back);
    this.active = snapshot.active;
    this.selectionData = snapshot.selection;
  }

  /** A description of everything, to compare "untouched" (pixels as digests). */
  describe() {
    /** @param {any} data */
    const digest = (data) => (data ? require("node:crypto").createHash("sha256").update(Buffer.from(data.buffer, data.byteOffset, data.byteLength)).digest("hex") : null);
    /** @param {FakeLayer} layer @returns {any} */
    const one = (layer) => ({ id: layer.id, name: layer._name, kind: layer.kind, visible: layer._visible,
      opacity: layer._opacity, blendMode: layer._blendMode, pixels: digest(layer.pixels), mask: digest(layer.mask),
      children: layer.children.map(one) });
    return { layers: this.top.map(one), history: [...this.historyStates], selection: digest(this.selectionData) };
  }

  /** The visible picture, RGBA8, from Photoshop's normal blending of visible layers (masks, opacity, groups). */
  composite() {
    const n = this.width * this.height;
    const out = this.blend(this.top, n);
    const result = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      const a = out[i * 4 + 3];
      for (let c = 0; c < 3; c++) result[i * 4 + c] = a > 0 ? Math.round((out[i * 4 + c] / a) * 255) : 0;
      result[i * 4 + 3] = Math.round(a * 255);
    }
    return result;
  }

  /** Premultiplied float RGBA of `layers` (top first) over transparency. @param {FakeLayer[]} layers @param {number} n */
  blend(layers, n) {
    const acc = new Float64Array(n * 4);
    for (const layer of [...layers].reverse()) {
      if (!layer._visible) continue;
      if (layer._blendMode !== "normal" && layer._blendMode !== "passThrough") throw new Error("the fake blends normally only");
      const source = layer.kind === "group" ? this.blend(layer.children, n) : null;
      const opacity = layer._opacity / 100;
      for (let i = 0; i < n; i++) {
        let r, g, b, a;
        if (source) {
          [r, g, b, a] = [source[i * 4], source[i * 4 + 1], source[i * 4 + 2], source[i * 4 + 3]];
        } else {
          const p = /** @type {any} */ (layer.pixels);
          a = p[i * 4 + 3] / this.max;
          [r, g, b] = [p[i * 4] / this.max * a, p[i * 4 + 1] / this.max * a, p[i * 4 + 2] / this.max * a];
        }
        const m = (layer.mask ? layer.mask[i] / this.max : 1) * opacity;
        [r, g, b, a] = [r * m, g * m, b * m, a * m];
        for (const [c, v] of [r, g, b, a].entries()) acc[i * 4 + c] = v + acc[i * 4 + c] * (1 - a);
      }
    }
    return acc;
  }

  /** A layer's pixels as RGBA8 (for comparing with the library's 8-bit output). @param {FakeLayer} layer */
  pixels8(layer) {
    const p = /** @type {any} */ (layer.pixels);
    return this.depth === 16 ? Uint8Array.from(p, (/** @type {number} */ v) => Math.round((v * 255) / MAX16)) : Uint8Array.from(p);
  }

  /** @param {FakeLayer} layer */
  mask8(layer) {
    const m = /** @type {any} */ (layer.mask);
    return this.depth === 16 ? Uint8Array.from(m, (/** @type {number} */ v) => Math.round((v * 255) / MAX16)) : Uint8Array.from(m);
  }
}

/**
 * Put `image` into `target` at `at`: overwriting, or (`blend`) blending it over what is there.
 * @param {FakeImageData} image @param {{left: number, top: number}} at @param {FakeDocument} doc @param {any} target
 * @param {number} channels @param {boolean} [blend]
 */
function blit(image, at, doc, target, channels, blend = false) {
  const left = at ? at.left : 0, top = at ? at.top : 0;
  if (at && "width" in at && (at.width !== image.width || at.height !== image.height)) {
    throw new Error("targetBounds' size differs from the image data's");
  }
  for (let row = 0; row < image.height; row++) {
    for (let col = 0; col < image.width; col++) {
      const x = left + col, y = top + row;
      if (x < 0 || y < 0 || x >= doc.width || y >= doc.height) continue;
      const dst = (y * doc.width + x) * channels, src = (row * image.width + col) * channels;
      if (blend) {
        over(image.data, src, target, dst, doc.max);
        continue;
      }
      for (let c = 0; c < channels; c++) target[dst + c] = image.data[src + c];
    }
  }
}

/** Normal blending of one RGBA pixel over another ("over"), in place. @param {any} from @param {number} i @param {any} onto @param {number} j @param {number} max */
function over(from, i, onto, j, max) {
  const as = from[i + 3] / max, ad = onto[j + 3] / max;
  const a = as + ad * (1 - as);
  if (a === 0) return;
  for (let c = 0; c < 3; c++) onto[j + c] = Math.round((from[i + c] * as + onto[j + c] * ad * (1 - as)) / a);
  onto[j + 3] = Math.round(a * max);
}

/** @param {any} b */
const rectOf = (b) => ({ x: b.left, y: b.top, w: b.right - b.left, h: b.bottom - b.top });
/** @param {any} r */
const boundsOf = (r) => ({ left: r.x, top: r.y, right: r.x + r.w, bottom: r.y + r.h });
/** @param {any} a @param {any} b */
function intersect(a, b) {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  return { x: x0, y: y0, w: Math.max(0, x1 - x0), h: Math.max(0, y1 - y0) };
}

module.exports = { Photoshop, FakeDocument, FakeLayer, constants, DEFAULT_BEHAVIOUR, OTHER_BEHAVIOUR };
