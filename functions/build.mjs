/**
 * Builds the deployed function: functions/index.ts bundled by esbuild into one CommonJS file,
 * dist/functions/index.js (the `main` of package.json, Terraform's entry point), with a source
 * map beside it. `npm run build` type-checks first (tsc --noEmit), then runs this. An argument
 * names another output directory instead of dist/ (`node functions/build.mjs /tmp/out`).
 *
 * Bundled: the broker's own code and the small pure-JavaScript libraries it loads on every cold
 * start (BUNDLED below). One file instead of about 250 saves the module resolution, file reads
 * and per-module wrapping that dominated the cold start (docs/decisions.md, "Cold start").
 * Every other dependency stays external, loaded from node_modules at run time:
 * - @google-cloud/functions-framework must be the framework's own instance (its function
 *   registry, and the body-parser exports functions/http/framework-body.ts replaces);
 * - the Google client libraries (Firestore, KMS, google-auth-library, Logging's LogSync) read
 *   files next to their code, ship native or optional parts, and load only when needed anyway.
 * A dependency added to package.json is external until it is listed here.
 */
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');
const outfile = join(outdir, 'functions', 'index.js');

/** Dependencies compiled into the bundle (with their own dependencies). */
export const BUNDLED = ['@bufbuild/cel', '@bufbuild/protobuf', '@bufbuild/re2', 'cookie', 'ipaddr.js', 'jose', 'lru-cache', 'openid-client', 'yaml', 'zod'];

const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const external = Object.keys(dependencies).filter((name) => !BUNDLED.includes(name));

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [join(root, 'functions', 'index.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});

// Nothing from an external package may end up inside the bundle (a copy of the framework would
// register the function where the framework never looks).
const packageOf = (path) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
const inlined = new Set(Object.keys(result.metafile.inputs).map(packageOf).filter(Boolean));
const misplaced = [...inlined].filter((name) => external.includes(name));
if (misplaced.length) throw new Error(`external packages bundled: ${misplaced.join(', ')}`);

const bytes = result.metafile.outputs[relative(root, outfile)]?.bytes ?? 0;
console.log(`built ${relative(process.cwd(), outfile) || outfile} (${(bytes / 1024).toFixed(0)} KiB, ${inlined.size} packages bundled)`);
