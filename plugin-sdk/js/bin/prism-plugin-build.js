#!/usr/bin/env node
// prism-plugin-build [-o OUT.wasm] [PROJECT_DIR]: build a JavaScript Prism
// plugin into a WebAssembly component (see ../build.js).
import { buildPlugin } from '../build.js';

const args = process.argv.slice(2);
let output;
let projectDir;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '-o' || args[i] === '--output') output = args[++i];
  else if (args[i] === '-h' || args[i] === '--help') {
    console.log('usage: prism-plugin-build [-o OUT.wasm] [PROJECT_DIR]\n\nBundles the plugin (package.json "prism.source", default src/plugin.js),\nchecks its exports and metadata, and writes a component for Prism\n(default: <plugin name>.wasm in the project).');
    process.exit(0);
  } else projectDir = args[i];
}
try {
  const built = await buildPlugin({ projectDir, output });
  console.log(`built ${built.output}: ${built.kind} plugin ${built.name}, ${(built.bytes / 1e6).toFixed(1)} MB in ${(built.ms / 1000).toFixed(1)} s`);
  console.log(`check it as the server would: prism plugin inspect ${built.output}`);
} catch (e) {
  console.error(`prism-plugin-build: ${e?.message ?? e}`);
  process.exit(1);
}
