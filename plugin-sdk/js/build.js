// Build a JavaScript plugin into a component Prism loads: bundle the source
// and its imports into one module (esbuild; ComponentizeJS resolves relative
// imports only), check in Node that it exports what its metadata says, then
// run ComponentizeJS against the contract this SDK speaks (./wit) with every
// WASI feature off: a plugin gets no clock, randomness, stdio or network.

import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WIT_DIR = fileURLToPath(new URL('./wit/', import.meta.url));
const WORLDS = { authn: ['authn-plugin', 'authenticator', 'authenticate'], authz: ['authz-plugin', 'authorizer', 'authorize'] };

/**
 * Build the plugin project in `projectDir`. Its package.json may say
 * `"prism": { "source": "src/plugin.js", "output": "NAME.wasm" }` (those are
 * the defaults, NAME being the plugin's name). Returns what was written.
 */
export async function buildPlugin({ projectDir = process.cwd(), output } = {}) {
  const started = Date.now();
  const dir = resolve(projectDir);
  const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  const options = manifest.prism ?? {};
  const source = resolve(dir, options.source ?? 'src/plugin.js');
  await stat(source).catch(() => {
    throw new Error(`${source} does not exist (set "prism": { "source": ... } in package.json)`);
  });

  const bundle = join(dir, 'build', 'plugin.bundle.js');
  await mkdir(dirname(bundle), { recursive: true });
  const { build } = await importFrom(dir, 'esbuild');
  await build({
    entryPoints: [source],
    bundle: true,
    format: 'esm',
    // The component's runtime is web-like (no Node built-ins): take
    // packages' browser variants (bcryptjs, say, then skips Node's crypto).
    platform: 'browser',
    target: 'es2022',
    outfile: bundle,
    logLevel: 'error',
  });

  const plugin = await import(`${pathToFileURL(bundle).href}?t=${Date.now()}`);
  const exported = ['authenticator', 'authorizer'].filter((name) => plugin[name]);
  if (exported.length !== 1) {
    throw new Error(`${source} must export exactly one of \`authenticator\` and \`authorizer\`; it exports ${exported.join(' and ') || 'neither'}`);
  }
  const meta = plugin[exported[0]].metadata();
  const [world, exportName, decide] = WORLDS[meta.kind] ?? [];
  if (exportName !== exported[0]) {
    throw new Error(`metadata() says kind ${JSON.stringify(meta.kind)} but the module exports \`${exported[0]}\``);
  }
  for (const fn of ['metadata', 'configure', decide]) {
    if (typeof plugin[exportName][fn] !== 'function') {
      throw new Error(`\`${exportName}\` has no ${fn}() function`);
    }
  }

  // ComponentizeJS reads the WIT from inside a sandbox that sees the
  // project, not necessarily where this SDK is installed: give it a copy.
  const wit = join(dir, 'build', 'wit');
  await mkdir(wit, { recursive: true });
  await copyFile(join(WIT_DIR, 'auth.wit'), join(wit, 'auth.wit'));
  const { componentize } = await importFrom(dir, '@bytecodealliance/componentize-js');
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: wit,
    worldName: world,
    disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
  });
  const out = resolve(dir, output ?? options.output ?? `${meta.names[0]}.wasm`);
  await mkdir(dirname(out), { recursive: true });
  // Replaced in one step: a server watching the directory never loads half
  // a file (and ignores this name, which does not end in .wasm).
  const partial = `${out}.${process.pid}.partial`;
  await writeFile(partial, component);
  await rename(partial, out);
  return { output: out, name: meta.names[0], kind: meta.kind, bytes: component.length, ms: Date.now() - started };
}

/**
 * Import a build tool as the project installed it. Node resolves a package
 * from the importing file, and this SDK may live outside the project (a
 * `file:` dependency on a checkout), so look in the project's node_modules
 * first.
 */
async function importFrom(projectDir, name) {
  for (let dir = projectDir; ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name);
    const manifest = await readFile(join(root, 'package.json'), 'utf8').catch(() => undefined);
    if (manifest !== undefined) {
      const pkg = JSON.parse(manifest);
      let entry = pkg.exports;
      if (entry && typeof entry === 'object' && '.' in entry) entry = entry['.'];
      if (entry && typeof entry === 'object') entry = entry.import ?? entry.default ?? entry.require;
      if (typeof entry === 'object') entry = entry?.default;
      entry ??= pkg.module ?? pkg.main ?? 'index.js';
      return import(pathToFileURL(join(root, entry)).href);
    }
    if (dirname(dir) === dir) return import(name);
  }
}
