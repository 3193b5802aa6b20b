/**
 * The panel's Diagnostics as plain text, to paste into a bug report: the plugin's and the server's
 * versions, what a fresh connection's handshake saw, what the last job's saw, the last error.
 *
 * Never the token: only whether one was pasted or read from a file, and from where.
 */
"use strict";

/**
 * @param {import("./client.js").Trace | null} trace
 * @returns {string[]}
 */
function traceLines(trace) {
  if (!trace) return ["  (none yet)"];
  const closed = trace.closeCode === null ? "not closed by the server"
    : `closed with ${trace.closeCode}${trace.closeReason ? ` “${trace.closeReason}”` : ""}`;
  return [
    `  address: ${trace.url}`,
    `  socket opened: ${trace.opened ? "yes" : "no"}; got as far as: ${trace.stage}; ${closed}` +
      (trace.tries > 1 ? ` (handshake try ${trace.tries}: the server was busy or dropped the earlier ones)` : ""),
    `  server: ${trace.server || "?"}, backend ${trace.backend || "?"} on ${trace.device || "?"}, protocol ${trace.protocol ?? "?"}` +
      (trace.welcome ? `, features: ${(trace.welcome.features || []).join(", ") || "none"}` : ""),
  ];
}

/**
 * @param {{about: Record<string, string>, settings: Record<string, any>, check: import("./client.js").Trace,
 *   checkError: Error | null, lastJob: import("./client.js").Trace | null, lastError: Error | null}} facts
 */
function diagnosticsReport(facts) {
  const { about, settings } = facts;
  const token = settings.token ? "pasted in the settings" : `read from ${settings.tokenFile || "the server's token file"}`;
  return [
    "Decompose Selection — diagnostics",
    ...Object.entries(about).map(([key, value]) => `${key}: ${value}`),
    `settings: address ${settings.url}, margin ${settings.margin}, backend ${settings.backend || "(the server's)"}, ` +
      `one layer per separate part ${settings.parts === false ? "off" : "on"}, token ${token}`,
    `connection check: ${facts.checkError ? `failed (${facts.checkError.message})` : "ok"}`,
    ...traceLines(facts.check),
    "last job's connection:",
    ...traceLines(facts.lastJob),
    `last error: ${facts.lastError ? facts.lastError.message : "none"}`,
  ].join("\n");
}

module.exports = { diagnosticsReport };
