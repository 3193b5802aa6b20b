// The project's Python, for the tests that run the real server or ask the Python modules: found as
// the rest of the tests find it (scripts/test runs everything with the python3 on PATH, made complete
// by its pip install; pytest hands its own interpreter down as $LAYERDECOMP_PYTHON), checked to import
// the project, else one line that says which interpreter to name. `npm test` runs this file first
// (package.json's pretest), so a Python without the project fails there, once, not in 21 tests.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const REPO = path.resolve(__dirname, "..", "..");
// What the tests need of that Python: the library and the server of THIS checkout (an interpreter with
// another checkout installed would test that one), and what they import.
const NEEDS = "import layerdecomp, layerdecomp_server.app, numpy, websockets, os; " +
  "print(os.path.dirname(os.path.dirname(os.path.realpath(layerdecomp_server.__file__))))";

/** The interpreters to try, in order, with where each comes from. @returns {Array<[string, string]>} */
function candidates() {
  if (process.env.LAYERDECOMP_PYTHON) return [[process.env.LAYERDECOMP_PYTHON, "$LAYERDECOMP_PYTHON"]];
  /** @type {Array<[string, string]>} */
  const found = [["python3", "python3 on PATH"]];
  for (const venv of [path.join(REPO, ".venv", "bin", "python"), path.join(REPO, ".venv", "Scripts", "python.exe")]) {
    if (fs.existsSync(venv)) found.push([venv, "the checkout's .venv"]);
  }
  return found;
}

/** @param {string} python @returns {string | null} why it does not do, or null */
function lacks(python) {
  const run = spawnSync(python, ["-c", NEEDS], { cwd: REPO, encoding: "utf8", timeout: 120000 });
  if (run.error) return /** @type {any} */ (run.error).code === "ENOENT" ? "not found" : run.error.message;
  if (run.status === 0) {
    const root = run.stdout.trim().split("\n").pop() || "";
    return path.resolve(root) === fs.realpathSync(REPO) ? null : `its layerdecomp_server is another checkout's (${root})`;
  }
  const last = (run.stderr || "").trim().split("\n").pop() || `exit status ${run.status}`;
  return last;
}

/** @type {string | null} */
let chosen = null;

/** The interpreter to run, or an Error whose message is one line saying what to do. */
function projectPython() {
  if (chosen) return chosen;
  const tried = [];
  for (const [python, where] of candidates()) {
    const why = lacks(python);
    if (!why) return (chosen = python);
    tried.push(`${python} (${where}): ${why}`);
  }
  throw new Error(`no Python with the project's packages: ${tried.join("; ")}. Run the tests with ` +
    "LAYERDECOMP_PYTHON=/path/to/python, the interpreter scripts/test installed the project into (pip install -e .).");
}

if (require.main === module) {
  try {
    console.log(`the tests use ${projectPython()}`);
  } catch (err) {
    console.error(/** @type {Error} */ (err).message);
    process.exit(1);
  }
}

module.exports = { REPO, projectPython };
