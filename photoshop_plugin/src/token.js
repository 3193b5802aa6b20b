/**
 * The server's access token, read from the server's own token file: no copying by the artist.
 *
 * The manifest asks for `localFileSystem: "fullAccess"` so that UXP's Node-style `fs` module may read
 * a file outside the plugin's sandbox; the only file the plugin reads is the token file, at the place
 * layerdecomp/config.py puts it (macOS: ~/Library/Application Support/layerdecomp/token, Windows:
 * %APPDATA%\layerdecomp\token, which is <home>\AppData\Roaming\... unless moved). A token pasted into
 * the panel's settings, or another token file named there, takes precedence.
 */
"use strict";

const M = require("./messages.js");

const TOKEN_FILE = "token";

/**
 * Where the server keeps its token on this platform (the rule of layerdecomp/config.py).
 * @param {string} platform as os.platform(): "darwin", "win32", ... @param {string} home
 */
function defaultTokenPath(platform, home) {
  if (platform === "win32") return `${home}\\AppData\\Roaming\\layerdecomp\\${TOKEN_FILE}`;
  if (platform === "darwin") return `${home}/Library/Application Support/layerdecomp/${TOKEN_FILE}`;
  return `${home}/.config/layerdecomp/${TOKEN_FILE}`;
}

/**
 * The token: `pasted` if set, else the contents of `tokenFile` (or the default path), trimmed.
 * Rejects with an Error naming the path when there is no token there.
 * @param {{fs: {readFile(path: string, options: {encoding: string}): Promise<string | ArrayBuffer>},
 *   os: {platform(): string, homedir(): string}}} modules UXP's `fs` and `os` (Node's in tests)
 * @param {{token?: string, tokenFile?: string}} settings
 */
async function readToken(modules, settings) {
  const pasted = (settings.token || "").trim();
  if (pasted) return pasted;
  const path = (settings.tokenFile || "").trim() || defaultTokenPath(modules.os.platform(), modules.os.homedir());
  let text;
  try {
    text = await modules.fs.readFile(path, { encoding: "utf-8" });
  } catch (err) {
    throw Object.assign(new Error(`cannot read ${path}`), { path });
  }
  const token = String(text).trim();
  if (!token) throw Object.assign(new Error(`${path} is empty`), { path });
  return token;
}

/**
 * What the controller calls: the token, or a UserError that says where it looked.
 * @param {Parameters<typeof readToken>[0]} modules @param {() => {token?: string, tokenFile?: string}} loadSettings
 */
function tokenReader(modules, loadSettings) {
  return async () => {
    try {
      return await readToken(modules, loadSettings());
    } catch (err) {
      throw M.noToken(/** @type {any} */ (err).path || "the token file");
    }
  };
}

module.exports = { defaultTokenPath, readToken, tokenReader };
