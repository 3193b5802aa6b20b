/**
 * The server's access token, read from the server's own token file: no copying by the artist.
 *
 * The manifest asks for `localFileSystem: "fullAccess"` so that UXP's Node-style `fs` module may read
 * a file outside the plugin's sandbox; the only file the plugin reads is the token file, at the place
 * layerdecomp/config.py puts it (macOS: ~/Library/Application Support/layerdecomp/token, Windows:
 * %APPDATA%\layerdecomp\token). A token pasted into the panel's settings, or another token file named
 * there, takes precedence.
 *
 * Windows: UXP gives a plugin no environment, so %APPDATA% is found where UXP keeps the plugin's own
 * data folder (`localFileSystem.getDataFolder()`, under %APPDATA%\Adobe\UXP\PluginsStorage\...): a
 * roaming folder moved by policy or redirected to a server is found there as the server finds it.
 * Only when that path does not have that shape: <home>\AppData\Roaming, the server's own fallback.
 * `os.platform()` may answer "win32" or "win10" (UXP's documentation gives both): any "win…" is Windows.
 */
"use strict";

const M = require("./messages.js");

const TOKEN_FILE = "token";

// Where UXP keeps plugin data on Windows, below %APPDATA% (…\Adobe\UXP\PluginsStorage\PHSP\25\…).
const UXP_STORAGE = /\\Adobe\\UXP\\/i;

/** @param {string} platform as os.platform() */
const isWindows = (platform) => /^win/i.test(platform);

/**
 * %APPDATA% as the server resolves it: the part of the plugin's data folder before \Adobe\UXP\, else
 * the server's fallback <home>\AppData\Roaming.
 * @param {string} home @param {string} [pluginData] the native path of UXP's data folder for this plugin
 */
function windowsAppData(home, pluginData = "") {
  const match = UXP_STORAGE.exec(pluginData);
  return match && match.index > 0 ? pluginData.slice(0, match.index) : `${home}\\AppData\\Roaming`;
}

/**
 * Where the server keeps its token on this platform (the rule of layerdecomp/config.py).
 * @param {string} platform as os.platform(): "darwin", "win32", "win10", ... @param {string} home
 * @param {string} [pluginData] Windows: the native path of the plugin's data folder (see windowsAppData)
 */
function defaultTokenPath(platform, home, pluginData = "") {
  if (isWindows(platform)) return `${windowsAppData(home, pluginData)}\\layerdecomp\\${TOKEN_FILE}`;
  if (platform === "darwin") return `${home}/Library/Application Support/layerdecomp/${TOKEN_FILE}`;
  return `${home}/.config/layerdecomp/${TOKEN_FILE}`;
}

/**
 * The token: `pasted` if set, else the contents of `tokenFile` (or the default path), trimmed.
 * Rejects with an Error naming the path when there is no token there.
 * @param {{fs: {readFile(path: string, options: {encoding: string}): Promise<string | ArrayBuffer>},
 *   os: {platform(): string, homedir(): string}, pluginData?: () => Promise<string>}} modules UXP's `fs` and
 *   `os` (Node's in tests), and the native path of the plugin's data folder (Windows only)
 * @param {{token?: string, tokenFile?: string}} settings
 */
async function readToken(modules, settings) {
  const pasted = (settings.token || "").trim();
  if (pasted) return pasted;
  const path = (settings.tokenFile || "").trim() || await tokenPathHere(modules);
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

/** The default token path on this machine. @param {Parameters<typeof readToken>[0]} modules */
async function tokenPathHere(modules) {
  const platform = modules.os.platform();
  let pluginData = "";
  if (isWindows(platform) && modules.pluginData) {
    try {
      pluginData = await modules.pluginData();
    } catch (_) { /* the fallback, as the server's */ }
  }
  return defaultTokenPath(platform, modules.os.homedir(), pluginData);
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

module.exports = { defaultTokenPath, windowsAppData, tokenPathHere, readToken, tokenReader };
