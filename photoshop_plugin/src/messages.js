/**
 * Everything the panel tells an artist, in one place, in words an artist understands.
 *
 * `UserError` is a failure with a message ready to show; `forServerError` turns the server's error
 * codes into such messages. Every failure message says that the picture was not changed, because that
 * is true and it is the first thing an artist wants to know.
 */
"use strict";

const UNCHANGED = "Your picture was not changed.";

class UserError extends Error {
  /** @param {string} code short and machine-readable (logs and tests use it) @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = "UserError";
    this.code = code;
  }
}

const make = (/** @type {string} */ code, /** @type {string} */ text) => new UserError(code, text);

const messages = {
  UNCHANGED,
  UserError,
  // --- before anything is sent
  noDocument: () => make("no_document", "Open a picture first, then select the object to separate."),
  noLayer: () => make("no_layer", "Select the one pixel layer that holds the object in the Layers panel, then try again."),
  notPixelLayer: (/** @type {string} */ kind) => make("not_pixel_layer",
    `The active layer is a ${kind} layer. Select the pixel layer that holds the object (or rasterize this one ` +
    "with Layer › Rasterize › Layer), then try again."),
  unsupportedColor: (/** @type {string} */ what) => make("unsupported_color",
    `This picture is ${what}; Decompose Selection works on RGB pictures with 8 or 16 bits per channel. ` +
    "Convert it with Image › Mode › RGB Color (and 8 or 16 Bits/Channel), then try again."),
  noSelection: () => make("no_selection",
    "Nothing is selected. Select the object to separate (for example with the Object Selection or Lasso tool), " +
    "then choose Decompose Selection again."),
  emptySelection: () => make("empty_selection", "The selection is empty inside the picture. Select the object to separate, then try again."),
  wholeImage: () => make("whole_image",
    "The whole picture is selected. Select only the object to separate (Select › Deselect, then draw around " +
    "the object), then try again."),
  busy: () => make("busy", "A decomposition is already running; wait for it to finish or cancel it first."),
  noToken: (/** @type {string} */ where) => make("no_token",
    `The server's access token was not found (looked in ${where}). Start the server once with ` +
    `“layerdecomp serve” (it creates the token), or paste the token into the panel's settings. ${UNCHANGED}`),
  // --- while talking to the server
  unreachable: (/** @type {string} */ url) => make("unreachable",
    `Could not reach the decomposition server at ${url}: nothing answers there. Start it with the command ` +
    `“layerdecomp serve” (it prints the address it listens on; the panel's Server address must be that one) ` +
    `and try again. ${UNCHANGED}`),
  refused: (/** @type {string} */ url, /** @type {string} */ reason) => make("refused",
    `The decomposition server at ${url} is running but refused this panel. It said: “${reason}”. ` +
    (/\borigin\b/i.test(reason)
      ? "Photoshop sent an Origin the server does not admit: start the server with “layerdecomp serve " +
        "--allow-origin” followed by the origin it names (docs/photoshop.md, “Origin”, explains), then try again. "
      : "Do what it says, then try again. ") + UNCHANGED),
  badAddress: (/** @type {string} */ url, /** @type {string} */ detail) => make("bad_address",
    `Photoshop would not open ${url} (${detail}). The plugin may only connect to the addresses its manifest ` +
    "lists (ws://127.0.0.1:8765 and ws://[::1]:8765; ws://localhost:8765 connects to the first): set the " +
    "panel's Server address to one of them, " +
    `or add yours to manifest.json's network domains. ${UNCHANGED}`),
  serverLost: () => make("server_lost",
    "The decomposition server stopped while working on the picture (it may have crashed or been closed). " +
    `Start it again and retry. ${UNCHANGED}`),
  serverConfused: (/** @type {string} */ detail) => make("protocol",
    `The server answered something this plugin does not understand (${detail}). Make sure the plugin and the ` +
    `server come from the same version. ${UNCHANGED}`),
  serverUnverified: () => make("server_unverified",
    "The program answering at the server address could not prove it knows your token: it is not your " +
    "layerdecomp server, or that server uses another token file. Nothing was sent to it. Check the server " +
    `address and the token in the panel's settings. ${UNCHANGED}`),
  cancelled: () => make("cancelled", `Cancelled. ${UNCHANGED}`),
  // --- when the result arrives
  documentGone: () => make("document_gone", "The picture was closed before the result arrived; nothing was added."),
  layerGone: () => make("layer_gone", `The layer was deleted before the result arrived; nothing was added. ${UNCHANGED}`),
  layerChanged: () => make("layer_changed",
    "The layer was painted on while the decomposition ran, so the result no longer fits it. " +
    `Run Decompose Selection again. ${UNCHANGED}`),
  unexpected: (/** @type {string} */ detail) => make("bug",
    `Something went wrong: ${detail}. (If Photoshop is busy with another command, wait for it and try again.) ${UNCHANGED}`),
  writeFailed: (/** @type {string} */ detail) => make("write_failed", `Could not add the result layers (${detail}). ${UNCHANGED}`),
  done: (/** @type {string} */ layer, /** @type {string} */ group, objects = 0) =>
    `Separated “${layer}” into the group “${group}” (${objects > 1 ? `${objects} objects and the clean plate` : "Object and Background"}). ` +
    "The original layer is hidden below it; Edit › Undo takes it all back in one step.",
};

/** @type {Record<string, string>} */
const SERVER_ERRORS = {
  unauthorized: "The server refused this panel's access token ({detail}). Leave the token empty in the panel's settings " +
    "so the panel reads the server's token file, or paste that file's contents there.",
  unauthentic: "A message that claimed to come from your layerdecomp server did not carry its session's signature: " +
    "another program may be interfering with the connection.",
  unsupported_version: "The plugin and the server are different versions ({detail}). Install matching versions of both.",
  too_large: "The selection is too large for the server: {detail}.",
  busy: "The server is busy with other pictures. Try again in a moment.",
  backend_unavailable: "The server cannot use the chosen method: {detail}. Leave “Backend” empty in the panel's settings " +
    "for the server's default.",
  invalid_input: "The server could not work on this selection: {detail}.",
  shutting_down: "The server is shutting down. Start it again and retry.",
  timeout: "The picture took too long to reach the server. Try again.",
  internal_error: "The server ran into a problem: {detail}.",
};

/**
 * A server `error` message (its code and sentence) as an artist-facing UserError.
 * @param {string} code @param {string} detail
 */
function forServerError(code, detail) {
  if (code === "cancelled") return messages.cancelled();
  const template = SERVER_ERRORS[code] || "The server reported a problem: {detail}.";
  const trimmed = detail.replace(/[. ]+$/, "");
  return new UserError(code, `${template.replace("{detail}", trimmed)} ${UNCHANGED}`);
}

module.exports = { ...messages, forServerError };
